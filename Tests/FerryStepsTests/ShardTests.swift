import FerryProtocol
import FerrySteps
import Foundation
import KubeClient
import ProcessSpawn
import Testing
import TestSupport

/// `--shard I/N`: N mover processes split the trees between them, each by the same plan.
@Suite("sharded sync: the plan and N movers", .serialized, .timeLimit(.minutes(5)))
struct ShardTests {
    static func folder(_ name: String, _ weight: Int64) -> ShardPlan.Folder { .init(name: Array(name.utf8), files: 0, bytes: weight) }

    @Test("the plan: whole folders, heaviest first onto the lightest shard (no shard above a fair share plus one folder); the same plan whatever order the scan found them in; one dominant folder, or fewer folders than shards, splits by path hash")
    func plan() {
        var g = SplitMix(seed: 18)
        var (same, planned) = (0, 0)
        for _ in 0..<300 {
            let count = Int(g.next() % 7) + 2
            let folders = (0..<(Int(g.next() % 30) + count)).map { i in Self.folder("f\(i)", Int64(g.next() % 1_000_000) + 1) }
            let plan = ShardPlan.make(folders, count: count)
            let total = folders.map(\.bytes).reduce(0, +), heaviest = folders.map(\.bytes).max()!
            // Weights are rounded to 1/16 of their power of two: dominance is judged on those.
            if plan.mode == .hash {
                #expect(heaviest * Int64(count) * 16 > total * 15, "split by hash only when one folder (nearly) outweighs a fair share")
                continue
            }
            #expect(heaviest * Int64(count) * 15 <= total * 16 && plan.folders.count == folders.count)
            var load = [Int64](repeating: 0, count: count)
            for f in folders { load[plan.folders[f.name]!] += f.bytes }
            #expect(load.max()! <= total / Int64(count) + heaviest + total / 8, "LPT's bound (with the rounding): \(load) for \(folders.map(\.bytes))")
            var shuffled = folders
            shuffled.shuffle(using: &g)
            #expect(ShardPlan.make(shuffled, count: count).digest == plan.digest, "the plan does not depend on the scan's order")
            // A tree that changed a little between two pods' scans: mostly the same plan.
            let nudged = folders.map { Self.folder(String(decoding: $0.name, as: UTF8.self), $0.bytes + 100) }
            same += ShardPlan.make(nudged, count: count).digest == plan.digest ? 1 : 0
            planned += 1
            // Each file of a folder goes where its folder went; files at the top by name.
            for f in folders.prefix(3) { #expect(plan.shard(of: f.name + Array("/a/b.bin".utf8)) == plan.folders[f.name]) }
            #expect((0..<count).contains(plan.shard(of: Array("top.txt".utf8))))
        }
        #expect(same * 10 >= planned * 8, "100 bytes more in every folder changes few plans: \(same) of \(planned) the same")
        let dominant = ShardPlan.make([Self.folder("big", 900), Self.folder("a", 50), Self.folder("b", 50)], count: 2)
        #expect(dominant.mode == .hash)
        #expect(ShardPlan.make([Self.folder("a", 1), Self.folder("b", 1)], count: 4).mode == .hash, "fewer folders than shards")
        let spread = Set((0..<1000).map { dominant.shard(of: Array("big/f\($0).bin".utf8)) })
        #expect(spread == [0, 1], "by path, the dominant folder's files go to both shards")
    }

    /// `folders` top-level folders of `files` small files each, plus two at the top.
    static func tree(_ root: String, folders: [Int]) throws {
        for (i, files) in folders.enumerated() {
            for j in 0..<files {
                let dir = "\(root)/top\(i)/sub\(j % 3)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try Data(repeating: UInt8(truncatingIfNeeded: i * 31 + j), count: 1000 + (i * 997 + j * 131) % 20_000).write(to: URL(fileURLWithPath: "\(dir)/f\(j).bin"))
            }
        }
        try Data("a".utf8).write(to: URL(fileURLWithPath: root + "/readme.txt"))
        try Data("b".utf8).write(to: URL(fileURLWithPath: root + "/latest.json"))
    }

    /// Files in place in the target (temporary `.ferry-part-` files left out).
    static func copiedFiles(_ root: String) -> Int {
        ((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []).filter { p in
            var st = stat()
            return !(p as NSString).lastPathComponent.hasPrefix(".ferry-part-") && lstat(root + "/" + p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        }.count
    }

    /// N movers at once, one per shard, into one target.
    static func shards(_ src: String, _ dst: String, count: Int, extra: [String] = []) async throws -> [(Int32, JSONValue, String)] {
        try await withThrowingTaskGroup(of: (Int, (Int32, JSONValue, String)).self) { group in
            for i in 0..<count {
                group.addTask { (i, try await FileMoverTests.move(["--source", src, "--target", dst, "--shard", "\(i)/\(count)"] + extra, timeout: 120)) }
            }
            var out = [(Int32, JSONValue, String)](repeating: (0, .null, ""), count: count)
            for try await (i, r) in group { out[i] = r }
            return out
        }
    }

    @Test("4 movers with --shard i/4 at once: every file copied exactly once (the shards' copies add up to the tree), one plan digest on all, the target identical; a dominant folder splits by path hash, the same")
    func fourShards() async throws {
        for (name, folders, mode, extra) in [("even", [40, 35, 30, 30, 25, 20, 20, 10], "folders", [String]()), ("dominant", [300, 5, 5, 5], "hash", []),
                                             ("checksum", [40, 35, 30, 30, 25, 20, 20, 10], "folders", ["--verify", "checksum"])] {
            let base = try makeTempDir("shards-\(name)")
            let src = base + "/src", dst = base + "/dst"
            try Self.tree(src, folders: folders)
            let total = folders.reduce(2, +)
            let runs = try await Self.shards(src, dst, count: 4, extra: extra)
            for (status, json, output) in runs { #expect(status == 0, "\(name): \(output)"); _ = json }
            let results = runs.map { $0.1["result"] ?? .null }
            #expect(Set(results.compactMap { $0[path: ["shard", "digest"]]?.stringValue }).count == 1, "one plan: \(results.map { $0["shard"] ?? .null })")
            #expect(results.allSatisfy { $0[path: ["shard", "mode"]]?.stringValue == mode }, "\(name): \(results.map { $0["shard"] ?? .null })")
            #expect(results.compactMap { $0["filesCopied"]?.intValue }.reduce(0, +) == total, "\(name): each file once: \(results.compactMap { $0["filesCopied"]?.intValue })")
            #expect(results.compactMap { $0["filesTotal"]?.intValue }.reduce(0, +) == total, "each shard's total is its share")
            #expect(results.filter { ($0["filesCopied"]?.intValue ?? 0) > 0 }.count >= 3, "\(name): the work is spread: \(results.compactMap { $0["filesCopied"]?.intValue })")
            #expect(try await FileMoverTests.listing(src) == (try await FileMoverTests.listing(dst)), "\(name)")
        }
    }

    @Test("path-hash shards share folders: a read-only folder stays open until every shard is done (the mover's user is not root), so none is locked out")
    func readOnlyFolderHashMode() async throws {
        let base = try makeTempDir("shards-readonly")
        chmod(base, 0o777)
        let src = base + "/src", dst = base + "/dst"
        try Self.tree(src, folders: [200, 3, 3])
        _ = try await runCommand("/bin/chmod", ["-R", "a+rX", src])
        chmod(src + "/top0/sub1", 0o555)
        let runs = try await withThrowingTaskGroup(of: (Int32, JSONValue, String).self) { group in
            for i in 0..<3 { group.addTask { try await FileMoverTests.move(["--source", src, "--target", dst, "--shard", "\(i)/3", "--parallelism", "2"], as: "65534", timeout: 120) } }
            var out: [(Int32, JSONValue, String)] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(runs.allSatisfy { $0.0 == 0 }, "\(runs.map(\.2))")
        #expect(runs.allSatisfy { $0.1[path: ["result", "shard", "mode"]]?.stringValue == "hash" })
        #expect(runs.compactMap { $0.1[path: ["result", "filesCopied"]]?.intValue }.reduce(0, +) == 208)
    }

    @Test("a shard killed mid-copy and run again finishes its share without copying the rest again; the target is identical")
    func killedShard() async throws {
        let base = try makeTempDir("shards-killed")
        let src = base + "/src", dst = base + "/dst"
        try Self.tree(src, folders: [60, 60, 60, 60])
        let ferry = FileMoverTests.ferry
        // Shard 1 slowly (100 KB/s), killed once it has copied something.
        let slow = try ProcessSpawn.spawn(ferry, ["mover", "files", "--control-port=-1", "--result-file", "/dev/null", "--source", src, "--target", dst, "--shard", "1/2", "--bandwidth", "100000"],
                                          environment: ["PATH": "/usr/bin:/bin"], fileActions: [.open(1, path: "/dev/null", flags: O_WRONLY, mode: 0), .open(2, path: "/dev/null", flags: O_WRONLY, mode: 0)])
        let started = try await eventually(timeout: 60, interval: 0.1) { Self.copiedFiles(dst) >= 3 }
        #expect(started)
        kill(slow, SIGKILL)
        _ = await Task.detached { ProcessSpawn.waitStatus(slow) }.value
        let before = Self.copiedFiles(dst)
        let runs = try await Self.shards(src, dst, count: 2)
        #expect(runs.allSatisfy { $0.0 == 0 }, "\(runs.map(\.2))")
        let copied = runs.compactMap { $0.1[path: ["result", "filesCopied"]]?.intValue }.reduce(0, +)
        #expect(before >= 3 && copied == 242 - before, "what the killed shard finished is not copied again: \(before) before, \(copied) now")
        #expect(try await FileMoverTests.listing(src) == (try await FileMoverTests.listing(dst)))
        #expect(try await FileMoverTests.temps(dst).isEmpty, "no partial file left behind")
    }

    @Test("--shard refused, naming the fix, with a change journal, with move or --delete, with a bucket side, and out of range")
    func refusals() async throws {
        let base = try makeTempDir("shards-refused")
        let src = base + "/src"
        try Self.tree(src, folders: [3, 3])
        for (args, phrase) in [(["--journal", "\(src)=\(base)/j"], "do not go together yet"), (["--method", "move"], "need the whole tree"), (["--delete"], "need the whole tree"),
                               (["--shard", "2/2"], "give I/N")] {
            let (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", base + "/dst", "--shard", "0/2"] + args)
            #expect(status != 0 && json["error"]?.stringValue?.contains(phrase) == true, "\(args): \(json) \(output)")
        }
        let (status, json, output) = try await FileMoverTests.move(["--copy", "\(src)=s3://bucket/x", "--s3-endpoint", "http://127.0.0.1:1", "--shard", "0/2"])
        #expect(status != 0 && json["error"]?.stringValue?.contains("a bucket side is copied by one pod") == true, "\(json) \(output)")
        #expect(!FileManager.default.fileExists(atPath: base + "/dst"))
    }
}
