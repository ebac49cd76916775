import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One connection to MySQL/MariaDB over its own protocol (text queries, LOAD DATA LOCAL), for the
/// paths where spawning the command-line client per statement, or reading its escaped output,
/// costs more than the work: the parallel export reads rows straight off the socket into
/// LOAD DATA text, and the restore streams parts into LOAD DATA LOCAL on long-lived
/// connections. The password stays in this process's memory. Blocking; one thread at a time.
///
/// Authenticates with `mysql_native_password` or `caching_sha2_password`'s fast path; TLS is not
/// spoken (a server that insists gets a message saying so).
final class WireConnection: @unchecked Sendable {
    let endpoint: MySQLEndpoint
    private(set) var serverVersion = ""
    private(set) var connectionID: UInt32 = 0
    private let fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0
    private var end = 0
    private var sequence: UInt8 = 0
    private var closed = false
    /// A large (≥ 16 MiB) packet glued from its pieces.
    private var joined: [UInt8] = []

    /// Connects and logs in; `database` becomes the default one.
    init(_ endpoint: MySQLEndpoint, database: String? = nil, connectTimeout: Int = 10) throws {
        self.endpoint = endpoint
        capacity = 1 << 20
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        do {
            fd = try Self.connect(host: endpoint.host, port: endpoint.port, timeout: connectTimeout)
        } catch {
            buffer.deallocate()
            throw error
        }
        do {
            let greeting = try readPacket()
            let hello = try greeting.withUnsafeBytes { try WirePackets.handshake($0) }
            serverVersion = hello.serverVersion
            connectionID = hello.connectionID
            guard hello.capabilities & WirePackets.protocol41 != 0, hello.capabilities & WirePackets.secureConnection != 0 else {
                throw StepError.target("\(Self.where(endpoint)) speaks a protocol older than 4.1, which Ferry does not support")
            }
            let caps = WirePackets.clientCapabilities(server: hello.capabilities, database: database != nil)
            guard let auth = WirePackets.authResponse(plugin: hello.authPlugin, password: endpoint.password, scramble: hello.scramble) else {
                throw StepError.target("\(Self.where(endpoint)) asks for the authentication plugin \(hello.authPlugin), which Ferry's own connection does not speak; give the user mysql_native_password, or export with mysql.format: sql")
            }
            try send(WirePackets.handshakeResponse(capabilities: caps, user: endpoint.user, auth: auth, database: database, plugin: hello.authPlugin))
            try finishAuthentication(scramble: hello.scramble)
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &zero, socklen_t(MemoryLayout<timeval>.size))
        } catch {
            Glibc.close(fd)
            buffer.deallocate()
            throw Self.described(error, endpoint)
        }
    }

    deinit {
        if !closed { Glibc.close(fd) }
        buffer.deallocate()
    }

    /// Says goodbye (COM_QUIT) and closes.
    func close() {
        guard !closed else { return }
        sequence = 0
        try? send([0x01])
        Glibc.close(fd)
        closed = true
    }

    /// Breaks off whatever the connection is doing (from another thread): the blocked read fails.
    func abort() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    static func `where`(_ e: MySQLEndpoint) -> String { "MySQL at \(e.host):\(e.port)" }

    static func described(_ error: Error, _ e: MySQLEndpoint) -> Error {
        switch error {
        case let s as WirePackets.ServerError: return StepError.target("\(Self.where(e)): \(s)")
        case let f as WirePackets.Failure: return StepError.target("\(Self.where(e)): \(f.message)")
        default: return error
        }
    }

    // MARK: - commands

    /// Runs `sql` (one or more statements), discarding any rows; returns the last OK.
    @discardableResult
    func execute(_ sql: String) throws -> WirePackets.OK {
        var last = WirePackets.OK(affectedRows: 0, status: 0, warnings: 0, info: "")
        try command(sql) { result in
            switch result {
            case .ok(let ok): last = ok
            case .rows: break
            }
        } row: { _ in }
        return last
    }

    /// The rows of `sql` (a small result), NULL as nil.
    func query(_ sql: String) throws -> [[String?]] {
        var rows: [[String?]] = []
        var columns = 0
        try command(sql) { result in
            if case .rows(let names) = result { columns = names.count }
        } row: { payload in
            // For small results only (lists of tables, columns, settings).
            guard rows.count < 10_000_000 else { throw WirePackets.Failure(message: "a query for a small result returned over 10 million rows") }
            rows.append(try WirePackets.row(payload, columns: columns))
        }
        return rows
    }

    enum Result {
        case ok(WirePackets.OK)
        case rows([String])
    }

    /// Sends `sql` and reads every result: `result` hears of each (its column names for rows),
    /// `row` gets each row's raw payload, valid only during the call.
    func command(_ sql: String, result: (Result) throws -> Void, row: (UnsafeRawBufferPointer) throws -> Void) throws {
        do {
            sequence = 0
            try send([0x03] + Array(sql.utf8))
            var more = true
            while more {
                more = try readResult(result: result, row: row, local: nil)
            }
        } catch {
            throw Self.described(error, endpoint)
        }
    }

    /// Runs a `LOAD DATA LOCAL INFILE` statement, answering the server's request for the file
    /// with what `fill` writes into the buffer it is given (0 at the end). Returns the OK (rows
    /// in `affectedRows`, and the server's warnings count).
    func loadLocal(_ sql: String, fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> WirePackets.OK {
        var last: WirePackets.OK?
        do {
            sequence = 0
            try send([0x03] + Array(sql.utf8))
            var more = true
            try withoutActuallyEscaping(fill) { fill in
                while more {
                    more = try readResult(result: { if case .ok(let ok) = $0 { last = ok } }, row: { _ in }, local: fill)
                }
            }
        } catch {
            throw Self.described(error, endpoint)
        }
        guard let last else { throw StepError.target("\(Self.where(endpoint)) did not answer the LOAD DATA with a count") }
        return last
    }

    /// Reads one result; true when another follows.
    private func readResult(result: (Result) throws -> Void, row: (UnsafeRawBufferPointer) throws -> Void,
                            local: ((UnsafeMutableRawBufferPointer) throws -> Int)?) throws -> Bool {
        let first = try readPacket()
        /// An OK (handed to `result`; true when another result follows) or an error (thrown).
        func okOrError(_ packet: [UInt8]) throws -> Bool? {
            switch packet.first {
            case 0x00:
                let ok = try packet.withUnsafeBytes { try WirePackets.ok($0) }
                try result(.ok(ok))
                return ok.status & WirePackets.moreResultsExist != 0
            case 0xFF: throw try packet.withUnsafeBytes { try WirePackets.serverError($0) }
            default: return nil
            }
        }
        if let more = try okOrError(first) { return more }
        switch first.first {
        case 0xFB:
            // The server asks for a local file: only a LOAD DATA the caller sent gets data, and
            // never the file the server names; a second request for the same command is refused.
            if let local {
                try sendLocal(local)
            } else {
                try send([])
            }
            guard let more = try okOrError(try readPacket()) else {
                throw WirePackets.Failure(message: "the server did not answer the LOAD DATA LOCAL with OK or an error")
            }
            return more
        default:
            let count = try first.withUnsafeBytes { p -> Int in
                var r = WirePackets.Reader(p)
                guard let n = try r.lengthEncoded(), n > 0, n < 65536 else { throw WirePackets.Failure(message: "a result announced an invalid column count") }
                return Int(n)
            }
            var names: [String] = []
            for _ in 0..<count {
                names.append(try withPacket { try WirePackets.columnName($0) })
            }
            _ = try withPacket { p in
                guard WirePackets.eofStatus(p) != nil else { throw WirePackets.Failure(message: "the column definitions did not end with an EOF packet") }
            }
            try result(.rows(names))
            while true {
                let status: UInt16? = try withPacket { p in
                    if let s = WirePackets.eofStatus(p) { return s }
                    if p.first == 0xFF { throw try WirePackets.serverError(p) }
                    try row(p)
                    return nil
                }
                if let status { return status & WirePackets.moreResultsExist != 0 }
            }
        }
    }

    private func sendLocal(_ fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        let chunk = 1 << 20
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk + 4, alignment: 16)
        defer { out.deallocate() }
        var failure: Error?
        while true {
            let n: Int
            do {
                n = try fill(UnsafeMutableRawBufferPointer(rebasing: out[4..<(chunk + 4)]))
            } catch {
                failure = error
                break
            }
            if n == 0 { break }
            header(out.baseAddress!, length: n)
            try sendAll(UnsafeRawBufferPointer(rebasing: out[0..<(n + 4)]))
        }
        // An empty packet ends the file; after a failed read the server then sees fewer rows,
        // and the caller's error is what is thrown (the server's answer is read first).
        try send([])
        if let failure {
            _ = try? readPacket()
            throw failure
        }
    }

    // MARK: - packets

    private func header(_ p: UnsafeMutableRawPointer, length: Int) {
        p.storeBytes(of: UInt8(length & 0xFF), toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: UInt8((length >> 8) & 0xFF), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: UInt8((length >> 16) & 0xFF), toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: sequence, toByteOffset: 3, as: UInt8.self)
        sequence &+= 1
    }

    private func send(_ payload: [UInt8]) throws {
        var offset = 0
        repeat {
            let n = min(0xFFFFFF, payload.count - offset)
            var packet = [UInt8](repeating: 0, count: 4)
            packet.withUnsafeMutableBytes { header($0.baseAddress!, length: n) }
            packet += payload[offset..<(offset + n)]
            try packet.withUnsafeBytes { try sendAll($0) }
            offset += n
            // A payload of exactly n·16 MiB ends with an empty packet.
            if n < 0xFFFFFF { break }
        } while true
    }

    /// Writes all of `bytes` to the socket; a closed peer is an error, never SIGPIPE.
    private func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = Glibc.send(fd, base + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StepError.target("\(Self.where(endpoint)) stopped taking data: \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    /// Makes `n` bytes available at `start`, reading more as needed.
    private func fill(_ n: Int) throws {
        if end - start >= n { return }
        if start + n > capacity {
            if n > capacity {
                let bigger = max(n, capacity * 2)
                let b = UnsafeMutableRawPointer.allocate(byteCount: bigger, alignment: 16)
                b.copyMemory(from: buffer + start, byteCount: end - start)
                buffer.deallocate()
                buffer = b
                capacity = bigger
            } else {
                memmove(buffer, buffer + start, end - start)
            }
            end -= start
            start = 0
        }
        while end - start < n {
            let got = recv(fd, buffer + end, capacity - end, 0)
            if got > 0 { end += got; continue }
            if got < 0 && errno == EINTR { continue }
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw StepError.target("\(Self.where(endpoint)) did not answer within the connect timeout") }
            throw StepError.target("\(Self.where(endpoint)) closed the connection" + (got < 0 ? ": \(String(cString: strerror(errno)))" : ""))
        }
    }

    /// The next packet's payload, handed to `body` in place (no copy for packets under 16 MiB).
    private func withPacket<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        try fill(4)
        let length = Int(buffer.load(fromByteOffset: start, as: UInt8.self)) | Int(buffer.load(fromByteOffset: start + 1, as: UInt8.self)) << 8
            | Int(buffer.load(fromByteOffset: start + 2, as: UInt8.self)) << 16
        sequence = buffer.load(fromByteOffset: start + 3, as: UInt8.self) &+ 1
        if length == 0xFFFFFF {
            joined.removeAll(keepingCapacity: true)
            var piece = length
            while true {
                // MySQL's largest packet is 1 GiB (max_allowed_packet): a server sending more is refused.
                guard joined.count + piece <= 1 << 30 else { throw WirePackets.Failure(message: "the server sent a message over 1 GiB") }
                try fill(4 + piece)
                joined.append(contentsOf: UnsafeRawBufferPointer(start: buffer + start + 4, count: piece))
                start += 4 + piece
                guard piece == 0xFFFFFF else { break }
                try fill(4)
                piece = Int(buffer.load(fromByteOffset: start, as: UInt8.self)) | Int(buffer.load(fromByteOffset: start + 1, as: UInt8.self)) << 8
                    | Int(buffer.load(fromByteOffset: start + 2, as: UInt8.self)) << 16
                sequence = buffer.load(fromByteOffset: start + 3, as: UInt8.self) &+ 1
            }
            return try joined.withUnsafeBytes { try body($0) }
        }
        try fill(4 + length)
        let payload = UnsafeRawBufferPointer(start: buffer + start + 4, count: length)
        start += 4 + length
        return try body(payload)
    }

    private func readPacket() throws -> [UInt8] {
        try withPacket { Array($0) }
    }

    private func finishAuthentication(scramble: [UInt8]) throws {
        var scramble = scramble
        for _ in 0..<4 {
            let reply = try readPacket()
            switch reply.first {
            case 0x00: return
            case 0xFF: throw try reply.withUnsafeBytes { try WirePackets.serverError($0) }
            case 0xFE:
                // Switch to another plugin, with a new scramble.
                let (plugin, data) = try reply.withUnsafeBytes { p -> (String, [UInt8]) in
                    var r = WirePackets.Reader(p)
                    _ = try r.byte()
                    let name = String(decoding: try r.nulTerminated(toEnd: true), as: UTF8.self)
                    var rest = r.rest()
                    if rest.last == 0 { rest.removeLast() }
                    return (name, rest)
                }
                scramble = data
                guard let auth = WirePackets.authResponse(plugin: plugin, password: endpoint.password, scramble: scramble) else {
                    throw StepError.target("\(Self.where(endpoint)) asks for the authentication plugin \(plugin), which Ferry's own connection does not speak; give the user mysql_native_password")
                }
                try send(auth)
            case 0x01:
                // caching_sha2_password: 3 = fast path done (an OK follows); 4 = full authentication.
                if reply.count >= 2 && reply[1] == 3 { continue }
                throw StepError.target("\(Self.where(endpoint)) wants caching_sha2_password's full authentication, which needs TLS; log in once with the mysql client to fill the server's cache, or give the user mysql_native_password")
            default:
                throw WirePackets.Failure(message: "unexpected reply while logging in")
            }
        }
        throw WirePackets.Failure(message: "logging in did not finish")
    }

    // MARK: - socket

    static func connect(host: String, port: Int, timeout: Int) throws -> Int32 {
        let fd = try TCPConnect.open(host: host, port: port, timeoutSeconds: Int32(timeout), what: "the MySQL server")
        // The greeting and login must come within the timeout (cleared once logged in).
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // A server that vanishes (a partition, a frozen host) ends the connection instead of
        // leaving a read blocked forever; a busy one, silent through a long statement, does not.
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        var idle: Int32 = 60, interval: Int32 = 15, count: Int32 = 8, unacked: UInt32 = 180_000
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_TCP), 18 /* TCP_USER_TIMEOUT */, &unacked, socklen_t(MemoryLayout<UInt32>.size))
        return fd
    }
}
