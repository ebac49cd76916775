import FerryEngine
import FerryProtocol
import Foundation
import KubeClient
import Testing

/// `spec.fileSync.shards`: the step's outcome and progress from N transfer pods.
@Suite("file sync shards: outcome and progress", .timeLimit(.minutes(1)))
struct FileSyncShardsTests {
    static func result(files: Int64, copied: Int64, digest: String, folder: String) -> JSONValue {
        var r = FileSyncResult(filesTotal: files, bytesTotal: files * 10, filesCopied: copied, bytesCopied: copied * 10, filesSkipped: files - copied, seconds: Double(files),
                               filesPerSecond: 1, bytesPerSecond: 10, parallelism: 8, errors: [],
                               verify: FileVerification(mode: "size", folders: [folder: FolderCount(sourceFiles: files, sourceBytes: files * 10, targetFiles: files, targetBytes: files * 10)],
                                                        differing: 0, examples: [], removed: 0))
        r.shard = ShardReport(index: 0, count: 2, mode: "folders", digest: digest)
        return try! JSONValue(encoding: r)
    }

    static func progress(_ state: MoverState, done: Int64, total: Int64, rate: Int64 = 100) -> MoverProgress {
        MoverProgress(state: state, filesDone: done, filesTotal: total, filesCopied: done, bytesDone: done * 10, bytesTotal: total * 10, bytesCopied: done * 10, totalsFinal: true,
                      bytesPerSecond: rate, percent: Double(done * 100 / max(1, total)), bandwidth: 500, errorCount: 0, errors: [], seconds: 3)
    }

    @Test("succeeded only when every shard did with one plan digest; the results add up; one failed shard fails the step by name; different plans fail it to run again")
    func outcome() throws {
        let a = Self.result(files: 30, copied: 30, digest: "d1", folder: "x"), b = Self.result(files: 12, copied: 2, digest: "d1", folder: "y")
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
        let split = FileSyncShards.outcome([.init(.succeeded(result: a, message: nil)), .init(.succeeded(result: Self.result(files: 1, copied: 1, digest: "d2", folder: "y"), message: nil))])
        guard case .failed(let why, let permanent, _) = split else { Issue.record("\(split)"); return }
        #expect(why.contains("different plans") && !permanent)
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
