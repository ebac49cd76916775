@testable import FerrySteps
import FerryProtocol
import Foundation
import NIOCore
import TestSupport
import Testing

/// A folder uploaded to a bucket (``FolderToBucket``) on OpenStack Swift's S3 API, checked by
/// an independent client (boto3).
@Suite("Folder to bucket (Swift s3api, boto3 as the checker)", .serialized, .timeLimit(.minutes(5)))
struct FolderToBucketTests {
    func bucket(_ server: SwiftS3) async throws -> S3Client {
        let c = S3Client(location: S3Location(endpoint: server.endpoint, bucket: "tree-\(UUID().uuidString.prefix(8).lowercased())"),
                         credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        _ = try await c.send(.PUT, key: nil)
        return c
    }

    /// 3 folders of 40 small files, one 12 MB file, a symlink and a name that is not UTF-8.
    func tree() throws -> String {
        let root = try makeTempDir("f2b")
        for d in ["docs", "img", "deep/er"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true)
            for i in 0..<40 { try Data("\(d) file \(i) ".utf8 + Data(repeating: UInt8(i), count: i * 37)).write(to: URL(fileURLWithPath: "\(root)/\(d)/f \(i) ü.txt")) }
        }
        try Data((0..<(12 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }).write(to: URL(fileURLWithPath: "\(root)/img/big.bin"))
        chmod("\(root)/img/big.bin", 0o640)
        // Files older than the upload (a file changed in the second of its upload is sent again on the next pass).
        for p in try FileManager.default.subpathsOfDirectory(atPath: root) {
            var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 123), timespec(tv_sec: time(nil) - 3600, tv_nsec: 123)]
            _ = utimensat(AT_FDCWD, "\(root)/\(p)", &times, 0)
        }
        symlink("docs", "\(root)/link")
        let bad = Array("\(root)/docs/bad-".utf8) + [0xFF, 0xFE] + Array(".txt".utf8) + [0]
        let fd = bad.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        close(fd)
        return root
    }

    func mover(_ root: String, _ c: S3Client, delete: Bool = false, checksum: Bool = false, bandwidth: Int64 = 0) -> FolderToBucket {
        FolderToBucket(source: RawPath(root), client: c, prefix: "app/files", parallelism: 8, partSize: 5 << 20, partsAtOnce: 2, delete: delete, checksum: checksum,
                       control: MoverControl(bandwidth: bandwidth, window: nil), say: { _ in })
    }

    /// What boto3 sees under the prefix: key → size.
    func boto3(_ server: SwiftS3, _ c: S3Client) async throws -> [String: Int] {
        let script = """
            import boto3, botocore, json
            s3 = boto3.client("s3", endpoint_url="\(server.endpoint)", aws_access_key_id="\(SwiftS3.accessKey)", aws_secret_access_key="\(SwiftS3.secretKey)",
                              region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}))
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="\(c.location.bucket)", Prefix="app/files/"):
                for o in page.get("Contents", []): out[o["Key"]] = o["Size"]
            print(json.dumps(out))
            """
        let r = try await runCommand("/usr/bin/env", ["PYTHONPATH=\(repoRoot)/.tools/python/moto", "python3", "-c", script], timeout: 120)
        guard r.status == 0 else { throw TestServersError.startFailed(r.combined) }
        return try JSONDecoder().decode([String: Int].self, from: Data(r.stdout.utf8))
    }

    @Test("every regular file arrives as an object (the 12 MB one in parts), mtime and mode in its metadata; a link and a name that is not UTF-8 are named, not skipped silently; per-folder counts agree; boto3 sees the same keys and sizes; a second run uploads nothing, at once; a changed file only that one, as does a touched one; checksum mode finds what size and mtime cannot and checks every ETag; with delete, a removed file's object goes")
    func upload() async throws {
        let server = try await SwiftS3.shared()
        let c = try await bucket(server)
        let root = try tree()
        // What a killed run leaves: an upload begun and never finished (invisible), cleaned by the next run; one elsewhere in the bucket is not the mover's.
        let orphan = try await c.createMultipart("app/files/img/big.bin")
        let elsewhere = try await c.createMultipart("other/upload.bin")
        let theirs = try await c.createMultipart("app/files/uploading-now.bin")
        try await Task.sleep(for: .seconds(1.1))
        let r = try await ProcessRun.thread { try mover(root, c).run() }
        #expect(r.filesCopied == 121 && r.verify.differing == 0, "\(r)")
        #expect(try await c.incompleteUploads(prefix: "app/").map(\.uploadID) == [theirs], "the orphan \(orphan) was aborted; an upload of a key the folder does not have is someone else's")
        #expect(try await c.incompleteUploads(prefix: "other/").map(\.uploadID) == [elsewhere], "outside the prefix: left alone")
        try await c.abortMultipart("other/upload.bin", uploadID: elsewhere)
        try await c.abortMultipart("app/files/uploading-now.bin", uploadID: theirs)
        #expect(r.errors.count == 2 && r.errors.contains { $0.hasPrefix("link: not a regular file") } && r.errors.contains { $0.contains("not UTF-8") }, "\(r.errors)")
        #expect(r.verify.folders["img"] == FolderCount(sourceFiles: 41, sourceBytes: r.verify.folders["img"]!.sourceBytes, targetFiles: 41, targetBytes: r.verify.folders["img"]!.sourceBytes))
        let seen = try await boto3(server, c)
        #expect(seen.count == 121 && seen["app/files/img/big.bin"] == 12 << 20 && seen["app/files/deep/er/f 3 ü.txt"] != nil, "\(seen.keys.sorted().prefix(5))")
        // rclone, a second independent client, lists the same keys and sizes.
        let rclone = try await runCommand("/usr/bin/env", ["-u", "AWS_CA_BUNDLE", "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_SW_TYPE=s3", "RCLONE_CONFIG_SW_PROVIDER=Other",
                                                           "RCLONE_CONFIG_SW_ENDPOINT=\(server.endpoint)", "RCLONE_CONFIG_SW_ACCESS_KEY_ID=\(SwiftS3.accessKey)",
                                                           "RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=\(SwiftS3.secretKey)", "RCLONE_CONFIG_SW_FORCE_PATH_STYLE=true",
                                                           "rclone", "lsjson", "-R", "--files-only", "sw:\(c.location.bucket)/app/files"], timeout: 120)
        let listed = try JSONDecoder().decode([RcloneEntry].self, from: Data(rclone.stdout.utf8))
        #expect(rclone.status == 0 && listed.count == 121 && listed.first { $0.Path == "img/big.bin" }?.Size == 12 << 20, "\(rclone.stderr.prefix(500))")
        let meta = try #require(try await c.head("app/files/img/big.bin")).metadata
        var st = stat()
        stat("\(root)/img/big.bin", &st)
        #expect(meta["mode"] == "640" && meta["mtime"]?.hasPrefix("\(st.st_mtim.tv_sec).") == true, "\(meta)")
        #expect(Array(buffer: try await c.get("app/files/img/big.bin")) == Array(try Data(contentsOf: URL(fileURLWithPath: "\(root)/img/big.bin"))))
        let again = try await ProcessRun.thread { try mover(root, c).run() }
        #expect(again.filesCopied == 0 && again.filesSkipped == 121, "\(again)")
        // A changed file (same size, written at once): only it goes again.
        try Data("docs file 7 ".utf8 + Data(repeating: 9, count: 7 * 37)).write(to: URL(fileURLWithPath: "\(root)/docs/f 7 ü.txt"))
        let changed = try await ProcessRun.thread { try mover(root, c).run() }
        #expect(changed.filesCopied == 1, "\(changed)")
        #expect(String(buffer: try await c.get("app/files/docs/f 7 ü.txt")).hasPrefix("docs file 7 \u{9}"))
        // Touched (same bytes, another mtime): sent again, so the object keeps the file's mtime.
        var touched = [timespec(tv_sec: 1_600_000_000, tv_nsec: 5), timespec(tv_sec: 1_600_000_000, tv_nsec: 5)]
        _ = utimensat(AT_FDCWD, "\(root)/docs/f 8 ü.txt", &touched, 0)
        let retouched = try await ProcessRun.thread { try mover(root, c).run() }
        let retouchedMeta = try await c.head("app/files/docs/f 8 ü.txt")?.metadata
        #expect(retouched.filesCopied == 1 && retouchedMeta?["mtime"] == "1600000000.000000005", "\(retouched)")
        // Checksum mode: every ETag (the 12 MB one's of 3 parts) matches the file's bytes, so nothing is sent.
        let same = try await ProcessRun.thread { try mover(root, c, checksum: true).run() }
        #expect(same.filesCopied == 0 && same.filesSkipped == 121 && same.verify.mode == "checksum" && same.verify.differing == 0, "\(same)")
        // Other bytes of the same size, the mtime put back: size and mtime cannot tell, the contents can.
        var st9 = stat()
        stat("\(root)/docs/f 9 ü.txt", &st9)
        try Data("DOCS FILE 9 ".utf8 + Data(repeating: 9, count: 9 * 37)).write(to: URL(fileURLWithPath: "\(root)/docs/f 9 ü.txt"))
        var back = [st9.st_mtim, st9.st_mtim]
        _ = utimensat(AT_FDCWD, "\(root)/docs/f 9 ü.txt", &back, 0)
        let quick = try await ProcessRun.thread { try mover(root, c).run() }
        #expect(quick.filesCopied == 0, "size and mtime alone: as rsync's quick check, the same")
        let deep = try await ProcessRun.thread { try mover(root, c, checksum: true).run() }
        #expect(deep.filesCopied == 1 && deep.verify.differing == 0, "\(deep)")
        #expect(String(buffer: try await c.get("app/files/docs/f 9 ü.txt")).hasPrefix("DOCS FILE 9"))
        try FileManager.default.removeItem(atPath: "\(root)/docs/f 1 ü.txt")
        let pruned = try await ProcessRun.thread { try mover(root, c, delete: true).run() }
        #expect(pruned.verify.removed == 1 && pruned.verify.differing == 0, "\(pruned)")
        #expect(try await c.head("app/files/docs/f 1 ü.txt") == nil)
    }

    @Test("the bandwidth limit holds the upload back: 3 MB at 1 MB/s takes at least 2 s")
    func bandwidth() async throws {
        let server = try await SwiftS3.shared()
        let c = try await bucket(server)
        let root = try makeTempDir("f2b-bw")
        for i in 0..<3 { try Data(repeating: UInt8(i), count: 1 << 20).write(to: URL(fileURLWithPath: "\(root)/\(i).bin")) }
        let started = Date()
        let r = try await ProcessRun.thread { try mover(root, c, bandwidth: 1 << 20).run() }
        #expect(r.filesCopied == 3)
        #expect(Date().timeIntervalSince(started) >= 2.0, "a lower bound only: it holds however slow the machine is")
    }

    @Test("the gateway removed before the copy ended: a file the application deleted through it (its tombstone in the bucket) is not brought back, even with delete; the tombstone stays; an object the application wrote through it is neither replaced by the folder's file nor removed by delete")
    func tombstonesHeldWithoutGateway() async throws {
        let server = try await SwiftS3.shared()
        let c = try await bucket(server)
        let root = try makeTempDir("f2b-stones")
        for name in ["kept.txt", "gone.txt", "again.txt"] { try Data("old \(name)".utf8).write(to: URL(fileURLWithPath: "\(root)/\(name)")) }
        try await c.put("app/files/.ferry-tombstones/gone.txt", ByteBuffer())
        // What the gateway leaves for the application's writes: its tag.
        try await c.put("app/files/again.txt", ByteBuffer(string: "the application's"), metadata: [GatewayService.writer: "app"])
        try await c.put("app/files/new-upload.txt", ByteBuffer(string: "only the application has it"), metadata: [GatewayService.writer: "app"])
        try await c.put("app/files/removed-from-folder.txt", ByteBuffer(string: "a copy the mover made"), metadata: ["mtime": "1.000000000", "mode": "644"])
        let r = try await ProcessRun.thread { try mover(root, c, delete: true).run() }
        #expect(r.errors.isEmpty && r.verify.differing == 0 && r.verify.removed == 1, "\(r)")
        #expect(try await c.head("app/files/new-upload.txt") != nil, "the application's own object: not removed by delete")
        #expect(try await c.head("app/files/removed-from-folder.txt") == nil, "the mover's copy of a file gone from the folder: removed")
        #expect(try await c.head("app/files/kept.txt") != nil)
        #expect(try await c.head("app/files/gone.txt") == nil, "deleted by the application: not copied again")
        #expect(try await c.head("app/files/.ferry-tombstones/gone.txt") != nil, "the tombstone stays")
        #expect(String(buffer: try await c.get("app/files/again.txt")) == "the application's", "the application's write is not replaced by the folder's file")
        let folded = ObjectMatch.foldTombstones([Array(".ferry-tombstones/a".utf8): 1, Array(".ferry-tombstones/b".utf8): 1, Array("b".utf8): 5, Array(".ferry-tombstones/".utf8): 1]) { -1 }
        #expect(folded == [Array("a".utf8): -1, Array("b".utf8): 5])
    }

    @Test("a missing bucket is refused before anything is read or written, naming it")
    func missingBucket() async throws {
        let server = try await SwiftS3.shared()
        let c = S3Client(location: S3Location(endpoint: server.endpoint, bucket: "nope-\(UUID().uuidString.prefix(6).lowercased())"),
                         credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        let root = try makeTempDir("f2b-missing")
        do { _ = try await ProcessRun.thread { try mover(root, c).run() }; Issue.record("uploaded into a missing bucket") } catch {
            #expect("\(error)".contains(c.location.bucket) && (error as? StepError)?.changedNothing == true, "\(error)")
        }
    }

    @Test("ferry mover files --copy DIR=s3://bucket/prefix and back: the credentials from a mounted Secret's files, never argv; the result line counts the files; a bucket name S3 refuses, or missing keys, are refused naming the fix")
    func cli() async throws {
        let server = try await SwiftS3.shared()
        let c = try await bucket(server)
        let root = try makeTempDir("f2b-cli")
        for i in 0..<25 { try Data("file \(i)".utf8).write(to: URL(fileURLWithPath: "\(root)/\(i).txt")) }
        let creds = try makeTempDir("s3-creds")
        try Data(SwiftS3.accessKey.utf8).write(to: URL(fileURLWithPath: creds + "/AWS_ACCESS_KEY_ID"))
        try Data(SwiftS3.secretKey.utf8).write(to: URL(fileURLWithPath: creds + "/AWS_SECRET_ACCESS_KEY"))
        func run(_ target: String, creds dir: String?) async throws -> CommandResult {
            let args = FileSyncArguments(copies: [.init(source: root, target: target)], parallelism: 4, controlPort: -1,
                                         s3: .init(endpoint: server.endpoint, credentialsDir: dir), resultFile: "")
            return try await runCommand(repoRoot + "/.build/debug/ferry", args.argv, environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""], timeout: 120)
        }
        let ok = try await run("s3://\(c.location.bucket)/up/load", creds: creds)
        #expect(ok.status == 0 && ok.stdout.contains(#""filesCopied":25"#), "\(ok.combined)")
        #expect(!ok.combined.contains(SwiftS3.secretKey), "the secret never printed")
        var keys: [String] = []
        try await c.listAll(prefix: "up/load/") { keys += $0.map(\.key) }
        #expect(keys.count == 25)
        // And back: the bucket as the source, a folder as the target.
        let back = try makeTempDir("f2b-back")
        let down = FileSyncArguments(copies: [.init(source: "s3://\(c.location.bucket)/up/load", target: back)], parallelism: 4, controlPort: -1,
                                     s3: .init(endpoint: server.endpoint, credentialsDir: creds), resultFile: "")
        let downloaded = try await runCommand(repoRoot + "/.build/debug/ferry", down.argv, timeout: 120)
        #expect(downloaded.status == 0 && downloaded.stdout.contains(#""filesCopied":25"#), "\(downloaded.combined)")
        #expect(try String(contentsOfFile: back + "/7.txt", encoding: .utf8) == "file 7")
        // Contents compared: --verify checksum both ways, nothing to send.
        for pair in [(root, "s3://\(c.location.bucket)/up/load"), ("s3://\(c.location.bucket)/up/load", back)] {
            let checksum = FileSyncArguments(copies: [.init(source: pair.0, target: pair.1)], parallelism: 2, verify: "checksum", controlPort: -1,
                                             s3: .init(endpoint: server.endpoint, credentialsDir: creds), resultFile: "")
            let compared = try await runCommand(repoRoot + "/.build/debug/ferry", checksum.argv, timeout: 60)
            #expect(compared.status == 0 && compared.stdout.contains(#""filesCopied":0"#) && compared.stdout.contains(#""mode":"checksum""#), "\(compared.combined)")
        }
        let badName = try await run("s3://Bad_Bucket/x", creds: creds)
        #expect(badName.status != 0 && badName.combined.contains("bucket name S3 takes"), "\(badName.combined)")
        #expect(!FileManager.default.fileExists(atPath: "s3:"), "never a local folder named s3:")
        let noKeys = try await run("s3://\(c.location.bucket)/x", creds: try makeTempDir("empty-creds"))
        #expect(noKeys.status != 0 && noKeys.combined.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), "\(noKeys.combined)")
    }
}

/// One entry of `rclone lsjson`.
struct RcloneEntry: Decodable {
    var Path: String
    var Size: Int
}

/// Runs blocking mover work on a thread of its own.
enum ProcessRun {
    static func thread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { k in
            Thread { k.resume(with: Result { try body() }) }.start()
        }
    }
}

/// A bucket downloaded into a folder (``BucketToFolder``) from OpenStack Swift's S3 API.
@Suite("Bucket to folder (Swift s3api)", .serialized, .timeLimit(.minutes(5)))
struct BucketToFolderTests {
    @Test("every object under the prefix arrives as a file with its bytes, mode and mtime (a large one in ranged parts); keys that would escape the folder (.., //, /…) or use the mover's temporary prefix are named and never written; a second run downloads nothing, at once; a touched file comes again; checksum mode finds what size and mtime cannot, the multipart ETag's part size inferred; no temporary file is left")
    func download() async throws {
        let server = try await SwiftS3.shared()
        let c = S3Client(location: S3Location(endpoint: server.endpoint, bucket: "down-\(UUID().uuidString.prefix(8).lowercased())"),
                         credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        _ = try await c.send(.PUT, key: nil)
        for i in 0..<30 { try await c.put("pre/docs/\(i) ü.txt", ByteBuffer(string: "doc \(i)"), metadata: ["mtime": "1700000000.250000000", "mode": "600"]) }
        let big = (0..<(11 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        try await c.upload("pre/img/big.bin", size: Int64(big.count), partSize: 5 << 20, parallel: 2) { o, n in ByteBuffer(bytes: big[Int(o)..<Int(o) + n]) }
        try await c.put("pre/docs/setuid", ByteBuffer(string: "x"), metadata: ["mode": "4755"])
        for hostile in ["pre/../escape.txt", "pre/a/../../escape2.txt", "pre/a//b.txt", "pre/.ferry-part-x", "pre/" + String(repeating: "n", count: 300)] {
            try await c.put(hostile, ByteBuffer(string: "hostile"))
        }
        let root = try makeTempDir("b2f")
        let target = root + "/files"
        func run(checksum: Bool = false, partSize: Int = 5 << 20) async throws -> FileSyncResult {
            try await ProcessRun.thread {
                try BucketToFolder(client: c, prefix: "pre", target: RawPath(target), parallelism: 6, partSize: partSize, checksum: checksum, control: MoverControl(bandwidth: 0, window: nil)).run()
            }
        }
        let r = try await run()
        #expect(r.filesCopied == 32 && r.verify.differing == 0, "\(r)")
        var su = stat()
        stat(target + "/docs/setuid", &su)
        #expect(su.st_mode & 0o7777 == 0o755, "never setuid from a bucket: \(String(su.st_mode & 0o7777, radix: 8))")
        #expect(r.errors.count == 5 && r.errors.allSatisfy { $0.contains("not written") }, "\(r.errors)")
        #expect(!FileManager.default.fileExists(atPath: root + "/escape.txt") && !FileManager.default.fileExists(atPath: "/tmp/escape2.txt") && !FileManager.default.fileExists(atPath: root + "/escape2.txt"))
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: target + "/img/big.bin"))) == big)
        var st = stat()
        stat(target + "/docs/3 ü.txt", &st)
        #expect(st.st_mode & 0o777 == 0o600 && st.st_mtim.tv_sec == 1_700_000_000 && st.st_mtim.tv_nsec == 250_000_000, "mode \(String(st.st_mode & 0o777, radix: 8)), mtime \(st.st_mtim)")
        #expect(try String(contentsOfFile: target + "/docs/3 ü.txt", encoding: .utf8) == "doc 3")
        let again = try await run()
        #expect(again.filesCopied == 0 && again.filesSkipped == 32, "\(again)")
        var su2 = stat()
        stat(target + "/docs/setuid", &su2)
        #expect(su2.st_mtim.tv_sec > 1_700_000_000, "an object without mtime metadata: the file has its LastModified")
        // Touched here: its mtime is not the object's, so it comes again.
        var touched = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, target + "/docs/4 ü.txt", &touched, 0)
        #expect(try await run().filesCopied == 1)
        // Other bytes of the same size, mtime put back: only checksum mode sees it, and the 11 MB
        // object of 5 MiB parts is compared by a mover whose own parts are 8 MiB.
        try Data("DOC 5".utf8).write(to: URL(fileURLWithPath: target + "/docs/5 ü.txt"))
        var back = [st.st_mtim, st.st_mtim]
        _ = utimensat(AT_FDCWD, target + "/docs/5 ü.txt", &back, 0)
        #expect(try await run().filesCopied == 0)
        let deep = try await run(checksum: true, partSize: 8 << 20)
        #expect(deep.filesCopied == 1 && deep.verify.mode == "checksum" && deep.verify.differing == 0, "\(deep)")
        #expect(try String(contentsOfFile: target + "/docs/5 ü.txt", encoding: .utf8) == "doc 5")
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: target).filter { $0.contains(".ferry-part-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(BucketToFolder.unsafe("a/b.txt") == nil && BucketToFolder.unsafe("a\u{0}b") != nil && BucketToFolder.unsafe("/abs") != nil)
    }
}
