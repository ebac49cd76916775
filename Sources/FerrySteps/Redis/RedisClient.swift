import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a Redis server is and how to log in (`AUTH [username] password`).
public struct RedisEndpoint: Sendable {
    public var host: String
    public var port: Int
    /// Redis 6 ACL user; nil → `AUTH password` (the `default` user).
    public var username: String?
    public var password: String?

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }
}

/// One RESP reply.
public enum RESPValue: Equatable, Sendable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    var text: String? {
        switch self {
        case .simple(let s): return s
        case .bulk(let b?): return String(decoding: b, as: UTF8.self)
        case .integer(let i): return String(i)
        default: return nil
        }
    }
}

/// A small blocking Redis client speaking RESP over one TCP connection
/// (commands sent as arrays of bulk strings, so values are never parsed as
/// inline commands). Timeouts on connect, send and receive. Run it off the
/// async pool (``ProcessSpawn/onThread``).
public final class RedisClient {
    public let endpoint: RedisEndpoint
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var position = 0

    /// Connects and authenticates.
    public init(_ endpoint: RedisEndpoint, timeoutSeconds: Int = 10) throws {
        self.endpoint = endpoint
        fd = try Self.connect(host: endpoint.host, port: endpoint.port, timeoutSeconds: timeoutSeconds)
        if let password = endpoint.password, !password.isEmpty {
            let reply = try command((endpoint.username.map { [$0] } ?? []) + [password], name: "AUTH")
            if case .error(let e) = reply {
                throw StepError.target("Redis at \(endpoint.host):\(endpoint.port) refused the password from the credentials Secret: \(e)")
            }
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Sends one command and reads its reply. `name` is sent first; `args` after it.
    @discardableResult
    public func command(_ args: [String], name: String) throws -> RESPValue {
        var out = Array("*\(args.count + 1)\r\n".utf8)
        for part in [name] + args {
            let bytes = Array(part.utf8)
            out += Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
        }
        try send(out)
        let reply = try readValue()
        if case .error(let e) = reply, e.hasPrefix("NOAUTH") {
            throw StepError.target("Redis at \(endpoint.host):\(endpoint.port) needs a password: \(e) — set spec.redis.credentialsSecret")
        }
        return reply
    }

    // MARK: - wire

    private static func connect(host: String, port: Int, timeoutSeconds: Int) throws -> Int32 {
        let s = try TCPConnect.open(host: host, port: port, timeoutSeconds: Int32(timeoutSeconds), what: "Redis (spec.redis)")
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return s
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StepError.target("Redis at \(endpoint.host):\(endpoint.port): send failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    private func fill() throws {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let why = n == 0 ? "connection closed" : (errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time" : String(cString: strerror(errno)))
                throw StepError.target("Redis at \(endpoint.host):\(endpoint.port): \(why)")
            }
            buffer += chunk[0..<n]
            return
        }
    }

    private func readLine() throws -> String {
        while true {
            if let cr = buffer[position...].firstIndex(of: 13), cr + 1 < buffer.count, buffer[cr + 1] == 10 {
                let line = String(decoding: buffer[position..<cr], as: UTF8.self)
                position = cr + 2
                return line
            }
            try fill()
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count - position < count + 2 { try fill() }
        let bytes = Array(buffer[position..<position + count])
        position += count + 2
        return bytes
    }

    private func readValue() throws -> RESPValue {
        let line = try readLine()
        guard let kind = line.first else { throw StepError.target("Redis sent an empty reply line") }
        let rest = String(line.dropFirst())
        switch kind {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":": return .integer(Int(rest) ?? 0)
        case "$":
            let n = Int(rest) ?? -1
            return n < 0 ? .bulk(nil) : .bulk(try readBytes(n))
        case "*":
            let n = Int(rest) ?? -1
            if n < 0 { return .array(nil) }
            return .array(try (0..<n).map { _ in try readValue() })
        default:
            throw StepError.target("Redis sent an unexpected reply: \(line.prefix(80))")
        }
    }
}
