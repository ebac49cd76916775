import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Where a bucket is: the endpoint (`https://s3.example:443`), region, bucket, a key prefix, and
/// whether the bucket goes in the path (MinIO, Swift, moto) or in the host name (AWS).
struct S3Location: Sendable, Equatable {
    var endpoint: String
    var region: String = "us-east-1"
    var bucket: String
    var prefix: String = ""
    var pathStyle: Bool = true
}

/// One object as a listing or HEAD shows it.
struct S3Object: Sendable, Equatable {
    var key: String
    var size: Int64
    var etag: String
    var lastModified: String
    /// `x-amz-meta-*` (HEAD only), names without the prefix.
    var metadata: [String: String] = [:]
    /// Content-Type, Content-Encoding, Cache-Control, Content-Disposition (HEAD only): what a copy must keep.
    var headers: [String: String] = [:]
}

/// The headers that describe an object's content, kept wherever it is copied.
let contentHeaderNames = ["content-type", "content-encoding", "cache-control", "content-disposition", "content-language", "expires"]

/// What S3 said no to, with its code: the message names the bucket or key and the likely fix.
struct S3Error: Error, CustomStringConvertible, Equatable {
    var status: Int
    var code: String
    var message: String
    var resource: String

    var description: String {
        let hint: String
        switch code {
        case "NoSuchBucket": hint = "the bucket does not exist at this endpoint"
        case "InvalidAccessKeyId", "SignatureDoesNotMatch": hint = "the access key or secret key is wrong (check the credentials Secret)"
        case "RequestTimeTooSkewed": hint = "this machine's clock is too far from the server's: signatures expire; fix the clock (NTP)"
        case "AccessDenied": hint = "these credentials may not do this"
        case "UntrustedCertificate": hint = "the endpoint's TLS certificate does not chain to a CA this pod trusts: give its CA (spec.files[].to.s3.caSecret with ca.crt; --s3-ca-file)"
        case "EntityTooLarge": hint = "the object is larger than the server takes in one request; lower the part size"
        default: hint = message
        }
        return "S3 \(status) \(code) on \(resource): \(hint)"
    }
}

/// An S3 client for the mover and the gateway: SigV4 signing (``S3Signer``), ListObjectsV2
/// paging, HEAD/GET/PUT/DELETE, and multipart uploads (created, parts in parallel, completed —
/// or aborted on any failure, so no partial object ever becomes visible).
struct S3Client: Sendable {
    let location: S3Location
    let credentials: S3Signer.Credentials
    let http: HTTPClient
    var timeout: TimeAmount = .minutes(10)
    /// For tests of clock skew: the time requests are signed with.
    var clock: @Sendable () -> Date = { Date() }

    /// The Host header as the HTTP client sends it: no port when it is the scheme's default
    /// (signing `s3.example:443` while `s3.example` is sent would break every signature).
    let host: String
    /// `scheme://host`, what every request's URL starts with.
    let base: String

    init(location: S3Location, credentials: S3Signer.Credentials, http: HTTPClient, timeout: TimeAmount = .minutes(10)) {
        self.location = location
        self.credentials = credentials
        self.http = http
        self.timeout = timeout
        let u = URL(string: location.endpoint)
        let standard = u?.scheme == "https" ? 443 : 80
        let port = u?.port.flatMap { $0 == standard ? nil : ":\($0)" } ?? ""
        host = location.pathStyle ? "\(u?.host ?? "")\(port)" : "\(location.bucket).\(u?.host ?? "")\(port)"
        base = "\(u?.scheme ?? "https")://\(host)"
    }

    /// The request path for a key (encoded as SigV4 wants it); nil key: the bucket.
    func path(_ key: String?) -> String {
        let k = key.map { "/" + S3Signer.encode($0, slash: false) } ?? "/"
        return location.pathStyle ? "/\(location.bucket)\(key == nil ? "" : k)" : k
    }

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// The most a request's answer may hold (a ranged GET of one part).
    static let largestBody = 1 << 30

    /// Attempts in all for an answer the server means as "later" (500, 502, 503 SlowDown, 504).
    var attempts = 6

    func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [String: String] = [:], body: ByteBuffer? = nil,
              payloadHash: String? = nil, expect: Set<Int> = [200]) async throws -> Response {
        try await retrying(method) {
            try await sendOnce(method, key: key, query: query, headers: headers, body: body, payloadHash: payloadHash, expect: expect)
        }
    }

    /// A GET whose answer is read whole when it holds at most `hold` bytes, else handed over with
    /// its body unread (the gateway streams an object too large to hold). Tried again as ``send``
    /// is, until the answer's head has come.
    func fetch(_ key: String, headers: [String: String] = [:], expect: Set<Int> = [200], hold: Int) async throws -> (Response, HTTPClientResponse.Body?) {
        try await retrying(.GET) {
            let response = try await start(.GET, key: key, query: [], headers: headers, body: nil, payloadHash: nil)
            let status = Int(response.status.code)
            guard expect.contains(status) else { throw try await refusal(response, key: key) }
            let length = response.headers.first(name: "content-length").flatMap(Int.init)
            guard let length, length > hold else {
                return (Response(status: status, headers: response.headers, body: try await response.body.collect(upTo: Self.largestBody)), nil)
            }
            return (Response(status: status, headers: response.headers, body: ByteBuffer()), response.body)
        }
    }

    /// `operation` until it succeeds, or fails in a way another attempt will not mend.
    func retrying<T>(_ method: HTTPMethod, _ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let e as S3Error where [500, 502, 503, 504].contains(e.status) && attempt < attempts {
                try await backOff(attempt)
                attempt += 1
            } catch where !(error is S3Error) && !(error is CancellationError) && method != .POST && attempt < attempts {
                // A connection reset or refused, or a keep-alive connection the server closed: sent again, for
                // requests that do the same the second time (never a POST: creating or completing an upload).
                try await backOff(attempt)
                attempt += 1
            }
        }
    }

    /// Backing off as the SDKs do: 0.1, 0.2, 0.4 … s, with jitter.
    func backOff(_ attempt: Int) async throws {
        try await Task.sleep(for: .milliseconds(Int(100 * pow(2, Double(min(attempt, 8) - 1)) * Double.random(in: 0.75...1.25))))
    }

    func sendOnce(_ method: HTTPMethod, key: String?, query: [(String, String)], headers: [String: String], body: ByteBuffer?,
                  payloadHash: String?, expect: Set<Int>) async throws -> Response {
        let response = try await start(method, key: key, query: query, headers: headers, body: body, payloadHash: payloadHash)
        let status = Int(response.status.code)
        guard expect.contains(status) else { throw try await refusal(response, key: key) }
        return Response(status: status, headers: response.headers, body: try await response.body.collect(upTo: Self.largestBody))
    }

    /// The request signed and sent: the answer's head, its body not yet read.
    func start(_ method: HTTPMethod, key: String?, query: [(String, String)], headers: [String: String], body: ByteBuffer?,
               payloadHash: String?) async throws -> HTTPClientResponse {
        let p = path(key)
        let hash = payloadHash ?? (body.map { S3Signer.hex(Array(SHA256Hash.of($0))) } ?? S3Signer.emptyPayload)
        let signed = S3Signer.sign(method: method.rawValue, host: host, path: p, query: query, headers: headers, payloadHash: hash,
                                   credentials: credentials, region: location.region, date: clock())
        let q = query.isEmpty ? "" : "?" + S3Signer.canonicalQuery(query)
        var request = HTTPClientRequest(url: base + p + q)
        request.method = method
        for (k, v) in signed { request.headers.add(name: k, value: v) }
        if let body {
            request.headers.add(name: "Content-Length", value: String(body.readableBytes))
            request.body = .bytes(body)
        } else if method == .PUT || method == .POST {
            request.headers.add(name: "Content-Length", value: "0")
        }
        do {
            return try await http.execute(request, timeout: timeout)
        } catch where "\(error)".contains("CERTIFICATE_VERIFY_FAILED") || "\(error)".contains("certificate verify failed") {
            // Permanent: never tried again.
            throw S3Error(status: 0, code: "UntrustedCertificate", message: "\(error)", resource: location.endpoint)
        }
    }

    /// An answer the caller did not expect, as the error its body names (its code and message).
    func refusal(_ response: HTTPClientResponse, key: String?) async throws -> S3Error {
        let text = String(buffer: (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer())
        let resource = "\(location.bucket)\(key.map { "/\($0)" } ?? "")"
        return S3Error(status: Int(response.status.code), code: XMLText.first("Code", in: text) ?? response.status.reasonPhrase, message: XMLText.first("Message", in: text) ?? "", resource: resource)
    }

    /// The endpoint answers, the keys are right, the bucket is there and may be listed: a listing
    /// of one key (not a HEAD, whose refusals have no body to say which of these failed). Asked
    /// with a short deadline and one retry: a wrong endpoint is said within a minute, not after every back-off.
    func checkBucket() async throws {
        var quick = self
        quick.timeout = min(timeout, .seconds(30))
        quick.attempts = 2
        _ = try await quick.send(.GET, key: nil, query: [("list-type", "2"), ("max-keys", "1")])
    }

    /// One page of ListObjectsV2 under `prefix` (keys URL-encoded by the server, so any key survives).
    func list(prefix: String, continuation: String? = nil, maxKeys: Int = 1000) async throws -> (objects: [S3Object], next: String?) {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys)), ("encoding-type", "url")]
        if let continuation { query.append(("continuation-token", continuation)) }
        let text = String(buffer: try await send(.GET, key: nil, query: query).body)
        let page = try Self.listPage(text)
        if page.truncated && (page.next == nil || page.next == continuation) {
            throw S3Error(status: 200, code: "BadListing", message: "the listing says it is truncated but gives no new continuation token", resource: location.bucket)
        }
        return (page.objects, page.truncated ? page.next : nil)
    }

    /// One ListObjectsV2 answer. Keys come url-encoded when the server says so (`+` is a space,
    /// as in a form); a key that does not decode is refused, never taken as "". Pure.
    static func listPage(_ text: String) throws -> (objects: [S3Object], truncated: Bool, next: String?) {
        let encoded = XMLText.first("EncodingType", in: text) == "url"
        let objects = try XMLText.values("Contents", in: text).map { c -> S3Object in
            let raw = XMLText.first("Key", in: c) ?? ""
            guard let key = encoded ? raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding : raw, !key.isEmpty else {
                throw S3Error(status: 200, code: "BadKey", message: "a listed key does not decode: \(raw.prefix(100))", resource: "listing")
            }
            return S3Object(key: key, size: Int64(XMLText.first("Size", in: c) ?? "") ?? 0,
                            etag: (XMLText.first("ETag", in: c) ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")), lastModified: XMLText.first("LastModified", in: c) ?? "")
        }
        return (objects, XMLText.first("IsTruncated", in: text) == "true", XMLText.first("NextContinuationToken", in: text))
    }

    /// The server's clock minus ours (from its Date header): comparisons of its LastModified with local times correct by it.
    func skew() async throws -> TimeInterval {
        let r = try await send(.HEAD, key: nil)
        guard let date = r.headers.first(name: "date") else { return 0 }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        // The header has whole seconds: a difference under 2 s is its rounding, not a skew.
        let measured = f.date(from: date).map { $0.timeIntervalSinceNow } ?? 0
        return abs(measured) < 2 ? 0 : measured
    }

    /// Every object under `prefix`, the folders (common prefixes at `/`) listed `concurrency` at
    /// once: a store lists one page at a time per listing, so a tree of many folders comes back
    /// in a fraction of the time. Not in key order across folders.
    func listTree(prefix: String, concurrency: Int = 8) async throws -> [S3Object] {
        var objects: [S3Object] = [], folders: [String] = [], token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("delimiter", "/"), ("max-keys", "1000"), ("encoding-type", "url")]
            if let token { query.append(("continuation-token", token)) }
            let text = String(buffer: try await send(.GET, key: nil, query: query).body)
            let page = try Self.listPage(text)
            objects += page.objects
            folders += try Self.commonPrefixes(text)
            guard !page.truncated || (page.next != nil && page.next != token) else {
                throw S3Error(status: 200, code: "BadListing", message: "the listing says it is truncated but gives no new continuation token", resource: location.bucket)
            }
            token = page.truncated ? page.next : nil
        } while token != nil
        try await withThrowingTaskGroup(of: [S3Object].self) { group in
            var next = folders.makeIterator()
            func add() {
                guard let folder = next.next() else { return }
                group.addTask {
                    var found: [S3Object] = []
                    try await self.listAll(prefix: folder) { found += $0 }
                    return found
                }
            }
            for _ in 0..<max(1, concurrency) { add() }
            while let found = try await group.next() {
                objects += found
                add()
            }
        }
        return objects
    }

    /// A listing's CommonPrefixes, url-decoded when the answer says so. Pure.
    static func commonPrefixes(_ text: String) throws -> [String] {
        let encoded = XMLText.first("EncodingType", in: text) == "url"
        return try XMLText.values("CommonPrefixes", in: text).compactMap { XMLText.first("Prefix", in: $0) }.map { raw in
            guard let p = encoded ? raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding : raw, !p.isEmpty else {
                throw S3Error(status: 200, code: "BadKey", message: "a listed prefix does not decode: \(raw.prefix(100))", resource: "listing")
            }
            return p
        }
    }

    /// Every object under `prefix`, page by page, in key order.
    func listAll(prefix: String, page: Int = 1000, each: ([S3Object]) async throws -> Void) async throws {
        var token: String?
        repeat {
            let (objects, next) = try await list(prefix: prefix, continuation: token, maxKeys: page)
            try await each(objects)
            token = next
        } while token != nil
    }

    /// The object's size, ETag and metadata; nil when there is none.
    func head(_ key: String) async throws -> S3Object? {
        let r = try await send(.HEAD, key: key, expect: [200, 404])
        guard r.status == 200 else { return nil }
        return S3Object(key: key, size: Int64(r.headers.first(name: "content-length") ?? "") ?? 0,
                        etag: Self.unquoted(r.headers.first(name: "etag") ?? ""),
                        lastModified: r.headers.first(name: "last-modified") ?? "", metadata: Self.metadata(r.headers),
                        headers: Self.contentHeaders(r.headers))
    }

    func get(_ key: String) async throws -> ByteBuffer { try await send(.GET, key: key).body }

    /// The size of a multipart object's first part (`HEAD ?partNumber=1`, as AWS, MinIO and moto
    /// answer it); nil when the store does not say.
    func firstPartSize(_ object: S3Object) async -> Int64? {
        guard let r = try? await send(.HEAD, key: object.key, query: [("partNumber", "1")], expect: [200, 206]),
              let length = r.headers.first(name: "content-length").flatMap(Int64.init), length > 0, length < object.size else { return nil }
        return length
    }

    /// Bytes `offset ..< offset + length` of the one version of `object` that was listed (an
    /// object overwritten since fails with a message saying so, never tears what is read), and
    /// its metadata. The body has exactly `length` bytes or this throws.
    func read(_ object: S3Object, offset: Int64, length: Int) async throws -> (body: ByteBuffer, metadata: [String: String]) {
        var headers = object.etag.isEmpty ? [:] : ["If-Match": "\"\(object.etag)\""]
        if length > 0 { headers["Range"] = "bytes=\(offset)-\(offset + Int64(length) - 1)" }
        let r: Response
        do {
            r = try await send(.GET, key: object.key, headers: headers, expect: [200, 206])
        } catch let e as S3Error where e.status == 412 {
            throw StepError.target("\(object.key) changed while it was read; fetched again on the next pass")
        }
        guard r.body.readableBytes == length else { throw StepError.target("\(object.key): the object changed while it was read (got \(r.body.readableBytes) bytes at \(offset), not \(length))") }
        return (r.body, Self.metadata(r.headers))
    }

    /// The object's ETag as the server gives it.
    @discardableResult
    func put(_ key: String, _ body: ByteBuffer, metadata: [String: String] = [:], headers: [String: String] = [:]) async throws -> String {
        let all = headers.merging(metadata.map { ("x-amz-meta-\($0.key)", $0.value) }) { a, _ in a }
        let r = try await send(.PUT, key: key, headers: all, body: body)
        return Self.unquoted(r.headers.first(name: "etag") ?? "")
    }

    /// Whether the object at `key` is one the application wrote through a gateway (one HEAD).
    func applicationWrote(_ key: String) async throws -> Bool {
        try await head(key).map { ObjectMatch.applicationWrote($0.metadata) } ?? false
    }

    /// A mover's delete (`--delete`: gone from the source) of what it copied, writing to the
    /// store directly: never an object the application wrote through a gateway. Whether it went.
    /// (Through a gateway a mover never deletes: the application's new objects are not in the source.)
    func removeCopy(_ key: String) async throws -> Bool {
        if try await applicationWrote(key) { return false }
        try await delete(key)
        return true
    }

    /// An answer's `x-amz-meta-*`, names without the prefix.
    static func metadata(_ headers: HTTPHeaders) -> [String: String] {
        var m: [String: String] = [:]
        for h in headers where h.name.lowercased().hasPrefix("x-amz-meta-") { m[String(h.name.lowercased().dropFirst("x-amz-meta-".count))] = h.value }
        return m
    }

    /// An answer's Content-Type and the like (``contentHeaderNames``).
    static func contentHeaders(_ headers: HTTPHeaders) -> [String: String] {
        Dictionary(contentHeaderNames.compactMap { n in headers.first(name: n).map { (n, $0) } }, uniquingKeysWith: { a, _ in a })
    }

    static func unquoted(_ etag: String) -> String { etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }

    func delete(_ key: String) async throws {
        // DELETE on the bucket's own path would be DeleteBucket.
        guard !key.isEmpty else { throw S3Error(status: 0, code: "EmptyKey", message: "", resource: location.bucket) }
        _ = try await send(.DELETE, key: key, expect: [200, 204])
    }

    // MARK: multipart

    func createMultipart(_ key: String, metadata: [String: String] = [:], headers: [String: String] = [:]) async throws -> String {
        let all = headers.merging(metadata.map { ("x-amz-meta-\($0.key)", $0.value) }) { a, _ in a }
        let r = try await send(.POST, key: key, query: [("uploads", "")], headers: all)
        guard let id = XMLText.first("UploadId", in: String(buffer: r.body)) else { throw S3Error(status: r.status, code: "NoUploadId", message: "", resource: "\(location.bucket)/\(key)") }
        return id
    }

    func uploadPart(_ key: String, uploadID: String, number: Int, _ body: ByteBuffer) async throws -> String {
        let r = try await send(.PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body)
        return r.headers.first(name: "etag") ?? ""
    }

    /// The object's ETag as the server gives it.
    func completeMultipart(_ key: String, uploadID: String, parts: [(Int, String)]) async throws -> String {
        do {
            return try await completeOnce(key, uploadID: uploadID, parts: parts)
        } catch let e as S3Error where e.code == "NoSuchUpload" {
            // A completion whose answer was lost and was sent again: done if the object carries the multipart ETag.
            guard let head = try await head(key), head.etag.hasSuffix("-\(parts.count)") else { throw e }
            return head.etag
        }
    }

    func completeOnce(_ key: String, uploadID: String, parts: [(Int, String)]) async throws -> String {
        let xml = "<CompleteMultipartUpload>" + parts.sorted { $0.0 < $1.0 }.map { "<Part><PartNumber>\($0.0)</PartNumber><ETag>\(XMLText.escape($0.1))</ETag></Part>" }.joined() + "</CompleteMultipartUpload>"
        let r = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: ByteBuffer(string: xml))
        // S3 may answer 200 with an error inside.
        let text = String(buffer: r.body)
        if let code = XMLText.first("Code", in: text), text.contains("<Error>") {
            throw S3Error(status: r.status, code: code, message: XMLText.first("Message", in: text) ?? "", resource: "\(location.bucket)/\(key)")
        }
        return Self.unquoted(XMLText.first("ETag", in: text) ?? "")
    }

    func abortMultipart(_ key: String, uploadID: String) async throws {
        _ = try await send(.DELETE, key: key, query: [("uploadId", uploadID)], expect: [200, 204, 404])
    }

    /// Multipart uploads begun under `prefix` and never completed (a run killed mid-upload).
    func incompleteUploads(prefix: String) async throws -> [(key: String, uploadID: String, initiated: String)] {
        let text = String(buffer: try await send(.GET, key: nil, query: [("uploads", ""), ("prefix", prefix)]).body)
        return XMLText.values("Upload", in: text).map { (XMLText.first("Key", in: $0) ?? "", XMLText.first("UploadId", in: $0) ?? "", XMLText.first("Initiated", in: $0) ?? "") }
    }

    /// Aborts the multipart uploads under `prefix` begun before `before`, of keys the mover
    /// writes (`ours`, given the key after the prefix): a killed run's, never visible but stored
    /// and billed. Those begun since, or of other keys, may be someone's upload in progress.
    /// What was done, said through `say`; a store that does not list uploads is left as it is.
    func abortUnfinished(prefix: String, before: Date, ours: (String) -> Bool, say: (String) -> Void) async {
        guard let uploads = try? await incompleteUploads(prefix: prefix) else { return }
        var aborted = 0
        for o in uploads where (S3Time.iso(o.initiated) ?? before) < before && o.key.hasPrefix(prefix) && ours(String(o.key.dropFirst(prefix.count))) {
            do {
                try await abortMultipart(o.key, uploadID: o.uploadID)
                aborted += 1
            } catch {
                say("could not abort the unfinished upload of \(o.key): \(error)")
            }
        }
        if aborted > 0 { say("aborted \(aborted) unfinished multipart uploads an earlier run left under \(location.bucket)/\(prefix)") }
    }

    /// What an upload left: the server's ETag, and (when asked for) the one its bytes give.
    struct Uploaded: Sendable {
        var etag: String
        var computed: String?
    }

    /// `body` as one object, in parts of `partSize` bytes, `parallel` at once, when it is larger
    /// than one part; an upload that fails is aborted, so the key never shows part of it.
    /// `commit` runs the one request that makes the object visible (the PUT, or the multipart
    /// completion): the gateway takes the key's lock there, not for the whole copy; a commit
    /// that throws leaves nothing.
    @discardableResult
    func upload(_ key: String, size: Int64, partSize: Int, parallel: Int, metadata: [String: String] = [:], headers: [String: String] = [:], md5: Bool = false,
                commit: @Sendable (_ visible: @Sendable () async throws -> String) async throws -> String = { try await $0() },
                read: @escaping @Sendable (Int64, Int) async throws -> ByteBuffer) async throws -> Uploaded {
        guard size > Int64(partSize) else {
            let body = try await read(0, Int(size))
            let etag = try await commit { try await put(key, body, metadata: metadata, headers: headers) }
            return Uploaded(etag: etag, computed: md5 ? S3Signer.hex(ETagHash.md5(body)) : nil)
        }
        guard size <= 5 << 40 else { throw S3Error(status: 0, code: "EntityTooLarge", message: "larger than 5 TiB, the most one object may hold", resource: "\(location.bucket)/\(key)") }
        // At most 10,000 parts: bigger parts for a bigger file.
        let partSize = ETagHash.uploadPartSize(size: size, partSize: partSize)
        let id = try await createMultipart(key, metadata: metadata, headers: headers)
        do {
            let count = Int((size + Int64(partSize) - 1) / Int64(partSize))
            var etags: [(Int, String)] = []
            var digests: [Int: [UInt8]] = [:]
            try await withThrowingTaskGroup(of: (Int, String, [UInt8]).self) { group in
                var next = 1
                func add() {
                    guard next <= count else { return }
                    let n = next
                    next += 1
                    group.addTask {
                        let offset = Int64(n - 1) * Int64(partSize)
                        let body = try await read(offset, Int(min(Int64(partSize), size - offset)))
                        let digest = md5 ? ETagHash.md5(body) : []
                        return (n, try await self.uploadPart(key, uploadID: id, number: n, body), digest)
                    }
                }
                for _ in 0..<max(1, parallel) { add() }
                while let (n, etag, digest) = try await group.next() {
                    etags.append((n, etag))
                    digests[n] = digest
                    add()
                }
            }
            let parts = etags
            let etag = try await commit { try await completeMultipart(key, uploadID: id, parts: parts) }
            return Uploaded(etag: etag, computed: md5 ? ETagHash.combine((1...count).map { digests[$0] ?? [] }) : nil)
        } catch {
            try? await abortMultipart(key, uploadID: id)
            throw error
        }
    }
}

/// SHA-256 of a buffer's readable bytes.
enum SHA256Hash {
    static func of(_ buffer: ByteBuffer) -> [UInt8] {
        buffer.withUnsafeReadableBytes { Array(Crypto.SHA256.hash(data: $0)) }
    }
}
