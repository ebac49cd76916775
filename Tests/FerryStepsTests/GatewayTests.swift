@testable import FerrySteps
import FerryProtocol
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// `ferry gateway` over a Swift s3api target and a folder source, driven by boto3 (an
/// independent client) with the application's keys, and by Ferry's own client as the mover.
@Suite("Gateway (Swift s3api target, folder source, boto3 as the application)", .serialized, .timeLimit(.minutes(5)))
struct GatewayTests {
    struct Setup {
        var server: GatewayServer
        var target: S3Client
        var source: String
        var bucket: String
        var endpoint: String { "http://127.0.0.1:\(server.port)" }
        var app: Boto3 { Boto3(endpoint: endpoint, accessKey: "app-key", secretKey: "app-secret") }
        func client(key: String, secret: String) -> S3Client {
            S3Client(location: S3Location(endpoint: endpoint, bucket: bucket), credentials: .init(accessKey: key, secretKey: secret), http: .shared)
        }
    }

    func setup(prefix: String = "app") async throws -> Setup {
        let swift = try await SwiftS3.shared()
        let bucket = "gw-\(UUID().uuidString.prefix(8).lowercased())"
        let target = S3Client(location: S3Location(endpoint: swift.endpoint, bucket: bucket), credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        _ = try await target.send(.PUT, key: nil)
        let source = try makeTempDir("gw-source")
        for i in 0..<12 {
            try FileManager.default.createDirectory(atPath: "\(source)/img/\(i % 3)", withIntermediateDirectories: true)
            try Data("image \(i) ".utf8 + Data(repeating: UInt8(i), count: 100 * i)).write(to: URL(fileURLWithPath: "\(source)/img/\(i % 3)/p \(i).png"))
        }
        try Data("top".utf8).write(to: URL(fileURLWithPath: "\(source)/readme.txt"))
        let outside = try makeTempDir("gw-outside")
        try Data("secret".utf8).write(to: URL(fileURLWithPath: "\(outside)/passwd"))
        symlink(outside + "/passwd", source + "/img/link.png")
        let appKeys = try makeTempDir("gw-app-keys"), moverKeys = try makeTempDir("gw-mover-keys")
        for (dir, id, secret) in [(appKeys, "app-key", "app-secret"), (moverKeys, "mover-key", "mover-secret")] {
            try Data(id.utf8).write(to: URL(fileURLWithPath: "\(dir)/AWS_ACCESS_KEY_ID"))
            try Data(secret.utf8).write(to: URL(fileURLWithPath: "\(dir)/AWS_SECRET_ACCESS_KEY"))
        }
        let creds = try makeTempDir("gw-target-creds")
        try Data(SwiftS3.accessKey.utf8).write(to: URL(fileURLWithPath: creds + "/AWS_ACCESS_KEY_ID"))
        try Data(SwiftS3.secretKey.utf8).write(to: URL(fileURLWithPath: creds + "/AWS_SECRET_ACCESS_KEY"))
        let args = GatewayArguments(target: "s3://t@\(bucket)/\(prefix)", source: source, stores: ["t": .init(endpoint: swift.endpoint, credentialsDir: creds)],
                                    appKeysDir: appKeys, moverKeysDir: moverKeys, host: "127.0.0.1", port: 0, metricsPort: 0, resultFile: "")
        return Setup(server: try await args.start(), target: target, source: source, bucket: bucket)
    }

    @Test("reads fall through to the source and are copied to the target; writes and deletes reach the target only, a delete hides the source's copy; listings merge both sides in key order across pages and folders; the metrics count each")
    func readWriteList() async throws {
        let s = try await setup()
        defer { Task { await s.server.close() } }
        let app = s.app
        // A source hit: the bytes, then (in the background) the object on the target.
        let got = try await app.run("print(s3.get_object(Bucket=\"\(s.bucket)\", Key=\"img/1/p 4.png\")[\"Body\"].read().decode(\"latin-1\"))")
        #expect(got.hasPrefix("image 4 "), "\(got)")
        #expect(try await eventually(timeout: 30) { try await s.target.head("app/img/1/p 4.png") != nil }, "copied to the target")
        #expect(try await s.target.head("app/img/1/p 4.png")?.metadata["mtime"] != nil)
        let ranged = try await app.run("print(s3.get_object(Bucket=\"\(s.bucket)\", Key=\"readme.txt\", Range=\"bytes=1-2\")[\"Body\"].read().decode())")
        #expect(ranged.trimmingCharacters(in: .whitespacesAndNewlines) == "op")
        let tail = try await app.run("print(s3.get_object(Bucket=\"\(s.bucket)\", Key=\"readme.txt\", Range=\"bytes=-2\")[\"Body\"].read().decode())")
        #expect(tail.trimmingCharacters(in: .whitespacesAndNewlines) == "op", "the last two bytes, from the source")
        // A write: on the target, not in the source folder.
        _ = try await app.run("s3.put_object(Bucket=\"\(s.bucket)\", Key=\"img/new.png\", Body=b\"fresh\", ContentType=\"image/png\")")
        #expect(String(buffer: try await s.target.get("app/img/new.png")) == "fresh")
        #expect(!FileManager.default.fileExists(atPath: s.source + "/img/new.png"))
        // A delete of a key only the source has: gone for the application, still in the folder.
        _ = try await app.run("s3.delete_object(Bucket=\"\(s.bucket)\", Key=\"img/2/p 5.png\")")
        let deleted = try await app.run("""
            try:
                s3.head_object(Bucket="\(s.bucket)", Key="img/2/p 5.png"); print("found")
            except botocore.exceptions.ClientError as e: print(e.response["Error"]["Code"])
            """)
        #expect(deleted.trimmingCharacters(in: .whitespacesAndNewlines) == "404", "\(deleted)")
        #expect(FileManager.default.fileExists(atPath: s.source + "/img/2/p 5.png"))
        // Listing in pages of 3: both sides, once each, in order, the deleted one and the link left out.
        let listed = try await app.run("""
            keys = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="\(s.bucket)", PaginationConfig={"PageSize": 3}):
                keys += [o["Key"] for o in page.get("Contents", [])]
            print(json.dumps(keys))
            """)
        let keys = try JSONDecoder().decode([String].self, from: Data(listed.utf8))
        var expected = (0..<12).filter { $0 != 5 }.map { "img/\($0 % 3)/p \($0).png" } + ["img/new.png", "readme.txt"]
        expected.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(keys == expected, "\(keys)")
        let folders = try await app.run("""
            r = s3.list_objects_v2(Bucket="\(s.bucket)", Prefix="img/", Delimiter="/")
            print(json.dumps([p["Prefix"] for p in r.get("CommonPrefixes", [])] + [o["Key"] for o in r.get("Contents", [])]))
            """)
        #expect(try JSONDecoder().decode([String].self, from: Data(folders.utf8)) == ["img/0/", "img/1/", "img/2/", "img/new.png"], "\(folders)")
        // A multipart upload through the gateway (boto3's own, 5 MiB parts): one object on the target.
        let uploaded = try await app.run("""
            import boto3.s3.transfer, io
            data = bytes(range(256)) * (12 * 4096)
            s3.upload_fileobj(io.BytesIO(data), "\(s.bucket)", "big/upload.bin",
                              Config=boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, use_threads=False))
            print(s3.head_object(Bucket="\(s.bucket)", Key="big/upload.bin")["ETag"])
            """)
        #expect(uploaded.contains("-3"), "three parts: \(uploaded)")
        #expect(try await s.target.head("app/big/upload.bin")?.size == 12 << 20)
        // DeleteObjects, and rclone (ListObjects v1 by default) sees the same merged tree.
        _ = try await app.run("s3.delete_objects(Bucket=\"\(s.bucket)\", Delete={\"Objects\": [{\"Key\": \"img/0/p 3.png\"}, {\"Key\": \"img/0/p 6.png\"}]})")
        for gone in ["img/0/p 3.png", "img/0/p 6.png"] {
            #expect(try await s.client(key: "app-key", secret: "app-secret").head(gone) == nil, "\(gone)")
        }
        let rclone = try await runCommand("/usr/bin/env", ["-u", "AWS_CA_BUNDLE", "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_GW_TYPE=s3", "RCLONE_CONFIG_GW_PROVIDER=Other",
                                                           "RCLONE_CONFIG_GW_ENDPOINT=\(s.endpoint)", "RCLONE_CONFIG_GW_ACCESS_KEY_ID=app-key", "RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=app-secret",
                                                           "RCLONE_CONFIG_GW_FORCE_PATH_STYLE=true", "rclone", "lsf", "-R", "--files-only", "gw:\(s.bucket)"], timeout: 120)
        let seenByRclone = Set(rclone.stdout.split(separator: "\n").map(String.init))
        #expect(rclone.status == 0 && seenByRclone == Set(keys).subtracting(["img/0/p 3.png", "img/0/p 6.png"]).union(["big/upload.bin"]), "\(rclone.combined.prefix(800))")
        let metrics = s.server.service.metrics
        #expect(metrics.value("ferry_gateway_source_hits_total") >= 2 && metrics.value("ferry_gateway_backfilled_objects_total") >= 1 && metrics.value("ferry_gateway_writes_total") == 5)
        let text = try await runCommand("/usr/bin/curl", ["-s", "http://127.0.0.1:\(s.server.metricsPort!)/metrics"], timeout: 30).stdout
        #expect(text.contains("ferry_gateway_source_hits_total ") && text.contains("ferry_gateway_backfilled_bytes_total "), "\(text)")
    }

    @Test("objects larger than the gateway holds are streamed whole from either side (a 6 MiB target object, a 12 MiB source file), ranges across a piece's edge included; a large source miss is copied to the target in parts, intact, and an application write during that copy stands; a source file replaced mid-copy is never copied torn")
    func largeObjects() async throws {
        let s = try await setup()
        defer { Task { await s.server.close() } }
        var random = SystemRandomNumberGenerator()
        let big = Data((0..<(12 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        try big.write(to: URL(fileURLWithPath: s.source + "/video.bin"))
        let onTarget = Data((0..<(6 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        try await s.target.put("app/clip.bin", ByteBuffer(bytes: onTarget))
        func digest(_ key: String, range: String? = nil) async throws -> String {
            try await s.app.run("""
                import hashlib
                kw = dict(Range="\(range ?? "")") if "\(range ?? "")" else {}
                r = s3.get_object(Bucket="\(s.bucket)", Key="\(key)", **kw)
                b = r["Body"].read(); print(hashlib.sha256(b).hexdigest(), len(b), r["ContentLength"])
                """).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func sha(_ d: Data) -> String { SHA256Hash.of(ByteBuffer(bytes: d)).map { String(format: "%02x", $0) }.joined() }
        #expect(try await digest("clip.bin") == "\(sha(onTarget)) \(onTarget.count) \(onTarget.count)", "a target hit, streamed")
        #expect(try await digest("video.bin") == "\(sha(big)) \(big.count) \(big.count)", "a source hit, streamed")
        let edge = big[1_048_000..<3_200_000]
        #expect(try await digest("video.bin", range: "bytes=1048000-3199999") == "\(sha(edge)) \(edge.count) \(edge.count)", "a range across pieces")
        let tail = onTarget.suffix(3_000_000)
        #expect(try await digest("clip.bin", range: "bytes=-3000000") == "\(sha(Data(tail))) \(tail.count) \(tail.count)")
        // The miss was copied over in parts: the target's bytes are the file's.
        #expect(try await eventually(timeout: 60) { try await s.target.head("app/video.bin") != nil }, "backfilled")
        let copied = try await s.target.head("app/video.bin")
        #expect(copied?.size == Int64(big.count) && copied?.etag.hasSuffix("-2") == true, "\(String(describing: copied))")
        #expect(Data(try await s.target.get("app/video.bin").readableBytesView) == big)
        // The application writes a key while its large backfill is under way: its write stands, whatever the timing.
        try big.write(to: URL(fileURLWithPath: s.source + "/video2.bin"))
        _ = try await digest("video2.bin")
        _ = try await s.app.run("s3.put_object(Bucket=\"\(s.bucket)\", Key=\"video2.bin\", Body=b\"the application's\")")
        #expect(try await eventually(timeout: 60) { s.server.service.backfills.withLock { $0.isEmpty } }, "the backfill ended")
        #expect(String(buffer: try await s.target.get("app/video2.bin")) == "the application's")
        #expect(try await s.target.head("app/video2.bin")?.metadata[GatewayService.writer] == "app", "tagged as the application's")
        #expect(try await s.target.incompleteUploads(prefix: "app/").isEmpty, "a superseded copy leaves no upload behind")
        // Held by neither side: a 6 MiB object and a 1.5 GiB (sparse) file come as streams of pieces of at most 1 MiB.
        guard case .stream(let length, _)? = try await BucketSide(client: s.target, prefix: "app").open("clip.bin", range: nil)?.1 else {
            Issue.record("the target's 6 MiB object was held, not streamed")
            return
        }
        #expect(length == Int64(onTarget.count))
        let huge = s.source + "/huge.iso"
        #expect(FileManager.default.createFile(atPath: huge, contents: nil) && truncate(huge, 3 << 29) == 0)
        guard case .stream(let size, let stream)? = try await FolderSide(root: s.source).open("huge.iso", range: nil)?.1 else {
            Issue.record("a 1.5 GiB file was not streamed")
            return
        }
        let seen = Locked((bytes: Int64(0), largest: 0))
        try await stream { piece in seen.withLock { $0.bytes += Int64(piece.readableBytes); $0.largest = max($0.largest, piece.readableBytes) } }
        #expect(size == 3 << 29 && seen.withLock { $0.bytes } == 3 << 29 && seen.withLock { $0.largest } <= 1 << 20)
        // Replaced between two parts: the copy is refused, not torn.
        let first = FolderSide.info("k", { var st = stat(); st.st_size = 10; st.st_mtim.tv_sec = 1; return st }())
        var later = first
        later.metadata["mtime"] = "2.000000000"
        #expect(GatewayService.sameVersion(first, first) && !GatewayService.sameVersion(first, later))
        #expect(!GatewayService.sameVersion(ObjectInfo(key: "k", size: 1, etag: "a", lastModified: ""), ObjectInfo(key: "k", size: 1, etag: "b", lastModified: "")))
    }

    @Test("request bodies held at once have a budget: past it an upload is asked to come back (503 SlowDown) before its body is read, a body over 1 GiB is refused on its Content-Length (413), a chunked body over the budget is dropped as it comes; room is given back once answered")
    func bodyBudget() async throws {
        let budget = GatewayServer.BodyBudget(limit: 4096)
        let channel = try await GatewayServer.bind(host: "127.0.0.1", port: 0, budget: budget) { r in GatewayResponse(status: 200, body: ByteBuffer(string: "\(r.body.readableBytes)")) }
        defer { channel.close(promise: nil) }
        let url = "http://127.0.0.1:\(channel.localAddress!.port!)/b/k"
        let file = try makeTempDir("gw-budget") + "/body"
        func put(_ size: Int, _ extra: [String] = []) async throws -> String {
            try Data(repeating: 7, count: size).write(to: URL(fileURLWithPath: file))
            return try await runCommand("/usr/bin/curl", ["-s", "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary", "@" + file, "-w", " %{http_code}", url] + extra, timeout: 30).stdout
        }
        #expect(try await put(3000) == "3000 200")
        #expect(try await put(3000) == "3000 200", "room given back after the first")
        let over = try await put(5000)
        #expect(over.hasSuffix(" 503") && over.contains("SlowDown"), "\(over)")
        let huge = try await runCommand("/usr/bin/curl", ["-s", "-X", "PUT", "-H", "Content-Length: \(2 << 30)", "-H", "Expect: 100-continue", "-d", "", "-w", " %{http_code}", "-m", "20", url], timeout: 30).stdout
        #expect(huge.contains("EntityTooLarge") && huge.hasSuffix(" 413"), "\(huge)")
        let chunked = try await put(6000, ["-H", "Transfer-Encoding: chunked"])
        #expect(chunked.hasSuffix(" 503"), "\(chunked)")
        #expect(try await eventually(timeout: 30) { budget.held == 0 }, "everything given back: \(budget.held)")
    }

    @Test("hostile requests: a wrong secret, no signature, a stale date and a body other than the one signed are refused; a key that climbs out of the folder or goes through a link is not there; the tombstones' keys are not the application's; the mover never writes over the application's object (even one whose writer tag the application forged) or a deleted key, and sees the target alone")
    func hostile() async throws {
        let s = try await setup(prefix: "")
        defer { Task { await s.server.close() } }
        let wrong = Boto3(endpoint: s.endpoint, accessKey: "app-key", secretKey: "guess")
        let refused = try await wrong.run("""
            try:
                s3.list_objects_v2(Bucket="\(s.bucket)"); print("listed")
            except botocore.exceptions.ClientError as e: print(e.response["Error"]["Code"])
            """)
        #expect(refused.contains("SignatureDoesNotMatch"), "\(refused)")
        let unsigned = try await runCommand("/usr/bin/curl", ["-s", "\(s.endpoint)/\(s.bucket)/readme.txt"], timeout: 30).stdout
        #expect(unsigned.contains("AccessDenied") && !unsigned.contains("top"), "\(unsigned)")
        var stale = s.client(key: "app-key", secret: "app-secret")
        stale.clock = { Date().addingTimeInterval(-3600) }
        await #expect(throws: S3Error.self) { _ = try await stale.get("readme.txt") }
        let app = s.client(key: "app-key", secret: "app-secret")
        #expect(String(buffer: try await app.get("readme.txt")) == "top")
        // A body other than the one signed.
        let tampered = try await app.send(.PUT, key: "x.txt", body: ByteBuffer(string: "other"), payloadHash: S3Signer.hex(Array(SHA256Hash.of(ByteBuffer(string: "signed")))),
                                          expect: [200, 400])
        #expect(tampered.status == 400 && String(buffer: tampered.body).contains("XAmzContentSHA256Mismatch"))
        for key in ["../gw-outside/passwd", "img/../../passwd", "img/link.png", "/etc/passwd"] {
            let r = try await app.send(.GET, key: key, expect: [200, 400, 404])
            #expect(r.status != 200 && !String(buffer: r.body).contains("secret"), "\(key): \(r.status)")
        }
        let stone = try await app.send(.PUT, key: ".ferry-tombstones/readme.txt", body: ByteBuffer(string: "x"), expect: [200, 403])
        #expect(stone.status == 403)
        // The mover: never over the application's object or a deleted key.
        let mover = s.client(key: "mover-key", secret: "mover-secret")
        try await app.put("mine.txt", ByteBuffer(string: "the application's"))
        let over = try await mover.send(.PUT, key: "mine.txt", body: ByteBuffer(string: "the source's"), expect: [200, 412])
        let kept = String(buffer: try await s.target.get("mine.txt"))
        #expect(over.status == 412 && kept == "the application's")
        // An application that forges the writer tag still writes as the application: the mover may not replace it.
        try await app.put("forged.txt", ByteBuffer(string: "the application's"), metadata: [GatewayService.writer: "mover"])
        #expect(try await s.target.head("forged.txt")?.metadata[GatewayService.writer] == "app")
        #expect(try await mover.send(.PUT, key: "forged.txt", body: ByteBuffer(string: "the source's"), expect: [200, 412]).status == 412)
        try await app.delete("readme.txt")
        let back = try await mover.send(.PUT, key: "readme.txt", body: ByteBuffer(string: "top"), expect: [200, 412])
        #expect(back.status == 412, "a deleted key does not come back")
        #expect(try await mover.send(.PUT, key: "img/0/p 0.png", body: ByteBuffer(string: "image 0 "), expect: [200]).status == 200, "a free key is written")
        var seen: [String: Int64] = [:]
        try await mover.listAll(prefix: "") { for o in $0 { seen[o.key] = o.size } }
        #expect(seen["mine.txt"] != nil && seen["img/0/p 0.png"] != nil && seen["readme.txt"] == -1 && seen["img/1/p 1.png"] == nil, "the target, and the deleted key as taken: \(seen)")
        await #expect(throws: S3Error.self) { try await mover.delete("mine.txt") }
        // The mover may take back its own copy (one it found torn), and write it again.
        try await mover.delete("img/0/p 0.png")
        #expect(try await mover.send(.PUT, key: "img/0/p 0.png", body: ByteBuffer(string: "image 0 "), expect: [200]).status == 200)
        #expect(try await mover.send(.PUT, key: "img/0/p 0.png", body: ByteBuffer(string: "image 0 "), expect: [200]).status == 200, "over its own copy")
        // Sub-resources and server-side copies are refused, never taken as plain object requests.
        for (method, query, headers) in [(HTTPMethod.PUT, [("tagging", "")], [String: String]()), (.DELETE, [("tagging", "")], [:]), (.GET, [("versionId", "v1")], [:]),
                                         (.PUT, [("acl", "")], [:]), (.PUT, [], ["x-amz-copy-source": "/\(s.bucket)/mine.txt"])] {
            let r = try await app.send(method, key: "mine.txt", query: query, headers: headers, body: method == .PUT ? ByteBuffer(string: "<Tagging/>") : nil, expect: [200, 204, 501])
            #expect(r.status == 501, "\(method) \(query) \(headers): \(r.status)")
        }
        #expect(String(buffer: try await s.target.get("mine.txt")) == "the application's", "untouched by the refused requests")
        // Conditional writes, held to what the application sees (the source's object too).
        let exists = try await app.send(.PUT, key: "img/1/p 1.png", headers: ["If-None-Match": "*"], body: ByteBuffer(string: "x"), expect: [200, 412])
        #expect(exists.status == 412, "the source has it")
        #expect(try await app.send(.PUT, key: "fresh.txt", headers: ["If-None-Match": "*"], body: ByteBuffer(string: "x"), expect: [200, 412]).status == 200)
        // A folder marker the application writes is read back, though it is no file name.
        try await app.put("dir/", ByteBuffer())
        #expect(try await app.head("dir/") != nil)
        // Content-Type kept.
        let typed = try await app.send(.PUT, key: "pic.png", headers: ["Content-Type": "image/png"], body: ByteBuffer(string: "png"), expect: [200])
        #expect(typed.status == 200)
        #expect(try await app.send(.HEAD, key: "pic.png").headers.first(name: "content-type") == "image/png")
        // More deletes than a listing page: the tombstones never hide the keys after them.
        for i in 0..<130 { try await app.put(String(format: "a/k%03d", i), ByteBuffer(string: "x")) }
        for i in 0..<130 { try await app.delete(String(format: "a/k%03d", i)) }
        try await app.put("zz.txt", ByteBuffer(string: "last"))
        var listed: [String] = []
        var token: String?
        repeat {
            let page = try await app.list(prefix: "", continuation: token, maxKeys: 7)
            listed += page.objects.map(\.key)
            token = page.next
        } while token != nil
        #expect(listed.contains("zz.txt") && listed.contains("img/1/p 1.png") && !listed.contains { $0.hasPrefix("a/") || $0.hasPrefix(".ferry") }, "\(listed)")
        #expect(listed == listed.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } && Set(listed).count == listed.count)
        var moverSaw: [String] = []
        try await mover.listAll(prefix: "") { moverSaw += $0.map(\.key) }
        #expect(moverSaw.contains("zz.txt") && moverSaw.filter { $0.hasPrefix("a/") }.count == 130, "the mover sees the target and the deleted keys: \(moverSaw.count)")
    }
}
