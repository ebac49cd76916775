@testable import FerrySteps
import FerryProtocol
import Foundation
import NIOCore
import TestSupport
import Testing

/// A bucket copied into a bucket of another store (``BucketToBucket``): OpenStack Swift's S3 API
/// to moto, two implementations, so nothing is copied server-side by accident.
@Suite("Bucket to bucket (Swift s3api to moto)", .serialized, .timeLimit(.minutes(5)))
struct BucketToBucketTests {
    @Test("every object arrives with its bytes and metadata; a multipart object keeps its ETag when its part size can be told; one that cannot is still known as copied; a second run copies nothing, checksum mode neither; a changed object comes again; with delete an object gone from the source goes; overlapping prefixes in one bucket are refused")
    func copy() async throws {
        let swift = try await SwiftS3.shared()
        let moto = try await Moto.shared()
        let id = UUID().uuidString.prefix(8).lowercased()
        let source = S3Client(location: S3Location(endpoint: swift.endpoint, bucket: "b2b-src-\(id)"), credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        let target = S3Client(location: S3Location(endpoint: moto.endpoint, bucket: "b2b-dst-\(id)"), credentials: .init(accessKey: "testing", secretKey: "secret"), http: .shared)
        for c in [source, target] { _ = try await c.send(.PUT, key: nil) }
        for i in 0..<20 { try await source.put("src/d\(i % 4)/f \(i) ü.txt", ByteBuffer(string: "object \(i)"), metadata: ["mtime": "1700000000.000000007", "mode": "640"]) }
        // 7 parts of 5 MiB: only 5 MiB gives 7 parts for this size, so the copy keeps the ETag. And
        // 2 parts of 6 MiB, which 6…10 MiB would all give (Swift does not say which): copied by the mover's own.
        let big = (0..<((33 << 20) - 17)).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        try await source.upload("src/big.bin", size: Int64(big.count), partSize: 5 << 20, parallel: 2) { o, n in ByteBuffer(bytes: big[Int(o)..<Int(o) + n]) }
        let vague = Array(big.prefix(11 << 20))
        try await source.upload("src/vague.bin", size: Int64(vague.count), partSize: 6 << 20, parallel: 2) { o, n in ByteBuffer(bytes: vague[Int(o)..<Int(o) + n]) }
        try await target.put("dst/stale.txt", ByteBuffer(string: "only on the target"))
        func run(checksum: Bool = false, delete: Bool = false, from: String = "src", to: String = "dst", into: S3Client? = nil) async throws -> FileSyncResult {
            let t = into ?? target
            return try await ProcessRun.thread {
                try BucketToBucket(source: source, sourcePrefix: from, target: t, targetPrefix: to, parallelism: 6, partSize: 8 << 20, partsAtOnce: 2,
                                   delete: delete, checksum: checksum, control: MoverControl(bandwidth: 0, window: nil)).run()
            }
        }
        // A killed run's unfinished upload on the target: aborted by the next run.
        _ = try await target.createMultipart("dst/big.bin")
        try await Task.sleep(for: .seconds(1.1))
        let first = try await run()
        #expect(first.filesCopied == 22 && first.verify.differing == 0 && first.errors.isEmpty, "\(first)")
        #expect(try await target.incompleteUploads(prefix: "dst/").isEmpty, "the earlier run's upload was aborted")
        #expect(Array(buffer: try await target.get("dst/big.bin")) == big)
        let bigSource = try #require(try await source.head("src/big.bin")), bigTarget = try #require(try await target.head("dst/big.bin"))
        #expect(bigTarget.etag == bigSource.etag && bigSource.etag.hasSuffix("-7"), "5 MiB parts kept, not the mover's 8: \(bigSource.etag) → \(bigTarget.etag)")
        #expect(Array(buffer: try await target.get("dst/vague.bin")) == vague)
        let meta = try #require(try await target.head("dst/d1/f 5 ü.txt")).metadata
        #expect(meta["mtime"] == "1700000000.000000007" && meta["mode"] == "640" && meta[BucketToBucket.sourceETag] != nil, "\(meta)")
        let again = try await run()
        #expect(again.filesCopied == 0 && again.filesSkipped == 22, "the vague one known by the source ETag it was made from: \(again)")
        let deep = try await run(checksum: true)
        #expect(deep.filesCopied == 0 && deep.verify.mode == "checksum" && deep.verify.differing == 0, "\(deep)")
        try await source.put("src/d1/f 5 ü.txt", ByteBuffer(string: "OBJECT 5"))
        let changed = try await run(checksum: true)
        let five = String(buffer: try await target.get("dst/d1/f 5 ü.txt"))
        #expect(changed.filesCopied == 1 && five == "OBJECT 5", "\(changed)")
        #expect(try await target.head("dst/stale.txt") != nil, "nothing removed without delete")
        let pruned = try await run(delete: true)
        #expect(pruned.verify.removed == 1 && pruned.filesCopied == 0, "\(pruned)")
        #expect(try await target.head("dst/stale.txt") == nil)
        // The same bucket, one prefix inside the other: the copy would read what it writes.
        do { _ = try await run(from: "src", to: "src/copy", into: source); Issue.record("an overlapping copy ran") } catch {
            #expect("\(error)".contains("overlap"), "\(error)")
        }
    }
}
