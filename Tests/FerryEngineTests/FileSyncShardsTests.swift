import FerryEngine
import FerryProtocol
import Foundation
import KubeClient
import Testing

/// `spec.fileSync.shards`: the step's outcome and progress from N transfer pods.
@Suite("file sync shards: outcome and progress", .timeLimit(.minutes(1)))
struct FileSyncShardsTests {
    static func result(files: Int64, copied: Int64, digest: String, folder: String, index: Int = 0, count: Int = 2) -> JSONValue {
        var r = FileSyncResult(filesTotal: files, bytesTotal: files * 10, filesCopied: copied, bytesCopied: copied * 10, filesSkipped: files - copied, seconds: Double(files),
                               filesPerSecond: 1, bytesPerSecond: 10, parallelism: 8, errors: [],
                               verify: FileVerification(mode: "size", folders: [folder: FolderCount(sourceFiles: files, sourceBytes: files * 10, targetFiles: files, targetBytes: files * 10)],
                                                        differing: 0, examples: [], removed: 0))
        r.shard = ShardReport(index: index, count: count, mode: "folders", digest: digest)
        return try! JSONValue(encoding: r)
    }

    static func progress(_ state: MoverState, done: Int64, total: Int64, rate: Int64 = 100) -> MoverProgress {
        MoverProgress(state: state, filesDone: done, filesTotal: total, filesCopied: done, bytesDone: done * 10, bytesTotal: total * 10, bytesCopied: done * 10, totalsFinal: true,
                      bytesPerSecond: rate, percent: Double(done * 100 / max(1, total)), bandwidth: 500, errorCount: 0, errors: [], seconds: 3)
    }

    @Test("succeeded only when every shard did with one plan digest; the results add up; one failed shard fails the step by name; different plans fail it to run again")
    func outcome() throws {
        let a = Self.result(files: 30, copied: 30, digest: "d1", folder: "x"), b = Self.result(files: 12, copied: 2, digest: "d1", folder: "y", index: 1)
        let done = FileSyncShards.outcome([.init(.succeeded(result: a, message: nil)), .init(.succeeded(result: b, message: nil))])
        guard case .succeeded(let json, let message) = done, let total = try json?.decode(as: FileSyncResult.self) else {
            Issue.record("\(done)")
            return
        }
        #expect(total.filesTotal == 42 && total.filesCopied == 32 && total.filesSkipped == 10 && total.seconds == 30, "\(total)")
        #expect(Set(total.verify.folders.keys) == ["x", "y"] && total.shard?.count == 2 && message?.contains("2 shards") == true)

        let running = FileSyncShards.outcome([.init(.succeeded(result: a, message: nil)), .init(.running(nil))])
        #expect(running == .running("2 transfer pods, 1 done"))
        let failed = FileSyncShards.outcome([.init(.running(nil)), .init(.failed("the target is full", permanent: false))])
        #expect(failed == .failed("shard 1/2: the target is full", permanent: false, untouched: false))
        let split = FileSyncShards.outcome([.init(.succeeded(result: a, message: nil)), .init(.succeeded(result: Self.result(files: 1, copied: 1, digest: "d2", folder: "y", index: 1), message: nil))])
        guard case .failed(let why, let permanent, _) = split else { Issue.record("\(split)"); return }
        #expect(why.contains("different plans") && !permanent)
        // A pod left from another shard count (the spec was edited) copied another share.
        let stale = FileSyncShards.outcome([.init(.succeeded(result: a, message: nil)), .init(.succeeded(result: Self.result(files: 1, copied: 1, digest: "d1", folder: "y", index: 1, count: 4), message: nil))])
        guard case .failed(let staleWhy, _, _) = stale else { Issue.record("\(stale)"); return }
        #expect(staleWhy.contains("reported the share 1/4, not 1/2"), "\(staleWhy)")
    }

    @Test("a result with many folders fits a termination message: the largest kept, the rest summed, the counts whole")
    func compacted() throws {
        var r = FileSyncResult(filesTotal: 4000, bytesTotal: 1, filesCopied: 1, bytesCopied: 1, filesSkipped: 0, seconds: 1, filesPerSecond: 1, bytesPerSecond: 1, parallelism: 1,
                               errors: (0..<50).map { "error \($0) " + String(repeating: "x", count: 300) }, verify: FileVerification(mode: "size", folders: [:], differing: 0, examples: [], removed: 0))
        for i in 0..<400 { r.verify.folders["folder-with-a-long-name-\(i)"] = FolderCount(sourceFiles: Int64(i), sourceBytes: Int64(i) * 10, targetFiles: Int64(i), targetBytes: Int64(i) * 10) }
        let c = r.compacted()
        let kept = c.verify.folders.count - 1
        #expect(kept >= 5 && c.verify.folders["folder-with-a-long-name-399"] != nil && c.verify.folders["(\(400 - kept) more folders)"]?.sourceFiles == Int64((0..<(400 - kept)).reduce(0, +)), "\(c.verify.folders.keys.sorted())")
        #expect(c.verify.folders.values.map(\.sourceFiles).reduce(0, +) == r.verify.folders.values.map(\.sourceFiles).reduce(0, +))
        #expect(try JSONEncoder().encode(c).count < 3500, "with the report's envelope it fits 4 KiB")
    }

    @Test("progress adds up; paused only when every shard is; an ended shard counts as done; the bandwidth is split evenly, 0 staying unlimited")
    func progress() {
        let both = FileSyncShards.progress([.init(.running(nil), progress: Self.progress(.copying, done: 5, total: 10)), .init(.running(nil), progress: Self.progress(.paused, done: 1, total: 10))])
        #expect(both?.filesDone == 6 && both?.filesTotal == 20 && both?.bytesPerSecond == 200 && both?.state == .copying && both?.bandwidth == 1000)
        let paused = FileSyncShards.progress([.init(.running(nil), progress: Self.progress(.paused, done: 5, total: 10)), .init(.running(nil), progress: Self.progress(.paused, done: 1, total: 10))])
        #expect(paused?.state == .paused)
        let ended = FileSyncShards.progress([.init(.succeeded(result: Self.result(files: 30, copied: 30, digest: "d", folder: "x"), message: nil)),
                                             .init(.running(nil), progress: Self.progress(.copying, done: 1, total: 10))])
        #expect(ended?.filesDone == 31 && ended?.filesTotal == 40 && ended?.state == .copying)
        let starting = FileSyncShards.progress([.init(.running(nil)), .init(.running(nil), progress: Self.progress(.copying, done: 1, total: 10))])
        #expect(starting?.totalsFinal == false, "a shard not heard from yet: the totals may grow")
        #expect(FileSyncShards.bandwidth(1_000_000, shards: 4) == 250_000 && FileSyncShards.bandwidth(0, shards: 4) == 0 && FileSyncShards.bandwidth(3, shards: 4) == 1)
    }
}
