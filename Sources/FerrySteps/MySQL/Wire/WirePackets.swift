import Crypto
import Foundation

/// The MySQL/MariaDB client/server protocol's messages, decoded and encoded: pure functions over
/// bytes, so the parsers can be fuzzed without a server. ``WireConnection`` does the I/O.
enum WirePackets {
    struct Failure: Error, Equatable {
        var message: String
    }

    // Capability flags (the client sends these; see MariaDB's protocol documentation).
    static let longPassword: UInt32 = 0x1
    static let longFlag: UInt32 = 0x4
    static let connectWithDB: UInt32 = 0x8
    static let localFiles: UInt32 = 0x80
    static let protocol41: UInt32 = 0x200
    static let ssl: UInt32 = 0x800
    static let transactions: UInt32 = 0x2000
    static let secureConnection: UInt32 = 0x8000
    static let multiStatements: UInt32 = 0x10000
    static let multiResults: UInt32 = 0x20000
    static let pluginAuth: UInt32 = 0x80000
    /// Status flag: another result follows this one.
    static let moreResultsExist: UInt16 = 0x0008

    /// The server's first message.
    struct Handshake: Equatable {
        var serverVersion: String
        var connectionID: UInt32
        var capabilities: UInt32
        /// The 20 bytes the password is scrambled with.
        var scramble: [UInt8]
        var authPlugin: String
    }

    /// A server error: `ERROR code (state): message`, as the command-line client prints it.
    struct ServerError: Error, Equatable, CustomStringConvertible {
        var code: Int
        var state: String
        var message: String
        var description: String { "ERROR \(code) (\(state)): \(message)" }
    }

    /// A cursor over a payload; every read is bounds-checked (a short payload is a ``Failure``).
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var remaining: Int { bytes.count - at }

        mutating func byte() throws -> UInt8 {
            guard at < bytes.count else { throw Failure(message: "a server message ended early") }
            at += 1
            return bytes[at - 1]
        }

        mutating func int(_ width: Int) throws -> UInt64 {
            guard width <= remaining else { throw Failure(message: "a server message ended early") }
            var v: UInt64 = 0
            for i in 0..<width { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            at += width
            return v
        }

        mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            guard n >= 0, n <= remaining else { throw Failure(message: "a server message ended early") }
            at += n
            return UnsafeRawBufferPointer(rebasing: bytes[(at - n)..<at])
        }

        /// Up to the next NUL (consumed), or to the end when there is none and `toEnd`.
        mutating func nulTerminated(toEnd: Bool = false) throws -> [UInt8] {
            var end = at
            while end < bytes.count && bytes[end] != 0 { end += 1 }
            if end == bytes.count && !toEnd { throw Failure(message: "a server message ended early") }
            let out = Array(bytes[at..<end])
            at = min(bytes.count, end + 1)
            return out
        }

        /// A length-encoded integer; nil for 0xFB (NULL in a row).
        mutating func lengthEncoded() throws -> UInt64? {
            let first = try byte()
            switch first {
            case 0xFB: return nil
            case 0xFC: return try int(2)
            case 0xFD: return try int(3)
            case 0xFE: return try int(8)
            case 0xFF: throw Failure(message: "a server message holds an invalid length")
            default: return UInt64(first)
            }
        }

        mutating func lengthEncodedBytes() throws -> UnsafeRawBufferPointer? {
            guard let n = try lengthEncoded() else { return nil }
            guard n <= UInt64(remaining) else { throw Failure(message: "a server message ended early") }
            return try take(Int(n))
        }

        mutating func rest() -> [UInt8] {
            let out = Array(bytes[at...])
            at = bytes.count
            return out
        }
    }

    static func handshake(_ payload: UnsafeRawBufferPointer) throws -> Handshake {
        var r = Reader(payload)
        let version = try r.byte()
        if version == 0xFF {
            throw try serverError(payload)
        }
        guard version == 10 else { throw Failure(message: "the server speaks protocol version \(version), not 10; is this a MySQL or MariaDB port?") }
        let serverVersion = String(decoding: try r.nulTerminated(), as: UTF8.self)
        let id = UInt32(try r.int(4))
        var scramble = Array(try r.take(8))
        _ = try r.byte()
        var caps = UInt32(try r.int(2))
        var plugin = "mysql_native_password"
        if r.remaining > 0 {
            _ = try r.byte()  // character set
            _ = try r.int(2)  // status
            caps |= UInt32(try r.int(2)) << 16
            let authLength = Int(try r.byte())
            _ = try r.take(10)
            if caps & secureConnection != 0 {
                let n = max(13, authLength - 8)
                var part2 = Array(try r.take(min(n, r.remaining)))
                if part2.last == 0 { part2.removeLast() }
                scramble += part2
            }
            if caps & pluginAuth != 0 && r.remaining > 0 {
                plugin = String(decoding: try r.nulTerminated(toEnd: true), as: UTF8.self)
            }
        }
        return Handshake(serverVersion: serverVersion, connectionID: id, capabilities: caps, scramble: scramble, authPlugin: plugin)
    }

    /// The capabilities Ferry asks for: text protocol, classic EOF packets, several statements
    /// per query, LOCAL INFILE (answered only for a LOAD DATA the caller sent).
    static func clientCapabilities(server: UInt32, database: Bool) -> UInt32 {
        var c = longPassword | longFlag | localFiles | protocol41 | transactions | secureConnection | multiStatements | multiResults | pluginAuth
        if database { c |= connectWithDB }
        return c & server
    }

    static func handshakeResponse(capabilities: UInt32, user: String, auth: [UInt8], database: String?, plugin: String) -> [UInt8] {
        var out: [UInt8] = []
        append(&out, UInt64(capabilities), width: 4)
        append(&out, UInt64(1 << 24), width: 4)
        out.append(45)  // utf8mb4_general_ci; the session sets its own names after
        out += [UInt8](repeating: 0, count: 23)
        out += Array(user.utf8) + [0]
        out.append(UInt8(auth.count))
        out += auth
        if let database, capabilities & connectWithDB != 0 { out += Array(database.utf8) + [0] }
        out += Array(plugin.utf8) + [0]
        return out
    }

    /// The scrambled password for `plugin`; nil for a plugin Ferry does not speak.
    static func authResponse(plugin: String, password: String, scramble: [UInt8]) -> [UInt8]? {
        let pw = Array(password.utf8)
        switch plugin {
        case "mysql_native_password":
            guard !pw.isEmpty else { return [] }
            // SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))
            let s1 = Array(Insecure.SHA1.hash(data: pw))
            let s2 = Array(Insecure.SHA1.hash(data: s1))
            let s3 = Array(Insecure.SHA1.hash(data: Array(scramble.prefix(20)) + s2))
            return zip(s1, s3).map { $0 ^ $1 }
        case "caching_sha2_password":
            guard !pw.isEmpty else { return [] }
            // SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)
            let s1 = Array(SHA256.hash(data: pw))
            let s2 = Array(SHA256.hash(data: s1))
            let s3 = Array(SHA256.hash(data: s2 + Array(scramble.prefix(20))))
            return zip(s1, s3).map { $0 ^ $1 }
        default:
            return nil
        }
    }

    static func serverError(_ payload: UnsafeRawBufferPointer) throws -> ServerError {
        var r = Reader(payload)
        guard try r.byte() == 0xFF else { throw Failure(message: "not an error message") }
        let code = Int(try r.int(2))
        var state = "HY000"
        if r.remaining > 0 && payload[r.at] == UInt8(ascii: "#") && r.remaining >= 6 {
            _ = try r.byte()
            state = String(decoding: try r.take(5), as: UTF8.self)
        }
        return ServerError(code: code, state: state, message: String(decoding: r.rest(), as: UTF8.self))
    }

    struct OK: Equatable {
        var affectedRows: UInt64
        var status: UInt16
        var warnings: UInt16
        var info: String
    }

    static func ok(_ payload: UnsafeRawBufferPointer) throws -> OK {
        var r = Reader(payload)
        _ = try r.byte()
        let affected = try r.lengthEncoded() ?? 0
        _ = try r.lengthEncoded()
        let status = UInt16(try r.int(2))
        let warnings = UInt16(try r.int(2))
        return OK(affectedRows: affected, status: status, warnings: warnings, info: String(decoding: r.rest(), as: UTF8.self))
    }

    /// An EOF packet (0xFE, shorter than 9 bytes): its status flags.
    static func eofStatus(_ payload: UnsafeRawBufferPointer) -> UInt16? {
        guard payload.count >= 1, payload.count < 9, payload[0] == 0xFE else { return nil }
        return payload.count >= 5 ? UInt16(payload[3]) | UInt16(payload[4]) << 8 : 0
    }

    /// A column definition's name.
    static func columnName(_ payload: UnsafeRawBufferPointer) throws -> String {
        var r = Reader(payload)
        for _ in 0..<4 { _ = try r.lengthEncodedBytes() }  // catalog, schema, table, original table
        return String(decoding: try r.lengthEncodedBytes() ?? UnsafeRawBufferPointer(start: nil, count: 0), as: UTF8.self)
    }

    /// A text-protocol row's values, nil for NULL.
    static func row(_ payload: UnsafeRawBufferPointer, columns: Int) throws -> [String?] {
        var r = Reader(payload)
        var out: [String?] = []
        out.reserveCapacity(columns)
        for _ in 0..<columns { out.append(try r.lengthEncodedBytes().map { String(decoding: $0, as: UTF8.self) }) }
        guard r.remaining == 0 else { throw Failure(message: "a row holds more values than its columns") }
        return out
    }

    static func append(_ out: inout [UInt8], _ value: UInt64, width: Int) {
        for i in 0..<width { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }
}
