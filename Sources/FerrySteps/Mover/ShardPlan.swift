import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which files of a tree each of N transfer pods copies (`--shard I/N`, `spec.fileSync.shards`).
///
/// Whole top-level folders per shard, balanced by weight (bytes plus a per-file cost) with the
/// heaviest folder first onto the lightest shard; files at the top by a hash of their name. When
/// one folder outweighs a shard's fair share, or there are fewer folders than shards, every
/// file goes by a hash of its relative path instead. Pure: every pod that scans the same tree
/// makes the same plan, and its ``digest`` lets the controller check that they did.
public struct ShardPlan: Equatable, Sendable {
    public enum Mode: String, Sendable { case folders, hash }
    public var mode: Mode
    public var count: Int
    /// mode folders: each top-level folder's shard.
    public var folders: [[UInt8]: Int]

    /// A top-level folder's size, from the counting scan.
    public struct Folder: Equatable, Sendable {
        public var name: [UInt8]
        public var files: Int64
        public var bytes: Int64
        public init(name: [UInt8], files: Int64, bytes: Int64) {
            self.name = name
            self.files = files
            self.bytes = bytes
        }
        /// A file costs about as much as 64 KiB of data (create, rename, metadata). Rounded
        /// down to a step of 1/16 of its power of two, so that pods scanning a tree that changes
        /// a little between their scans still weigh its folders alike and make one plan.
        var weight: Int64 { Self.coarse(bytes + files * 65_536) }

        static func coarse(_ w: Int64) -> Int64 {
            guard w > 16 else { return w }
            let step = (Int64(1) << (63 - w.leadingZeroBitCount)) / 16
            return w / step * step
        }
    }

    public static func make(_ folders: [Folder], rootWeight: Int64 = 0, count: Int) -> ShardPlan {
        let total = folders.map(\.weight).reduce(rootWeight, +)
        let heaviest = folders.map(\.weight).max() ?? 0
        guard count > 1, folders.count >= count, heaviest * Int64(count) <= total else {
            return ShardPlan(mode: .hash, count: max(1, count), folders: [:])
        }
        var load = [Int64](repeating: 0, count: count)
        var out: [[UInt8]: Int] = [:]
        let ordered = folders.sorted { $0.weight != $1.weight ? $0.weight > $1.weight : $0.name.lexicographicallyPrecedes($1.name) }
        for f in ordered {
            let lightest = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 }!
            out[f.name] = lightest
            load[lightest] += f.weight
        }
        return ShardPlan(mode: .folders, count: count, folders: out)
    }

    /// The shard that copies `relative` (a path inside the tree).
    public func shard(of relative: [UInt8]) -> Int {
        guard count > 1 else { return 0 }
        if mode == .folders, let slash = relative.firstIndex(of: UInt8(ascii: "/")) {
            // A folder that appeared after the scan: by the hash of its name, as every pod agrees.
            return folders[Array(relative[..<slash])] ?? Self.hash(Array(relative[..<slash]), count)
        }
        if mode == .folders, let own = folders[relative] { return own }  // the folder itself
        return Self.hash(relative, count)
    }

    static func hash(_ bytes: [UInt8], _ count: Int) -> Int {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in bytes { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return Int(h % UInt64(count))
    }

    /// The same for the same plan on every pod (FNV-1a over the sorted assignment).
    public var digest: String {
        var text = "\(mode.rawValue) \(count)"
        for (name, shard) in folders.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            text += "\n\(name.map { String($0, radix: 16) }.joined(separator: ",")) \(shard)"
        }
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return String(h, radix: 16)
    }

    /// The counting scan of a tree for a shard: the plan, and this shard's files and bytes.
    public static func scan(_ root: RawPath, shard: Int, count: Int) -> (plan: ShardPlan, files: Int64, bytes: Int64) {
        struct Tally: Sendable {
            var folders: [[UInt8]: Folder] = [:]
            var rootFiles: [([UInt8], Int64)] = []
            /// This shard's files by the hash of the path, for the hash mode's totals.
            var hashed: (files: Int64, bytes: Int64) = (0, 0)
        }
        let tally = Locked(Tally())
        TreeWalker(root: root).walk(threads: FileMover.walkThreads, visit: { e in
            guard e.kind == .file || e.kind == .symlink else { return true }
            var st = stat()
            let bytes: Int64 = e.kind == .file && root.appending(relative: e.relative).withCString({ lstat($0, &st) }) == 0 ? Int64(st.st_size) : 0
            let mine = hash(e.relative, count) == shard
            let top = e.directory.isEmpty ? nil : Array(e.directory.split(separator: UInt8(ascii: "/")).first ?? [])
            tally.withLock { t in
                if mine { t.hashed = (t.hashed.files + 1, t.hashed.bytes + bytes) }
                if let top {
                    t.folders[top, default: Folder(name: top, files: 0, bytes: 0)].files += 1
                    t.folders[top, default: Folder(name: top, files: 0, bytes: 0)].bytes += bytes
                } else {
                    t.rootFiles.append((e.name, bytes))
                }
            }
            return true
        }, unreadable: { _, _ in })
        let t = tally.withLock { $0 }
        let plan = make(Array(t.folders.values), rootWeight: t.rootFiles.map { $0.1 + 65_536 }.reduce(0, +), count: count)
        guard plan.mode == .folders else { return (plan, t.hashed.files, t.hashed.bytes) }
        var mine = (files: Int64(0), bytes: Int64(0))
        for f in t.folders.values where plan.folders[f.name] == shard { mine = (mine.files + f.files, mine.bytes + f.bytes) }
        for (name, bytes) in t.rootFiles where hash(name, count) == shard { mine = (mine.files + 1, mine.bytes + bytes) }
        return (plan, mine.files, mine.bytes)
    }
}
