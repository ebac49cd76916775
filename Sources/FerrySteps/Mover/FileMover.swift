import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `ferry mover files`: copies one tree into another with parallel workers,
/// skip-existing (size + mtime, or checksum), atomic renames, a pause gate,
/// a live bandwidth limit and an optional daily window; then verifies file
/// counts and bytes per top-level folder (and contents in checksum mode).
///
/// Threads: a counting scan (totals early, for percent and ETA), one walker
/// that creates folders and feeds a bounded queue, `parallelism` copy
/// workers. Memory stays bounded by the queue and the walk's stack.
public final class FileMover: @unchecked Sendable {
    public struct Options: Sendable {
        public var source: RawPath
        public var target: RawPath
        public var parallelism: Int
        /// Compare contents, not size + mtime, to decide what to copy and to verify.
        public var checksum: Bool
        /// Remove target entries the source does not have.
        public var delete: Bool

        /// Run the counting scan (off when the caller counts several trees up front).
        public var countTotals: Bool = true

        /// The source is in use and watched (a journal records its changes): files that vanish
        /// or keep changing mid-copy are left to the journal's final pass.
        public var live = false

        /// The journal pass: only these paths (relative to the source; folders with all they
        /// hold) are looked at, and with `delete` those the source no longer has are removed.
        public var paths: [[UInt8]]?

        /// Reflink where the filesystem can (auto), always (reflink: refused up front when it
        /// cannot), or never (copy). `move` is ``TreeMove``'s, not this type's.
        public var method: FileSyncMethod = .auto

        /// One of several transfer pods: only the files the plan gives shard `index`.
        public var shard: (index: Int, plan: ShardPlan)?

        public init(source: String, target: String, parallelism: Int = 16, checksum: Bool = false, delete: Bool = false) {
            self.source = RawPath(source)
            self.target = RawPath(target)
            self.parallelism = parallelism
            self.checksum = checksum
            self.delete = delete
        }
    }




    public let options: Options
    public let control: MoverControl

    let say: @Sendable (String) -> Void

    public init(options: Options, control: MoverControl, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.options = options
        self.control = control
        self.say = say
    }

    /// Blocking. Throws on a fatal error (full target, missing source); per-file errors are in the result.
    public func run() throws -> FileSyncResult {
        let started = Date()
        var st = stat()
        guard options.source.withCString({ stat($0, &st) }) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw StepError.configuration("the source \(options.source) is not a readable folder")
        }
        var targetStat = stat()
        let targetExisted = options.target.withCString { stat($0, &targetStat) } == 0
        guard options.target.makeFolders() else { throw StepError.io("cannot create the target \(options.target): \(String(cString: strerror(errno)))") }
        // Folders this run created hold nothing yet: their files go straight to the workers.
        let newFolders = Locked<Set<[UInt8]>>(targetExisted ? [] : [[]])

        control.setPhase(.scanning)
        let scope = options.paths
        let scanner = Thread { [self] in if options.countTotals && scope == nil { Self.countTotals([options.source], control: control) } }
        scanner.start()

        control.setPhase(.copying)
        let queue = WorkQueue<TreeWalker.Entry>(capacity: 4096)
        let finished = DispatchGroup()
        if options.method == .reflink { try ReflinkProbe.require(source: options.source, target: options.target) }
        let copier = FileCopier(source: options.source, target: options.target, control: control, checksum: options.checksum, live: options.live,
                                clone: options.method == .copy ? .never : options.method == .reflink ? .require : .attempt)
        let tally = FolderTally()
        let directories = Locked<[([UInt8], stat)]>([])
        var rootStat = stat()
        if options.source.withCString({ stat($0, &rootStat) }) == 0 { directories.withLock { $0.append(([], rootStat)) } }
        for _ in 0..<max(1, options.parallelism) {
            finished.enter()
            let worker = Thread { [control] in
                defer { finished.leave() }
                while let entry = queue.take() {
                    if control.stopped != nil { continue }
                    let folder = Self.folderKey(entry)
                    // Each file is verified as it is done: copied (all bytes written, renamed) or
                    // found equal in the target (size + mtime, or contents).
                    switch copier.copy(entry.relative, directory: entry.directory, name: entry.name) {
                    case .copied(let n):
                        control.fileDone(bytes: n, copied: true)
                        tally.add(folder, source: n, target: n)
                    case .skipped(let n):
                        control.fileDone(bytes: n, copied: false)
                        tally.add(folder, source: n, target: n)
                    case .failed:
                        control.fileDone(bytes: 0, copied: false)
                        tally.add(folder, source: 0, target: nil, example: "not copied: \(RawPath(entry.relative))")
                    case .vanished:
                        control.fileDone(bytes: 0, copied: false)
                    }
                }
            }
            worker.stackSize = 256 << 10
            worker.start()
        }
        let shard = options.shard
        let visit: (TreeWalker.Entry) -> Bool = { [self] entry in
            if control.stopped != nil { return false }
            // Another shard's file; with whole folders per shard, another shard's folder too.
            if let shard, entry.kind != .directory || shard.plan.mode == .folders, shard.plan.shard(of: entry.relative) != shard.index { return true }
            switch entry.kind {
            case .directory:
                var st = stat()
                if options.source.appending(relative: entry.relative).withCString({ lstat($0, &st) }) == 0 {
                    directories.withLock { $0.append((entry.relative, st)) }
                }
                let dst = options.target.appending(relative: entry.relative)
                if dst.withCString({ mkdir($0, 0o700) }) == 0 {
                    newFolders.withLock { _ = $0.insert(entry.relative) }
                } else if errno == EEXIST, !dst.isFolder {
                    // A file or a symlink where the source has a folder: never write (or remove)
                    // through it; it is replaced by the folder. Among shards, by the one whose
                    // share the path is; the others wait for its folder.
                    if let shard, shard.plan.shard(of: entry.relative) != shard.index {
                        var waited = 0
                        while !dst.isFolder && waited < 600 { usleep(100_000); waited += 1 }
                        if !dst.isFolder { control.error("\(dst): another shard did not replace it with a folder within 60 s; skipped") }
                        return true
                    }
                    removeAll(dst)
                    if dst.withCString({ mkdir($0, 0o700) }) == 0 { newFolders.withLock { _ = $0.insert(entry.relative) } } else {
                        control.error("\(dst): cannot replace with a folder: \(String(cString: strerror(errno)))")
                    }
                } else if errno != EEXIST {
                    if errno == ENOSPC || errno == EDQUOT { control.stop("the target is full (creating \(dst))"); return false }
                    control.error("\(dst): cannot create the folder: \(String(cString: strerror(errno)))")
                }
                return true
            case .file:
                // Files the target already has are settled here, on the walker's threads: only
                // what must be copied goes through the queue (a delta is mostly the former).
                // In a folder this run created there is nothing to look up.
                if newFolders.withLock({ $0.contains(entry.directory) }) { return queue.put(entry) }
                guard control.admit(0) else { return false }
                if let n = copier.alreadyThere(entry.relative) {
                    control.fileDone(bytes: n, copied: false)
                    tally.add(Self.folderKey(entry), source: n, target: n)
                    return true
                }
                return queue.put(entry)
            case .symlink:
                return queue.put(entry)
            case .other:
                control.error("\(options.source.appending(relative: entry.relative)): not a regular file, folder or symlink; skipped")
                return true
            }
        }
        let unreadable: (RawPath, Int32) -> Void = { [self] path, e in
            if options.live && e == ENOENT { return }
            control.error("\(path): cannot read the folder: \(String(cString: strerror(e))); skipped") }
        var removedInScope: Int64 = 0
        if let scope {
            let walked = walkScope(scope, visit: visit, unreadable: unreadable)
            directories.withLock { $0 += walked.parents }
            removedInScope = walked.removed
            control.scanFinished()
        } else {
            TreeWalker(root: options.source).walk(threads: Self.walkThreads, visit: visit, unreadable: unreadable)
        }
        queue.close()
        let reporter = startReporter()
        finished.wait()
        while !scanner.isFinished { usleep(10_000) }
        reporter.cancel()
        if let reason = control.stopped {
            control.setPhase(.failed)
            throw StepError.target(reason)
        }
        control.setPhase(.verifying)
        var verification = finish(tally: tally, directories: directories.withLock { $0 })
        verification.removed += removedInScope
        let p = control.progress()
        control.setPhase(.done)
        let seconds = Date().timeIntervalSince(started)
        var result = FileSyncResult(
            filesTotal: p.filesTotal, bytesTotal: p.bytesTotal, filesCopied: p.filesCopied, bytesCopied: p.bytesCopied,
            filesSkipped: p.filesDone - p.filesCopied - Int64(p.errorCount), seconds: (seconds * 1000).rounded() / 1000,
            filesPerSecond: seconds > 0 ? Int64(Double(p.filesCopied) / seconds) : 0, bytesPerSecond: seconds > 0 ? Int64(Double(p.bytesCopied) / seconds) : 0,
            parallelism: options.parallelism, errors: p.errors, verify: verification)
        let cloned = control.clonedFiles
        result.filesCloned = cloned
        result.method = Self.methodUsed(asked: options.method, cloned: cloned, copied: p.filesCopied)
        say("files: \(p.filesCopied) copied, \(result.filesSkipped) already there, \(p.errorCount) errors, \(p.bytesCopied) bytes in \(String(format: "%.1f", seconds)) s; verify: \(verification.differing) differing")
        return result
    }

    /// What the result says was done: `reflink` when every copied file is one, `reflink+copy`
    /// when some could not be, else `copy` (auto on a filesystem that cannot clone). Pure.
    static func methodUsed(asked: FileSyncMethod, cloned: Int64, copied: Int64) -> String {
        if asked == .copy { return "copy" }
        if cloned > 0 && cloned >= copied { return "reflink" }
        if cloned > 0 { return "reflink+copy" }
        return asked == .reflink ? "reflink" : "copy"
    }

    /// The counting scan over one or more source trees: totals of files and bytes, then `scanFinished`.
    public static func countTotals(_ roots: [RawPath], control: MoverControl) {
        for root in roots {
            TreeWalker(root: root).walk(threads: walkThreads, visit: { entry in
                if entry.kind == .file || entry.kind == .symlink {
                    var st = stat()
                    if root.appending(relative: entry.relative).withCString({ lstat($0, &st) }) == 0 {
                        control.scanned(files: 1, bytes: entry.kind == .file ? Int64(st.st_size) : 0)
                    }
                }
                return control.stopped == nil
            }, unreadable: { _, _ in })
        }
        control.scanFinished()
    }

    /// Folders read at once by each walk (cold metadata reads overlap).
    static let walkThreads = 4

    /// A progress line every 5 s on stdout (the pod's log).
    private func startReporter() -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "ferry.mover.progress"))
        timer.schedule(deadline: .now() + 5, repeating: 5)
        timer.setEventHandler { [control, say] in
            let p = control.progress()
            say("files: \(p.state.rawValue) \(p.filesDone)/\(p.filesTotal)\(p.totalsFinal ? "" : "+") files, \(p.bytesDone)/\(p.bytesTotal) bytes, \(p.bytesPerSecond) B/s\(p.etaSeconds.map { ", ETA \($0) s" } ?? "")")
        }
        timer.resume()
        return timer
    }

    /// The top-level folder an entry counts under ("." for files at the top).
    static func folderKey(_ entry: TreeWalker.Entry) -> String {
        if entry.directory.isEmpty { return "." }
        return String(decoding: entry.directory.split(separator: UInt8(ascii: "/")).first ?? [], as: UTF8.self)
    }

    /// After the copy: in checksum mode a full content comparison; with `delete`, what the
    /// source lacks is removed; folder modes and times are set last, deepest first
    /// (adding files changed their mtimes).
    func finish(tally: FolderTally, directories: [([UInt8], stat)]) -> FileVerification {
        let source = options.source, target = options.target
        if options.checksum && options.paths == nil {
            let shard = options.shard
            TreeWalker(root: source).walk(visit: { [self] entry in
                // A shard compares its own share: the others' may not be copied yet.
                if let shard, shard.plan.shard(of: entry.relative) != shard.index { return true }
                if entry.kind == .file && !FileCopier.contentsEqual(source.appending(relative: entry.relative), target.appending(relative: entry.relative)) {
                    tally.add(Self.folderKey(entry), source: 0, target: nil, example: "content differs: \(RawPath(entry.relative))", count: false)
                }
                return true
            }, unreadable: { _, _ in })
        }
        var removed: Int64 = 0
        if options.delete && options.paths == nil {
            TreeWalker(root: target).walk(visit: { [self] entry in
                let dst = target.appending(relative: entry.relative)
                var s = stat()
                if FileCopier.isTemp(entry.name) || source.appending(relative: entry.relative).withCString({ lstat($0, &s) }) != 0 {
                    removeAll(dst)
                    if !FileCopier.isTemp(entry.name) { removed += 1 }
                }
                return true
            }, unreadable: { _, _ in })
        }
        for (relative, st) in directories.sorted(by: { $0.0.count > $1.0.count }) {
            let dst = target.appending(relative: relative)
            // Shards share folders: one that ends first must not close a folder to the others.
            _ = dst.withCString { chmod($0, (st.st_mode & 0o7777) | (options.shard == nil ? 0 : 0o700)) }
            var times = [st.st_atim, st.st_mtim]
            _ = dst.withCString { utimensat(AT_FDCWD, $0, &times, 0) }
        }
        let (folders, differing, examples) = tally.snapshot()
        return FileVerification(mode: (options.checksum ? "checksum" : "size") + (options.paths == nil ? "" : ", journaled paths"), folders: folders, differing: differing, examples: examples, removed: removed)
    }

    func removeAll(_ path: RawPath) {
        var st = stat()
        guard path.withCString({ lstat($0, &st) }) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            var names: [[UInt8]] = []
            TreeWalker(root: path).walk(visit: { e in
                if e.directory.isEmpty { names.append(e.name) }
                return true
            }, unreadable: { _, _ in })
            // Only the direct children were collected above when the walk was shallow; remove recursively.
            for n in names { removeAll(path.appending(n)) }
            _ = path.withCString { rmdir($0) }
        } else {
            _ = path.withCString { unlink($0) }
        }
    }
}

/// Files and bytes per top-level folder on both sides, and what differs.
final class FolderTally: @unchecked Sendable {
    private let lock = NSLock()
    private var folders: [String: FolderCount] = [:]
    private var differing: Int64 = 0
    private var examples: [String] = []

    /// `target` nil: the file is not (correctly) in the target. `count: false` only records a difference.
    func add(_ folder: String, source bytes: Int64, target: Int64?, example: String? = nil, count: Bool = true) {
        lock.lock()
        defer { lock.unlock() }
        if count {
            folders[folder, default: .init()].sourceFiles += 1
            folders[folder, default: .init()].sourceBytes += bytes
            if let target {
                folders[folder, default: .init()].targetFiles += 1
                folders[folder, default: .init()].targetBytes += target
            }
        }
        if target == nil {
            differing += 1
            if let example, examples.count < 20 { examples.append(example) }
        }
    }

    func snapshot() -> ([String: FolderCount], Int64, [String]) {
        lock.lock()
        defer { lock.unlock() }
        return (folders, differing, examples)
    }
}

extension FileSyncResult {
    /// Several trees' results as one: counters from the last (the control's totals are cumulative),
    /// seconds summed, folders keyed by target.
    public static func combined(_ results: [FileSyncResult], pairs targets: [String]) -> FileSyncResult {
        guard var total = results.last else { return FileSyncResult(filesTotal: 0, bytesTotal: 0, filesCopied: 0, bytesCopied: 0, filesSkipped: 0, seconds: 0, filesPerSecond: 0, bytesPerSecond: 0, parallelism: 0, errors: [], verify: FileVerification(mode: "size", folders: [:], differing: 0, examples: [], removed: 0)) }
        guard results.count > 1 else { return total }
        total.seconds = results.map(\.seconds).reduce(0, +)
        total.filesPerSecond = total.seconds > 0 ? Int64(Double(total.filesCopied) / total.seconds) : 0
        total.bytesPerSecond = total.seconds > 0 ? Int64(Double(total.bytesCopied) / total.seconds) : 0
        var folders: [String: FolderCount] = [:]
        for (r, t) in zip(results, targets) { for (k, v) in r.verify.folders { folders["\(t):\(k)"] = v } }
        total.verify = FileVerification(mode: total.verify.mode, folders: folders, differing: results.map(\.verify.differing).reduce(0, +),
                    examples: Array(results.flatMap(\.verify.examples).prefix(20)), removed: results.map(\.verify.removed).reduce(0, +))
        return total
    }

}
