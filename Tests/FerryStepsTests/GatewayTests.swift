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

    @Test("hostile requests: a wrong secret, no signature, a stale date and a body other than the one signed are refused; a key that climbs out of the folder or goes through a link is not there; the tombstones' keys are not the application's; the mover never writes over the application's object or a deleted key, and sees the target alone")
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
