import AsyncHTTPClient
@testable import FerrySteps
import Foundation
import NIOCore
import TestSupport
import Testing

/// The S3 client: SigV4 against AWS's published example, the XML it reads, and every call
/// against a real S3 implementation (moto's server).
@Suite("S3 client (SigV4, ListObjectsV2, multipart; moto)", .serialized, .timeLimit(.minutes(3)))
struct S3ClientTests {
    @Test("SigV4: AWS's documented GET Object example signs to the published signature")
    func awsExample() {
        // docs.aws.amazon.com, "Signature Calculations for the Authorization Header", Example: GET Object.
        let date = ISO8601DateFormatter().date(from: "2013-05-24T00:00:00Z")!
        let signed = S3Signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [], headers: ["Range": "bytes=0-9"],
                                   payloadHash: S3Signer.emptyPayload,
                                   credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1", date: date)
        #expect(signed["authorization"] == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        // Example: GET Bucket (List Objects): a query string.
        let list = S3Signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/", query: [("max-keys", "2"), ("prefix", "J")], headers: [:],
                                 payloadHash: S3Signer.emptyPayload,
                                 credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1", date: date)
        #expect(list["authorization"]?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true, "\(list)")
        #expect(S3Signer.encode("a b/ü+~*", slash: false) == "a%20b/%C3%BC%2B~%2A")
        #expect(S3Signer.encode("a/b", slash: true) == "a%2Fb")
    }

    @Test("XML: values in order, empty elements, entities, text that is not XML; generated keys survive escape and decode")
    func xml() {
        let doc = "<R><Contents><Key>a&amp;b</Key></Contents><Contents><Key/></Contents><IsTruncated>true</IsTruncated><Key>&#x41;&#66;&lt;&unknown;</Key></R>"
        #expect(XMLText.values("Contents", in: doc).count == 2)
        #expect(XMLText.values("Key", in: doc).map { XMLText.decode($0) } == ["a&b", "", "AB<&unknown;"])
        #expect(XMLText.first("IsTruncated", in: doc) == "true")
        #expect(XMLText.first("Missing", in: doc) == nil)
        #expect(XMLText.values("Key", in: "<Key>no end").isEmpty)
        var state: UInt64 = 7
        let alphabet = Array("ab&<>\"' ;#x1é&amp;")
        for _ in 0..<500 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let s = String((0..<Int(state >> 60)).map { i in alphabet[Int((state >> UInt64(i * 4)) & 0xF) % alphabet.count] })
            #expect(XMLText.first("K", in: "<K>\(XMLText.escape(s))</K>") == s, "\(s)")
        }
    }

    @Test("XML: the one-pass reader finds what a plain search finds, in generated documents (names that start alike, empty and unclosed elements, non-ASCII text); a 1,000-object page reads in one pass")
    func xmlFuzz() throws {
        // The reference: search for `<name>` and `<name/>`, take the earlier, then `</name>`.
        func plain(_ name: String, _ xml: String) -> [String] {
            var out: [String] = [], rest = xml[...]
            while true {
                let a = rest.range(of: "<\(name)>"), b = rest.range(of: "<\(name)/>")
                guard let start = [a, b].compactMap({ $0 }).min(by: { $0.lowerBound < $1.lowerBound }) else { break }
                if start == b { out.append(""); rest = rest[start.upperBound...]; continue }
                guard let end = rest[start.upperBound...].range(of: "</\(name)>") else { break }
                out.append(String(rest[start.upperBound..<end.lowerBound]))
                rest = rest[end.upperBound...]
            }
            return out
        }
        let pieces = ["<Key>", "</Key>", "<Key/>", "<KeyCount>", "</KeyCount>", "<Ke", "<Key", "/>", ">", "<", "é", "x", "ü/ß", "<Contents>", "</Contents>", "&amp;"]
        var random = SplitMix(seed: 11)
        for _ in 0..<3000 {
            var doc = ""
            for _ in 0..<Int.random(in: 0...30, using: &random) { doc += pieces[Int.random(in: 0..<pieces.count, using: &random)] }
            for name in ["Key", "Contents", "KeyCount"] {
                #expect(XMLText.values(name, in: doc).map(String.init) == plain(name, doc), "\(name) in \(doc)")
                #expect(XMLText.first(name, in: doc) == plain(name, doc).first.map { XMLText.decode($0[...]) }, "\(name) in \(doc)")
            }
        }
        let page = "<ListBucketResult><IsTruncated>false</IsTruncated>" + (0..<1000).map { "<Contents><Key>d/é\($0)</Key><Size>\($0)</Size><ETag>&quot;e\($0)&quot;</ETag><LastModified>2026-12-01T00:00:00.000Z</LastModified></Contents>" }.joined() + "</ListBucketResult>"
        let listed = try S3Client.listPage(page).objects
        #expect(listed.count == 1000 && listed[999].key == "d/é999" && listed[999].size == 999 && listed[999].etag == "e999")
    }

    @Test("a listing's keys: url-encoded as AWS and MinIO send them (+ is a space, %2B a plus) only when the answer says so; a key that does not decode is refused, never taken as empty; the Host signed is the one sent (no default port)")
    func listingAndHost() throws {
        let aws = "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>t1</NextContinuationToken>"
            + "<Contents><Key>a+b%2Bc/%C3%BC%25.txt</Key><Size>3</Size><ETag>&quot;e1&quot;</ETag><LastModified>2026-12-01T00:00:00.000Z</LastModified></Contents></ListBucketResult>"
        let page = try S3Client.listPage(aws)
        #expect(page.objects.map(\.key) == ["a b+c/ü%.txt"] && page.objects[0].etag == "e1" && page.truncated && page.next == "t1")
        let raw = "<ListBucketResult><Contents><Key>100%.jpg</Key><Size>1</Size></Contents><Contents><Key>a+b</Key><Size>1</Size></Contents></ListBucketResult>"
        #expect(try S3Client.listPage(raw).objects.map(\.key) == ["100%.jpg", "a+b"], "not encoded: taken as written")
        #expect(throws: S3Error.self) { try S3Client.listPage("<R><EncodingType>url</EncodingType><Contents><Key>100%.jpg</Key></Contents></R>") }
        func host(_ endpoint: String) -> String { S3Client(location: S3Location(endpoint: endpoint, bucket: "b"), credentials: .init(accessKey: "a", secretKey: "s"), http: .shared).host }
        #expect(host("https://s3.example:443") == "s3.example" && host("http://s3.example:80") == "s3.example" && host("http://127.0.0.1:9000") == "127.0.0.1:9000")
        var virtual = S3Client(location: S3Location(endpoint: "https://s3.example", bucket: "b", pathStyle: false), credentials: .init(accessKey: "a", secretKey: "s"), http: .shared)
        virtual.attempts = 1
        #expect(virtual.host == "b.s3.example" && virtual.path("k") == "/k")
    }

    func client(_ moto: Moto, bucket: String, secret: String = "secret") -> S3Client {
        S3Client(location: S3Location(endpoint: moto.endpoint, bucket: bucket), credentials: .init(accessKey: "testing", secretKey: secret), http: .shared)
    }

    func makeBucket(_ c: S3Client) async throws {
        _ = try await c.send(.PUT, key: nil)
    }

    @Test("put, head with metadata, get, delete; keys with spaces, unicode, +, % and slashes; a listing in pages of 2 returns every key once, in order")
    func objects() async throws {
        let moto = try await Moto.shared()
        let c = client(moto, bucket: "objects-\(UUID().uuidString.prefix(8).lowercased())")
        try await makeBucket(c)
        let keys = ["a b/c.txt", "a b/ü.png", "p+q%r", "x/y/z", "zz"]
        for k in keys { try await c.put(k, ByteBuffer(string: "body of \(k)"), metadata: ["mtime": "1700000000.5", "mode": "644"]) }
        let h = try #require(try await c.head("a b/ü.png"))
        #expect(h.size == Int64("body of a b/ü.png".utf8.count) && h.metadata["mtime"] == "1700000000.5" && h.metadata["mode"] == "644", "\(h)")
        #expect(String(buffer: try await c.get("p+q%r")) == "body of p+q%r")
        #expect(try await c.head("missing") == nil)
        var listed: [String] = []
        var pages = 0
        try await c.listAll(prefix: "", page: 2) { listed += $0.map(\.key); pages += 1 }
        #expect(listed == keys.sorted() && pages == 3, "\(listed)")
        var under: [String] = []
        try await c.listAll(prefix: "a b/") { under += $0.map(\.key) }
        #expect(under == ["a b/c.txt", "a b/ü.png"])
        try await c.delete("zz")
        #expect(try await c.head("zz") == nil)
    }

    @Test("multipart: 3 parts, 2 at once, the object equals the file; an upload that fails at a part is aborted: no object, no upload left")
    func multipart() async throws {
        let moto = try await Moto.shared()
        let c = client(moto, bucket: "multi-\(UUID().uuidString.prefix(8).lowercased())")
        try await makeBucket(c)
        let part = 5 << 20
        let data = (0..<(2 * part + 1234)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 13)) }
        try await c.upload("big/file.bin", size: Int64(data.count), partSize: part, parallel: 2, metadata: ["mode": "600"]) { offset, length in
            ByteBuffer(bytes: data[Int(offset)..<Int(offset) + length])
        }
        #expect(Array(buffer: try await c.get("big/file.bin")) == data)
        #expect(try await c.head("big/file.bin")?.metadata["mode"] == "600")
        struct Broken: Error {}
        await #expect(throws: Broken.self) {
            try await c.upload("big/broken.bin", size: Int64(data.count), partSize: part, parallel: 1) { offset, length in
                if offset > 0 { throw Broken() }
                return ByteBuffer(bytes: data[Int(offset)..<Int(offset) + length])
            }
        }
        #expect(try await c.head("big/broken.bin") == nil, "no partial object")
        #expect(try await c.incompleteUploads(prefix: "big/").isEmpty, "the failed upload was aborted")
        // One left behind (a run killed mid-upload) is listed, and can be cleaned.
        let orphan = try await c.createMultipart("big/orphan.bin")
        #expect(try await c.incompleteUploads(prefix: "big/").map(\.uploadID) == [orphan])
        try await c.abortMultipart("big/orphan.bin", uploadID: orphan)
        #expect(try await c.incompleteUploads(prefix: "big/").isEmpty)
    }

    @Test("refused with the bucket named and the fix: a missing bucket; an endpoint that does not answer")
    func refusals() async throws {
        let moto = try await Moto.shared()
        let bucket = "refuse-\(UUID().uuidString.prefix(8).lowercased())"
        do { try await client(moto, bucket: bucket).list(prefix: "").objects.forEach { _ in }; Issue.record("listed a missing bucket") } catch let e as S3Error {
            #expect(e.code == "NoSuchBucket" && "\(e)".contains(bucket) && "\(e)".contains("does not exist"), "\(e)")
        }
        try await makeBucket(client(moto, bucket: bucket))
        let down = S3Client(location: S3Location(endpoint: "http://127.0.0.1:1", bucket: bucket), credentials: .init(accessKey: "a", secretKey: "b"), http: .shared, timeout: .seconds(5))
        await #expect(throws: (any Error).self) { try await down.checkBucket() }
    }

    @Test("a store behind TLS signed by its own CA: refused at once without the CA, naming the fix; served with it (caFile); temporary keys' session token is signed and sent")
    func customCA() async throws {
        let server = try await SwiftS3.shared()
        let tls = try await TLSProxy.start(to: server.port)
        defer { tls.stop() }
        let bucket = "tls-\(UUID().uuidString.prefix(8).lowercased())"
        try await makeBucket(swift(server, bucket: bucket))
        let location = S3Location(endpoint: tls.endpoint, bucket: bucket)
        let untrusted = S3Client(location: location, credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: try S3HTTP.client(caFile: nil))
        let started = Date()
        do { try await untrusted.checkBucket(); Issue.record("an untrusted certificate was taken") } catch let e as S3Error {
            #expect(e.code == "UntrustedCertificate" && "\(e)".contains("caSecret"), "\(e)")
        }
        #expect(Date().timeIntervalSince(started) < 20, "not retried: a certificate does not get trusted by waiting")
        let trusted = S3Client(location: location, credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: try S3HTTP.client(caFile: tls.caFile))
        try await trusted.put("a.txt", ByteBuffer(string: "over TLS"))
        #expect(String(buffer: try await trusted.get("a.txt")) == "over TLS")
        #expect(throws: StepError.self) { _ = try S3HTTP.client(caFile: "/etc/hostname") }
        // A session token goes in x-amz-security-token, signed: moto takes it.
        let moto = try await Moto.shared()
        var withToken = client(moto, bucket: "token-\(UUID().uuidString.prefix(8).lowercased())")
        withToken = S3Client(location: withToken.location, credentials: .init(accessKey: "AKIDEXAMPLE", secretKey: "secret", sessionToken: "FwoGZXIvYXdzEJr//token+/="), http: .shared)
        try await makeBucket(withToken)
        try await withToken.put("t.txt", ByteBuffer(string: "t"))
        #expect(String(buffer: try await withToken.get("t.txt")) == "t")
    }

    func swift(_ server: SwiftS3, bucket: String, secret: String = SwiftS3.secretKey, skew: TimeInterval = 0) -> S3Client {
        var c = S3Client(location: S3Location(endpoint: server.endpoint, bucket: bucket), credentials: .init(accessKey: SwiftS3.accessKey, secretKey: secret), http: .shared)
        c.clock = { Date().addingTimeInterval(skew) }
        return c
    }

    @Test("OpenStack Swift's S3 API checks what moto does not: the signature (a wrong secret is refused naming the fix), the clock (an hour off is refused as skew); objects, listing and a multipart upload land on disk")
    func swiftS3() async throws {
        let server = try await SwiftS3.shared()
        let bucket = "swift-\(UUID().uuidString.prefix(8).lowercased())"
        let c = swift(server, bucket: bucket)
        try await makeBucket(c)
        try await c.checkBucket()
        do { try await swift(server, bucket: bucket, secret: "wrong").checkBucket(); Issue.record("a wrong secret was taken") } catch let e as S3Error {
            #expect(e.status == 403 && "\(e)".contains("secret key is wrong"), "the check says which: \(e)")
        }
        do { _ = try await swift(server, bucket: bucket, secret: "wrong").list(prefix: ""); Issue.record("a wrong secret listed") } catch let e as S3Error {
            #expect(e.code == "SignatureDoesNotMatch" && "\(e)".contains("secret key is wrong") && "\(e)".contains(bucket), "\(e)")
        }
        do { _ = try await swift(server, bucket: bucket, skew: -3600).list(prefix: ""); Issue.record("a skewed clock was taken") } catch let e as S3Error {
            #expect(e.code == "RequestTimeTooSkewed" && "\(e)".contains("clock"), "\(e)")
        }
        try await c.put("dir/a.txt", ByteBuffer(string: "a"), metadata: ["mtime": "1700000000"])
        #expect(try await c.head("dir/a.txt")?.metadata["mtime"] == "1700000000")
        let part = 5 << 20
        let data = (0..<(part + 77)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try await c.upload("dir/big.bin", size: Int64(data.count), partSize: part, parallel: 2) { o, n in ByteBuffer(bytes: data[Int(o)..<Int(o) + n]) }
        #expect(Array(buffer: try await c.get("dir/big.bin")) == data)
        var keys: [String] = []
        try await c.listAll(prefix: "dir/", page: 1) { keys += $0.map(\.key) }
        #expect(keys == ["dir/a.txt", "dir/big.bin"])
        #expect(try await c.incompleteUploads(prefix: "dir/").isEmpty)
    }

    @Test("a connection refused or cut is tried again for requests that do the same twice (the store back within the back-off: the GET succeeds); a POST is never sent twice")
    func transportRetry() async throws {
        let server = try await SwiftS3.shared()
        let bucket = "retry-\(UUID().uuidString.prefix(8).lowercased())"
        let direct = swift(server, bucket: bucket)
        try await makeBucket(direct)
        try await direct.put("k", ByteBuffer(string: "still here"))
        let proxy = try TCPProxy.start(to: server.port)
        let port = proxy.port
        var c = S3Client(location: S3Location(endpoint: "http://127.0.0.1:\(port)", bucket: bucket), credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        c.attempts = 9
        c.timeout = .seconds(3)
        proxy.stop()
        let client = c
        let reading = Task { try await client.get("k") }
        try await Task.sleep(for: .milliseconds(300))
        let back = try TCPProxy.start(to: server.port, port: port)
        defer { back.stop() }
        #expect(String(buffer: try await reading.value) == "still here")
        back.stop()
        await #expect(throws: (any Error).self) { _ = try await client.createMultipart("never") }
        #expect(try await direct.incompleteUploads(prefix: "never").isEmpty, "no upload was begun by a retry")
    }
}
