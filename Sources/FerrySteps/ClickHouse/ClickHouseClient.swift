import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where a ClickHouse server's HTTP interface is and who to log in as.
public struct ClickHouseEndpoint: Sendable {
    /// e.g. `http://clickhouse:8123` (no trailing path).
    public var url: String
    public var user: String
    public var password: String

    public init(url: String, user: String = "default", password: String = "") {
        self.url = url
        self.user = user
        self.password = password
    }
}

/// An error ClickHouse returned: its numeric code (241 = memory limit
/// exceeded) and text.
public struct ClickHouseServerError: Error, CustomStringConvertible, Sendable {
    public var code: Int?
    public var message: String
    public var description: String { message }

    /// ClickHouse's "memory limit exceeded" code.
    public static let memoryLimitExceeded = 241

    /// Reads `Code: 241, e.displayText() = …` (18.x) or `Code: 241. DB::Exception: …` (newer);
    /// `secrets` masked before the text is cut, so no part of one survives the cut.
    public static func parse(_ body: String, masking secrets: [String] = []) -> ClickHouseServerError {
        var text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        for s in secrets where !s.isEmpty {
            text = text.replacingOccurrences(of: s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'"), with: "***").replacingOccurrences(of: s, with: "***")
        }
        var code: Int?
        if let r = text.range(of: "Code: ") {
            code = Int(text[r.upperBound...].prefix { $0.isNumber })
        }
        return ClickHouseServerError(code: code, message: String(text.prefix(600)))
    }
}

/// The ClickHouse HTTP interface over the process's shared HTTP client:
/// queries in the body, settings in the URL, HTTP basic authentication
/// (the password never appears in a URL or a log line).
public struct ClickHouseClient: Sendable {
    public let endpoint: ClickHouseEndpoint
    let http: HTTPClient
    let timeout: TimeAmount
    /// Secrets a statement may carry (another server's password in `remote()`), masked in errors.
    var masking: [String] = []

    public init(_ endpoint: ClickHouseEndpoint, http: HTTPClient = .shared, timeout: TimeAmount = .hours(2)) throws {
        var url = endpoint.url
        while url.hasSuffix("/") { url.removeLast() }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil else {
            throw StepError.configuration("ClickHouse url \"\(endpoint.url)\" is not an http(s) URL; set spec.clickhouse.url like http://clickhouse:8123")
        }
        self.endpoint = ClickHouseEndpoint(url: url, user: endpoint.user, password: endpoint.password)
        self.http = http
        self.timeout = timeout
    }

    /// Runs one statement and returns the response body (TabSeparated for SELECTs).
    @discardableResult
    public func query(_ sql: String, settings: [String: String] = [:]) async throws -> String {
        var attempt = 1
        while true {
            do {
                return try await post(settings: settings, body: ByteBuffer(string: sql))
            } catch let e as HTTPClientError where e == .remoteConnectionClosed && attempt < 3 && Self.isRead(sql) {
                // The server closed a kept-alive connection as the request went out: a read is safe to send again.
                attempt += 1
            }
        }
    }

    /// A statement that changes nothing (sent again after a dropped connection).
    static func isRead(_ sql: String) -> Bool {
        let word = sql.drop { $0.isWhitespace }.prefix { $0.isLetter }.uppercased()
        return ["SELECT", "SHOW", "EXISTS", "DESCRIBE", "DESC", "WITH"].contains(word)
    }

    /// Inserts TabSeparated rows into `table` (`db.table`), one request.
    public func insertTabSeparated(into table: String, rows: ByteBuffer, settings: [String: String] = [:]) async throws {
        var all = settings
        all["query"] = "INSERT INTO \(table) FORMAT TabSeparated"
        _ = try await post(settings: all, body: rows)
    }

    /// Inserts a stream of rows in `format` into `table`, one request with a chunked body (the
    /// server inserts blocks as they arrive; nothing is held whole in memory).
    public func insert<Body: AsyncSequence & Sendable>(into table: String, format: String, stream: Body, settings: [String: String] = [:]) async throws where Body.Element == ByteBuffer {
        var all = settings
        all["query"] = "INSERT INTO \(table) FORMAT \(format)"
        var request = request(settings: all, body: ByteBuffer())
        request.headers.remove(name: "Content-Length")
        request.body = .stream(stream, length: .unknown)
        let response = try await http.execute(request, timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        guard response.status == .ok else { throw ClickHouseServerError.parse(text, masking: masking) }
    }

    /// Whether the server answers `SELECT 1` with these credentials.
    public func ping() async throws {
        do {
            let answer = try await query("SELECT 1")
            guard answer.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else {
                throw StepError.target("ClickHouse at \(endpoint.url) answered \"\(answer.prefix(80))\" to SELECT 1")
            }
        } catch let e as ClickHouseServerError {
            throw StepError.target("ClickHouse at \(endpoint.url) refused user \(endpoint.user): \(e.message) — check the credentials Secret")
        } catch let e as StepError {
            throw e
        } catch {
            throw StepError.target("ClickHouse at \(endpoint.url) is not reachable: \(error) — check spec.clickhouse.url and that the server runs")
        }
    }

    /// What ``download(_:to:)`` wrote: bytes, lines (a last line without its newline counted),
    /// and the sha256, all taken as the bytes went by.
    public struct Downloaded: Sendable {
        public var bytes: Int64
        public var lines: Int
        public var sha256: String
    }

    /// Line ends in `bytes`.
    static func newlines(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var count = 0, offset = 0
        while offset < bytes.count, let hit = memchr(base + offset, 0x0A, bytes.count - offset) {
            count += 1
            offset = base.distance(to: UnsafeRawPointer(hit)) + 1
        }
        return count
    }

    /// Streams the answer to `sql` into a new file at `path` (mode 0644: a package file must be
    /// readable by the step image's user, uid 65532), counting its lines and hashing it as it goes.
    @discardableResult
    public func download(_ sql: String, to path: String) async throws -> Downloaded {
        let response = try await http.execute(request(settings: [:], body: ByteBuffer(string: sql)), timeout: timeout)
        guard response.status == .ok else {
            throw ClickHouseServerError.parse(String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        let writer = try HashingWriter(path)
        var lines = 0, last: UInt8 = 0x0A
        for try await chunk in response.body {
            try chunk.withUnsafeReadableBytes { bytes in
                try writer.write(bytes)
                lines += Self.newlines(bytes)
                if let end = bytes.last { last = end }
            }
        }
        if writer.count > 0 && last != 0x0A { lines += 1 }
        return Downloaded(bytes: writer.count, lines: lines, sha256: writer.finish())
    }

    private func post(settings: [String: String], body: ByteBuffer) async throws -> String {
        let response = try await http.execute(request(settings: settings, body: body), timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        guard response.status == .ok else { throw ClickHouseServerError.parse(text, masking: masking) }
        return text
    }

    private func request(settings: [String: String], body: ByteBuffer) -> HTTPClientRequest {
        var components = URLComponents()
        components.queryItems = settings.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        var request = HTTPClientRequest(url: endpoint.url + "/" + (components.percentEncodedQuery.map { "?" + $0.replacingOccurrences(of: "+", with: "%2B") } ?? ""))
        request.method = .POST
        let token = Data("\(endpoint.user):\(endpoint.password)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(token)")
        request.headers.add(name: "Content-Length", value: String(body.readableBytes))
        request.body = .bytes(body)
        return request
    }
}
