import Foundation
import NIOCore

/// An HTTP request as the gateway's server hands it over.
struct GatewayRequest: Sendable {
    var method: String
    /// As sent, still percent-encoded, without the query.
    var path: String
    var query: String
    /// Names lowercased.
    var headers: [(String, String)]
    var body: ByteBuffer

    func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
}

struct GatewayResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: ByteBuffer = ByteBuffer()
    /// A body too large to hold, written as it is read (its Content-Length is in `headers`).
    var stream: BodyStream?
}

/// `ferry gateway`: an S3 endpoint the application uses while its files move. Reads come from
/// the target, else from the source (and the object is then copied to the target in the
/// background); writes and deletes go to the target only, a delete leaving a tombstone so the
/// source's copy stays hidden; listings merge both sides in key order. The application signs with
/// keys of its own (``SigV4Check``); the mover has keys of its own too, and its writes land only
/// where the key is free (never over the application's newer write, never over a delete).
final class GatewayService: Sendable {
    /// The bucket name the application uses (the target's).
    let bucket: String
    let target: BucketSide
    let source: any ObjectSide
    /// Access key → secret, for the application.
    let appKeys: [String: String]
    /// Access key → secret, for the mover's bulk copy.
    let moverKeys: [String: String]
    let metrics = GatewayMetrics()
    let locks = KeyLocks()
    let backfills = Locked<Set<String>>([])
    let clock: @Sendable () -> Date

    /// Where tombstones live, under the target's prefix; a key there is not the application's to use.
    static let tombstones = ".ferry-tombstones/"

    init(bucket: String, target: BucketSide, source: any ObjectSide, appKeys: [String: String], moverKeys: [String: String], clock: @escaping @Sendable () -> Date = { Date() }) {
        self.bucket = bucket
        self.target = target
        self.source = source
        self.appKeys = appKeys
        self.moverKeys = moverKeys
        self.clock = clock
    }

    enum Role { case app, mover }

    /// Who signed the request (its head is enough): the server asks before it reads a body.
    func authorize(_ r: GatewayRequest) -> Result<Role, SigV4Check.Refusal> {
        let check = SigV4Check.Request(method: r.method, path: r.path, query: r.query, headers: r.headers)
        return SigV4Check.verify(check, keys: appKeys.merging(moverKeys) { a, _ in a }, now: clock()).map { key in
            moverKeys[key] != nil && appKeys[key] == nil ? .mover : .app
        }
    }

    func handle(_ r: GatewayRequest) async -> GatewayResponse {
        let role: Role
        switch authorize(r) {
        case .failure(let refusal): return refuse(refusal.status, refusal.code, refusal.message, kind: "auth")
        case .success(let who): role = who
        }
        // The body is the one signed (an empty one too: a body cut to nothing is not a valid empty PUT).
        if let payload = r.header("x-amz-content-sha256"), !payload.hasPrefix("STREAMING-"),
           !SigV4Check.bodyMatches(payload, r.body.withUnsafeReadableBytes { Array($0) }) {
            return refuse(400, "XAmzContentSHA256Mismatch", "the body is not the one signed", kind: "auth")
        }
        let (name, key) = Self.split(r.path)
        guard name == bucket else { return refuse(404, "NoSuchBucket", "this gateway serves the bucket \(bucket)", kind: "request") }
        let query = Dictionary(SigV4Check.decodeQuery(r.query), uniquingKeysWith: { a, _ in a })
        do {
            guard let key, !key.isEmpty else { return try await bucketRequest(r, query, role: role) }
            if key.utf8.starts(with: Self.tombstones.utf8) { return refuse(403, "AccessDenied", "keys under \(Self.tombstones) are the gateway's", kind: "request") }
            if r.header("x-amz-copy-source") != nil { return refuse(501, "NotImplemented", "server-side copies are not served by the gateway; GET then PUT", kind: "request") }
            if let unknown = Self.unservedParameter(r.method, query) {
                return refuse(501, "NotImplemented", "\(r.method) with ?\(unknown) is not served by the gateway", kind: "request")
            }
            return try await objectRequest(r, key, query, role: role)
        } catch let e as S3Error {
            return refuse(e.status == 0 ? 502 : e.status, e.code, "\(e)", kind: "upstream")
        } catch {
            return refuse(502, "InternalError", "\(error)", kind: "upstream")
        }
    }

    /// The query parameters each object request may carry; anything else (tagging, acl, versionId,
    /// …) would be taken as a plain object request and change the wrong thing, so it is refused. Pure.
    static func unservedParameter(_ method: String, _ query: [String: String]) -> String? {
        let allowed: Set<String>
        switch method {
        case "GET", "HEAD": allowed = ["partNumber", "response-content-type", "response-content-disposition", "response-cache-control", "response-content-encoding"]
        case "PUT": allowed = ["partNumber", "uploadId"]
        case "POST": allowed = ["uploads", "uploadId"]
        case "DELETE": allowed = ["uploadId"]
        default: return method
        }
        return query.keys.sorted().first { !allowed.contains($0) && !$0.hasPrefix("X-Amz-") && $0 != "x-id" }
    }

    /// `/bucket/a%20b/c` → ("bucket", "a b/c"); the key percent-decoded, as S3 takes it.
    static func split(_ path: String) -> (String, String?) {
        let trimmed = path.drop { $0 == "/" }
        guard let slash = trimmed.firstIndex(of: "/") else { return (String(trimmed), nil) }
        let raw = String(trimmed[trimmed.index(after: slash)...])
        return (String(trimmed[..<slash]), raw.removingPercentEncoding ?? raw)
    }

    // MARK: objects

    func objectRequest(_ r: GatewayRequest, _ key: String, _ query: [String: String], role: Role) async throws -> GatewayResponse {
        switch (r.method, query["uploadId"], query["uploads"]) {
        case ("GET", nil, nil), ("HEAD", nil, nil):
            if query["partNumber"] != nil { return refuse(501, "NotImplemented", "reading one part is not served by the gateway; ask for a range", kind: "request") }
            return try await read(r, key, role: role)
        case ("PUT", nil, nil):
            return try await write(r, key, role: role) {
                let etag = try await self.target.client.put(self.target.prefix + key, r.body, metadata: Self.metadata(r, role: role), headers: Self.contentHeaders(r))
                return GatewayResponse(status: 200, headers: [("ETag", "\"\(etag)\"")])
            }
        case ("DELETE", nil, nil):
            return try await locks.with(key) {
                if role == .mover {
                    // The mover takes back only a copy of its own (one it found torn), never the application's.
                    guard let have = try await self.target.head(key), Self.copied(have) else {
                        // As for its writes: a precondition (the key is the application's), not a lack of rights.
                        return self.refuse(412, "PreconditionFailed", "the mover deletes only its own copies", kind: "mover")
                    }
                    try await self.target.client.delete(self.target.prefix + key)
                    return GatewayResponse(status: 204)
                }
                try await self.remove(key)
                return GatewayResponse(status: 204)
            }
        case ("POST", nil, _?):
            let id = try await target.client.createMultipart(target.prefix + key, metadata: Self.metadata(r, role: role), headers: Self.contentHeaders(r))
            return xml(200, "<InitiateMultipartUploadResult><Bucket>\(XMLText.escape(bucket))</Bucket><Key>\(XMLText.escape(key))</Key><UploadId>\(XMLText.escape(id))</UploadId></InitiateMultipartUploadResult>")
        case ("PUT", let id?, nil):
            guard let number = query["partNumber"].flatMap(Int.init), (1...10_000).contains(number) else { return refuse(400, "InvalidArgument", "partNumber must be 1–10000", kind: "request") }
            let etag = try await target.client.uploadPart(target.prefix + key, uploadID: id, number: number, r.body)
            return GatewayResponse(status: 200, headers: [("ETag", etag)])
        case ("POST", let id?, nil):
            let parts = XMLText.values("Part", in: String(buffer: r.body)).compactMap { p -> (Int, String)? in
                guard let n = XMLText.first("PartNumber", in: p).flatMap(Int.init), let e = XMLText.first("ETag", in: p) else { return nil }
                return (n, e)
            }
            guard !parts.isEmpty else { return refuse(400, "MalformedXML", "CompleteMultipartUpload needs its parts", kind: "request") }
            return try await write(r, key, role: role, abort: id) {
                let etag = try await self.target.client.completeMultipart(self.target.prefix + key, uploadID: id, parts: parts)
                return self.xml(200, "<CompleteMultipartUploadResult><Bucket>\(XMLText.escape(self.bucket))</Bucket><Key>\(XMLText.escape(key))</Key><ETag>\"\(XMLText.escape(etag))\"</ETag></CompleteMultipartUploadResult>")
            }
        case ("DELETE", let id?, nil):
            try await target.client.abortMultipart(target.prefix + key, uploadID: id)
            return GatewayResponse(status: 204)
        default:
            return refuse(501, "NotImplemented", "\(r.method) with these parameters is not served by the gateway", kind: "request")
        }
    }

    /// The application's delete (under the key's lock): the tombstone first, so a gateway stopped
    /// between the two never lets the source's copy back, then the target's object.
    func remove(_ key: String) async throws {
        try await target.client.put(target.prefix + Self.tombstones + key, ByteBuffer())
        try await target.client.delete(target.prefix + key)
        metrics.add("ferry_gateway_writes_total")
    }

    /// Who wrote an object: the mover's and the gateway's own copies carry `ferry-writer`.
    static let writer = "ferry-writer"

    /// A copy of the source's (the mover's or a backfill's), not the application's own write.
    static func copied(_ o: ObjectInfo) -> Bool { ["mover", "gateway"].contains(o.metadata[writer] ?? "") }

    /// A write to the target under the key's lock, the tombstone lifted after it. The mover's
    /// writes land only where the application has not written or deleted (its own copies it may
    /// replace). The application's `If-None-Match: *` and `If-Match` are held to both sides.
    func write(_ r: GatewayRequest, _ key: String, role: Role, abort: String? = nil, _ body: @escaping @Sendable () async throws -> GatewayResponse) async throws -> GatewayResponse {
        try await locks.with(key) {
            let have = try await self.target.head(key)
            let deleted = try await self.target.head(Self.tombstones + key) != nil
            func refused(_ why: String, kind: String) async -> GatewayResponse {
                if let abort { try? await self.target.client.abortMultipart(self.target.prefix + key, uploadID: abort) }
                return self.refuse(412, "PreconditionFailed", why, kind: kind)
            }
            if role == .mover {
                if deleted { return await refused("the application deleted this key", kind: "mover") }
                if let have, !Self.copied(have) { return await refused("the key already has the application's object", kind: "mover") }
            } else {
                // What the application sees: the target's object, else (unless deleted) the source's.
                var seen = have
                if seen == nil && !deleted { seen = try await self.source.head(key) }
                if r.header("if-none-match") == "*", seen != nil { return await refused("the key exists", kind: "request") }
                if let want = r.header("if-match").map(S3Client.unquoted), seen.map({ $0.etag != want && want != "*" }) ?? true {
                    return await refused("the object's ETag is not \(want)", kind: "request")
                }
            }
            let response = try await body()
            if role == .app && deleted { try await self.target.client.delete(self.target.prefix + Self.tombstones + key) }
            self.metrics.add("ferry_gateway_writes_total")
            return response
        }
    }

    /// GET or HEAD: the target's object, else the source's (then copied over in the background),
    /// unless the application deleted it. The mover sees the target alone.
    func read(_ r: GatewayRequest, _ key: String, role: Role) async throws -> GatewayResponse {
        var range: ClosedRange<Int64>?
        if let header = r.header("range"), let last = Self.suffix(header) {
            // The last n bytes (Parquet footers): where they start needs the size of the object served.
            var size = try await target.head(key)?.size
            if size == nil && role == .app { size = try await source.head(key)?.size }
            if let size {
                guard size > 0 else { return refuse(416, "InvalidRange", "the object is empty", kind: "request") }
                range = max(0, size - last)...(size - 1)
            }
        } else {
            do { range = try r.header("range").map(Self.range) ?? nil } catch { return self.refuse(416, "InvalidRange", "\(error)", kind: "request") }
        }
        let head = r.method == "HEAD"
        if let found = head ? try await target.head(key).map({ ($0, ObjectBody.bytes(ByteBuffer())) }) : try await target.open(key, range: range) {
            metrics.add("ferry_gateway_target_hits_total")
            return object(found.0, found.1, range: range, head: head)
        }
        let deleted = role == .app ? try await target.head(Self.tombstones + key) != nil : false
        if role == .mover || deleted {
            metrics.add("ferry_gateway_misses_total")
            return refuse(404, "NoSuchKey", "no such key", kind: nil)
        }
        guard let found = head ? try await source.head(key).map({ ($0, ObjectBody.bytes(ByteBuffer())) }) : try await source.open(key, range: range) else {
            metrics.add("ferry_gateway_misses_total")
            return refuse(404, "NoSuchKey", "no such key", kind: nil)
        }
        metrics.add("ferry_gateway_source_hits_total")
        backfill(key)
        return object(found.0, found.1, range: range, head: head)
    }

    func object(_ info: ObjectInfo, _ body: ObjectBody, range: ClosedRange<Int64>?, head: Bool) -> GatewayResponse {
        var headers: [(String, String)] = [("Last-Modified", Self.httpDate(info.lastModified)), ("Accept-Ranges", "bytes")]
        for (k, v) in info.headers.sorted(by: { $0.key < $1.key }) { headers.append((k, v)) }
        if !info.etag.isEmpty { headers.append(("ETag", "\"\(info.etag)\"")) }
        for (k, v) in info.metadata.sorted(by: { $0.key < $1.key }) where k != Self.writer { headers.append(("x-amz-meta-\(k)", v)) }
        headers.append(("Content-Length", String(head ? info.size : body.length)))
        var response = GatewayResponse(status: 200, headers: headers)
        switch body {
        case .bytes(let bytes): response.body = bytes
        case .stream(_, let stream): response.stream = stream
        }
        if let range, !head {
            // A range of an empty object has no bytes to name: not a 206 with an impossible Content-Range.
            guard body.length > 0 else { return refuse(416, "InvalidRange", "the object is empty", kind: "request") }
            response.status = 206
            response.headers.append(("Content-Range", "bytes \(range.lowerBound)-\(range.lowerBound + body.length - 1)/\(info.size)"))
        }
        return response
    }

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n` (the last n bytes are asked for as a range from the end: not served).
    /// `bytes=-n` → n (n > 0); nil when the header is not that. Pure.
    static func suffix(_ header: String) -> Int64? {
        guard header.hasPrefix("bytes=-"), let n = Int64(header.dropFirst(7)), n > 0 else { return nil }
        return n
    }

    static func range(_ header: String) throws -> ClosedRange<Int64>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { throw StepError.configuration("only one bytes= range is served") }
        let parts = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let from = Int64(parts[0]), from >= 0 else { throw StepError.configuration("a range from the end is not served") }
        if parts[1].isEmpty { return from...Int64.max / 2 }
        guard let to = Int64(parts[1]), to >= from else { throw StepError.configuration("the range \(header) is not a-b with a ≤ b") }
        return from...to
    }

    /// The object copied from the source to the target, once at a time per key, in the background.
    func backfill(_ key: String) {
        // A few at once: a burst of misses is served first, copied as room frees (or by the mover).
        guard backfills.withLock({ $0.count < 8 && $0.insert(key).inserted }) else { return }
        Task {
            defer { _ = backfills.withLock { $0.remove(key) } }
            do {
                // Read and sent without the key's lock (a large object takes a while; the application's
                // writes to it must not wait); the lock is taken for the request that makes it visible.
                guard try await self.free(key), let info = try await self.source.head(key) else { return }
                var metadata = info.metadata
                if !info.etag.isEmpty { metadata[BucketToBucket.sourceETag] = info.etag }
                metadata[Self.writer] = "gateway"
                // Read a part at a time (a large object is never held whole), each from the version first seen.
                let source = self.source
                try await self.target.client.upload(self.target.prefix + key, size: info.size, partSize: Self.backfillPart, parallel: 2, metadata: metadata, headers: info.headers,
                                                    commit: { visible in
                    try await self.locks.with(key) {
                        // Written or deleted by the application meanwhile: its version stands (the upload is aborted).
                        guard try await self.free(key) else { throw Superseded() }
                        return try await visible()
                    }
                }) { offset, length in
                    guard length > 0 else { return ByteBuffer() }
                    guard let (now, body) = try await source.get(key, range: offset...(offset + Int64(length) - 1)),
                          Self.sameVersion(now, info), body.readableBytes == length else {
                        throw StepError.target("\(key) changed on the source while it was copied; copied again on the next miss or by the mover")
                    }
                    return body
                }
                self.metrics.add("ferry_gateway_backfilled_objects_total")
                self.metrics.add("ferry_gateway_backfilled_bytes_total", info.size)
            } catch is Superseded {
                // Superseded by the application's write or delete: nothing to copy.
            } catch {
                metrics.add("ferry_gateway_errors_total", kind: "backfill")
            }
        }
    }

    /// Neither an object on the target nor a tombstone: a copy from the source may land.
    func free(_ key: String) async throws -> Bool {
        guard try await target.head(key) == nil else { return false }
        return try await target.head(Self.tombstones + key) == nil
    }

    /// A background copy the application's write or delete overtook.
    struct Superseded: Error {}

    /// The part size of a backfill copy: what one copy holds in memory at once, twice.
    static let backfillPart = 8 << 20

    /// The same version of an object: its ETag (a bucket), else its size and mtime (a folder). Pure.
    static func sameVersion(_ a: ObjectInfo, _ b: ObjectInfo) -> Bool {
        a.size == b.size && a.etag == b.etag && (a.etag.isEmpty ? a.lastModified == b.lastModified && a.metadata == b.metadata : true)
    }

    // MARK: the bucket

    func bucketRequest(_ r: GatewayRequest, _ query: [String: String], role: Role) async throws -> GatewayResponse {
        switch r.method {
        case "HEAD": return GatewayResponse(status: 200)
        case "GET" where query["location"] != nil: return xml(200, "<LocationConstraint/>")
        case "GET" where query["list-type"] == "2":
            guard let maxKeys = Int(query["max-keys"] ?? "1000"), maxKeys >= 0 else { return refuse(400, "InvalidArgument", "max-keys must be a number", kind: "request") }
            let token = query["continuation-token"].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
            let after = [query["start-after"] ?? "", token ?? ""].max { Self.before($0, $1) } ?? ""
            let listing = try await MergedListing(service: self, role: role).page(prefix: query["prefix"] ?? "", delimiter: query["delimiter"].flatMap { $0.isEmpty ? nil : $0 },
                                                                                 after: after, maxKeys: min(maxKeys, 1000))
            return xml(200, listing.xml(bucket: bucket, query: query))
        case "GET" where Set(query.keys.filter { !$0.hasPrefix("X-Amz-") && $0 != "x-id" }).isSubset(of: ["prefix", "delimiter", "marker", "max-keys", "encoding-type"]):
            // ListObjects (v1), as rclone and s3fs ask by default.
            guard let maxKeys = Int(query["max-keys"] ?? "1000"), maxKeys >= 0 else { return refuse(400, "InvalidArgument", "max-keys must be a number", kind: "request") }
            let listing = try await MergedListing(service: self, role: role).page(prefix: query["prefix"] ?? "", delimiter: query["delimiter"].flatMap { $0.isEmpty ? nil : $0 },
                                                                                 after: query["marker"] ?? "", maxKeys: min(maxKeys, 1000))
            return xml(200, listing.xmlV1(bucket: bucket, query: query))
        case "POST" where query["delete"] != nil:
            return try await deleteObjects(r, role: role)
        default:
            return refuse(501, "NotImplemented", "only ListObjects (v1, v2), DeleteObjects, HEAD and location are served on the bucket", kind: "request")
        }
    }

    /// DeleteObjects (`aws s3 rm --recursive`): each key as a DELETE of its own, tombstone first.
    func deleteObjects(_ r: GatewayRequest, role: Role) async throws -> GatewayResponse {
        guard role == .app else { return refuse(403, "AccessDenied", "the mover does not delete through the gateway", kind: "mover") }
        let text = String(buffer: r.body)
        let keys = XMLText.values("Object", in: text).compactMap { XMLText.first("Key", in: $0) }
        guard !keys.isEmpty, keys.count <= 1000 else { return refuse(400, "MalformedXML", "DeleteObjects takes 1–1000 keys", kind: "request") }
        let quiet = XMLText.first("Quiet", in: text) == "true"
        var out = "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for key in keys {
            if key.utf8.starts(with: Self.tombstones.utf8) || key.isEmpty {
                out += "<Error><Key>\(XMLText.escape(key))</Key><Code>AccessDenied</Code><Message>not the application's key</Message></Error>"
                continue
            }
            do {
                try await locks.with(key) { try await self.remove(key) }
                if !quiet { out += "<Deleted><Key>\(XMLText.escape(key))</Key></Deleted>" }
            } catch {
                out += "<Error><Key>\(XMLText.escape(key))</Key><Code>InternalError</Code><Message>\(XMLText.escape("\(error)"))</Message></Error>"
            }
        }
        return xml(200, out + "</DeleteResult>")
    }

    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    // MARK: replies

    /// The request's `x-amz-meta-*`; the writer tag is the gateway's to set, never the client's:
    /// `mover` for the bulk copy, `app` for the application (so a mover that later writes to the
    /// store directly still knows whose an object is).
    static func metadata(_ r: GatewayRequest, role: Role) -> [String: String] {
        var m = Dictionary(r.headers.filter { $0.0.hasPrefix("x-amz-meta-") }.map { (String($0.0.dropFirst("x-amz-meta-".count)), $0.1) }, uniquingKeysWith: { a, _ in a })
        m[writer] = role == .mover ? "mover" : "app"
        return m
    }

    static func contentHeaders(_ r: GatewayRequest) -> [String: String] {
        Dictionary(r.headers.filter { contentHeaderNames.contains($0.0) }, uniquingKeysWith: { a, _ in a })
    }

    func xml(_ status: Int, _ body: String) -> GatewayResponse {
        GatewayResponse(status: status, headers: [("Content-Type", "application/xml")], body: ByteBuffer(string: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body))
    }

    func refuse(_ status: Int, _ code: String, _ message: String, kind: String?) -> GatewayResponse {
        if let kind { metrics.add("ferry_gateway_errors_total", kind: kind) }
        return xml(status, "<Error><Code>\(XMLText.escape(code))</Code><Message>\(XMLText.escape(message))</Message></Error>")
    }

    /// An ISO 8601 LastModified as HTTP's date; one already in HTTP's form is kept.
    static func httpDate(_ s: String) -> String {
        S3Time.iso(s).map(S3Time.http) ?? s
    }
}
