import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The mover's control endpoint, one small blocking HTTP/1.1 server on its
/// own thread (one request per connection):
///
/// - `GET /progress` → ``MoverControl/Progress`` as JSON
/// - `POST /pause`, `POST /resume`
/// - `POST /bandwidth` with the bytes per second as the body (0 = unlimited)
///
/// With a token every request but `GET /healthz` must carry `Authorization:
/// Bearer <token>`; others get 401. SIGUSR2 pauses and SIGUSR1 resumes, as
/// operators of the old transfer pod are used to.
public final class MoverControlServer: @unchecked Sendable {
    public let port: Int
    private let fd: Int32
    private let control: MoverControl
    private let token: [UInt8]?
    private var signalSources: [DispatchSourceSignal] = []

    public init(control: MoverControl, host: String = "0.0.0.0", port: Int, token: String? = nil) throws {
        self.control = control
        self.token = token.map { Array($0.utf8) }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw StepError.io("control endpoint: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(s)
            throw StepError.configuration("--control-host \(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(s, 16) == 0 else {
            let e = String(cString: strerror(errno))
            close(s)
            throw StepError.io("control endpoint: cannot listen on \(host):\(port): \(e)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.fd = s
    }

    /// Serves until the process ends; installs the signal handlers.
    public func start() {
        let control = self.control
        let actions: [(Int32, @Sendable () -> Void)] = [(SIGUSR2, { control.pause() }), (SIGUSR1, { control.resume() })]
        for (sig, action) in actions {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: DispatchQueue(label: "ferry.mover.signals"))
            source.setEventHandler(handler: action)
            source.resume()
            signalSources.append(source)
        }
        let thread = Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                handle(client)
                close(client)
            }
        }
        thread.stackSize = 256 << 10
        thread.start()
    }

    private func handle(_ client: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var headerEnd: Int?
        var contentLength = 0
        // One request per connection, read within 5 s in all: a slow client cannot hold the endpoint.
        let deadline = Date().addingTimeInterval(5)
        while request.count < 65536 && Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += buffer[0..<n]
            if headerEnd == nil, let r = Self.find([13, 10, 13, 10], in: request) {
                headerEnd = r + 4
                let head = String(decoding: request[0..<r], as: UTF8.self).lowercased()
                if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }) {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let h = headerEnd, request.count >= h + contentLength { break }
        }
        let head = String(decoding: request.prefix(headerEnd ?? request.count), as: UTF8.self)
        let parts = head.split(separator: " ", maxSplits: 2)
        let method = parts.first.map(String.init) ?? ""
        let path = parts.count > 1 ? String(parts[1]) : ""
        let body = headerEnd.map { String(decoding: request[min($0, request.count)...], as: UTF8.self) } ?? ""
        let (status, reply) = authorized(head) || (method, path) == ("GET", MoverAPI.health)
            ? route(method, path, body) : ("401 Unauthorized", "{\"error\":\"a bearer token is required (Authorization: Bearer …, from the Migration's <name>-mover Secret)\"}")
        let data = Array(reply.utf8)
        let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n"
        let out = Array(response.utf8) + data
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(client, $0.baseAddress! + sent, out.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// No token configured, or the request's bearer token equals it (compared in constant time).
    func authorized(_ head: String) -> Bool {
        guard let token else { return true }
        guard let line = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("authorization:") }) else { return false }
        let value = line.dropFirst("authorization:".count).trimmingCharacters(in: .whitespaces)
        guard value.lowercased().hasPrefix("bearer ") else { return false }
        let given = Array(value.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        guard given.count == token.count else { return false }
        return zip(given, token).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    func route(_ method: String, _ path: String, _ body: String) -> (String, String) {
        switch (method, path) {
        case ("GET", MoverAPI.progress), ("GET", "/"):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(control.progress())).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return ("200 OK", json)
        case ("GET", MoverAPI.health):
            return ("200 OK", "{\"ok\":true}")
        case ("POST", MoverAPI.pause):
            control.pause()
            return ("200 OK", "{\"paused\":true}")
        case ("POST", MoverAPI.resume):
            control.resume()
            return ("200 OK", "{\"paused\":false}")
        case ("POST", MoverAPI.final):
            control.requestFinal()
            return ("200 OK", "{\"final\":true}")
        case ("POST", MoverAPI.bandwidth):
            let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let value = Int64(text), value >= 0 else {
                return ("400 Bad Request", "{\"error\":\"the body must be the bandwidth in bytes per second (0 = unlimited)\"}")
            }
            control.setBandwidth(value)
            return ("200 OK", "{\"bandwidth\":\(value)}")
        default:
            return ("404 Not Found", "{\"error\":\"GET \(MoverAPI.progress), POST \(MoverAPI.pause), POST \(MoverAPI.resume), POST \(MoverAPI.bandwidth), POST \(MoverAPI.final)\"}")
        }
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
        return nil
    }
}
