import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--method move` (`spec.fileSync.method: move`): the source folder's entries renamed into the
/// target. An entry the target lacks is one rename, a whole folder at once; a folder both sides
/// have is merged entry by entry; a file the target has is replaced. Only directory entries
/// change, so it takes the same time whatever the files weigh, and the source folder is left
/// empty. A killed run leaves every entry on one side or the other: a rerun moves the rest.
///
/// Refused before anything moves: another filesystem or mount (a probe file is renamed
/// across first; EXDEV), a target inside the source or the other way round, a source that
/// cannot be written (it is emptied), and an entry a copy would not take either (not a
/// regular file, folder or symlink that stays inside the tree).
struct TreeMove {
    let source: RawPath
    let target: RawPath
    let control: MoverControl

    /// Files and bytes of the source, for each folder (cumulative: a folder counts everything under it).
    struct Scan {
        var subtree: [[UInt8]: (files: Int64, bytes: Int64)] = [:]
        var problems: [String] = []
        var files: Int64 = 0
        var bytes: Int64 = 0
    }

    func run() throws -> FileSyncResult {
        let started = Date()
        let (from, to) = try checkedSides()
        control.setPhase(.scanning)
        let scan = scanSource()
        guard scan.problems.isEmpty else {
            throw StepError.configuration("--method move takes only regular files, folders and symlinks that stay inside the tree, and moves nothing otherwise: \(scan.problems.prefix(10).joined(separator: "; "))\(scan.problems.count > 10 ? "; … \(scan.problems.count) in all" : "")")
        }
        control.scanned(files: scan.files, bytes: scan.bytes)
        control.scanFinished()
        try probe(from: from, to: to)
        control.setPhase(.copying)
        var failed: [String] = []
        merge([], scan: scan, failed: &failed)
        // What is still in the source was not moved.
        control.setPhase(.verifying)
        var left: [String] = []
        var leftCount: Int64 = 0
        TreeWalker(root: source).walk(visit: { e in
            if e.kind != .directory {
                leftCount += 1
                if left.count < 20 { left.append("still in the source: \(RawPath(e.relative))") }
            }
            return true
        }, unreadable: { path, e in
            leftCount += 1
            left.append("cannot read \(path) to check it was emptied: \(String(cString: strerror(e)))")
        })
        var folders: [String: FolderCount] = [:]
        for (key, count) in scan.subtree where key.firstIndex(of: UInt8(ascii: "/")) == nil {
            let name = key.isEmpty ? "." : String(decoding: key, as: UTF8.self)
            guard name != "." else { continue }
            folders[name] = FolderCount(sourceFiles: count.files, sourceBytes: count.bytes, targetFiles: count.files, targetBytes: count.bytes)
        }
        let top = scan.files - scan.subtree.filter { !$0.key.isEmpty && $0.key.firstIndex(of: UInt8(ascii: "/")) == nil }.map(\.value.files).reduce(0, +)
        if top > 0 {
            let bytes = scan.bytes - scan.subtree.filter { !$0.key.isEmpty && $0.key.firstIndex(of: UInt8(ascii: "/")) == nil }.map(\.value.bytes).reduce(0, +)
            folders["."] = FolderCount(sourceFiles: top, sourceBytes: bytes, targetFiles: top, targetBytes: bytes)
        }
        let p = control.progress()
        control.setPhase(.done)
        let seconds = Date().timeIntervalSince(started)
        var result = FileSyncResult(
            filesTotal: scan.files, bytesTotal: scan.bytes, filesCopied: p.filesCopied, bytesCopied: p.bytesCopied, filesSkipped: 0,
            seconds: (seconds * 1000).rounded() / 1000, filesPerSecond: seconds > 0 ? Int64(Double(p.filesCopied) / seconds) : 0,
            bytesPerSecond: seconds > 0 ? Int64(Double(p.bytesCopied) / seconds) : 0, parallelism: 1, errors: failed,
            verify: FileVerification(mode: "move", folders: folders, differing: leftCount, examples: left, removed: 0))
        result.method = FileSyncMethod.move.rawValue
        result.filesMoved = p.filesCopied
        return result
    }

    /// Both folders, canonical, neither inside the other; the target made. Throws naming the fix.
    func checkedSides() throws -> (String, String) {
        var st = stat()
        guard source.withCString({ stat($0, &st) }) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw StepError.configuration("the source \(source) is not a readable folder")
        }
        let from = String(decoding: JournalVerdict.canonical(source.description), as: UTF8.self)
        let to = Self.canonical(target.description)
        if from == to || to.hasPrefix(from == "/" ? from : from + "/") || from.hasPrefix(to == "/" ? to : to + "/") {
            throw StepError.configuration("--method move: the target \(to) and the source \(from) must not hold one another (spec.files[].to)")
        }
        guard target.makeFolders() else { throw StepError.io("cannot create the target \(target): \(String(cString: strerror(errno)))") }
        return (from, to)
    }

    /// The canonical path of a folder that may not exist yet: its nearest existing parent's,
    /// with the rest appended (nothing is created).
    static func canonical(_ path: String) -> String {
        var head = path, tail: [String] = []
        while !head.isEmpty && head != "/" && access(head, F_OK) != 0 {
            tail.insert((head as NSString).lastPathComponent, at: 0)
            head = (head as NSString).deletingLastPathComponent
        }
        let base = String(decoding: JournalVerdict.canonical(head.isEmpty ? "." : head), as: UTF8.self)
        return ([base == "/" ? "" : base] + tail).joined(separator: "/")
    }

    /// A file made in the source and renamed into the target: the one test of "one filesystem,
    /// one mount" the kernel answers for sure (a bind mount of the same disk is EXDEV too).
    func probe(from: String, to: String) throws {
        // A temporary name (a rerun's walk or --delete removes a leftover), unique per run.
        let name = "/" + String(decoding: FileCopier.tempPrefix, as: UTF8.self) + "move-probe-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(from + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let e = errno
            throw StepError.configuration("--method move empties the source, but \(from) cannot be written (\(String(cString: strerror(e)))): mount the package writable, or use copy or reflink (spec.fileSync.method)")
        }
        close(fd)
        if rename(from + name, to + name) != 0 {
            let e = errno
            unlink(from + name)
            if e == EXDEV {
                throw StepError.configuration("--method move renames within one filesystem, but \(from) and \(to) are on different filesystems or mounts; nothing was moved: use reflink or copy (spec.fileSync.method), or put the package on the target's volume")
            }
            throw StepError.configuration("--method move: cannot rename into \(to) (\(String(cString: strerror(e)))); nothing was moved")
        }
        unlink(to + name)
    }

    /// One walk of the source: counts per folder, and what a move may not take.
    func scanSource() -> Scan {
        var scan = Scan()
        TreeWalker(root: source).walk(visit: { e in
            var st = stat()
            guard source.appending(relative: e.relative).withCString({ lstat($0, &st) }) == 0 else { return true }
            switch e.kind {
            case .directory:
                if scan.subtree[e.relative] == nil { scan.subtree[e.relative] = (0, 0) }
                return true
            case .file: break
            case .symlink:
                var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = source.appending(relative: e.relative).withCString { p in buffer.withUnsafeMutableBytes { readlink(p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
                if n < 0 || !symlinkStaysInside(linkDirectory: e.directory, target: Array(buffer[0..<n])) {
                    scan.problems.append("\(RawPath(e.relative)) is a symlink to \(String(decoding: buffer[0..<max(0, n)], as: UTF8.self)), outside the tree")
                }
            case .other:
                scan.problems.append("\(RawPath(e.relative)) is not a regular file, folder or symlink")
                return true
            }
            let bytes = e.kind == .file ? Int64(st.st_size) : 0
            (scan.files, scan.bytes) = (scan.files + 1, scan.bytes + bytes)
            // Every folder above it counts it.
            var dir = e.directory
            while !dir.isEmpty {
                scan.subtree[dir, default: (0, 0)].files += 1
                scan.subtree[dir, default: (0, 0)].bytes += bytes
                dir = Array(dir[..<(dir.lastIndex(of: UInt8(ascii: "/")) ?? 0)])
            }
            return true
        }, unreadable: { path, e in scan.problems.append("\(path) cannot be read (\(String(cString: strerror(e))))") })
        return scan
    }

    /// Moves the entries of the source folder `relative` into the target's.
    func merge(_ relative: [UInt8], scan: Scan, failed: inout [String]) {
        guard let names = source.appending(relative: relative).names() else {
            failed.append("\(source.appending(relative: relative)): cannot read the folder: \(String(cString: strerror(errno))); its entries were not moved")
            return
        }
        for name in names {
            guard control.admit(0) else { return }
            let rel = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            let src = source.appending(relative: rel), dst = target.appending(relative: rel)
            var s = stat(), t = stat()
            guard src.withCString({ lstat($0, &s) }) == 0 else {
                if errno != ENOENT { failed.append("\(RawPath(rel)): \(String(cString: strerror(errno))); not moved") }
                continue
            }
            let srcIsDir = (s.st_mode & S_IFMT) == S_IFDIR
            let exists = dst.withCString { lstat($0, &t) } == 0
            let dstIsDir = exists && (t.st_mode & S_IFMT) == S_IFDIR
            if exists && srcIsDir && dstIsDir {
                merge(rel, scan: scan, failed: &failed)
                _ = src.withCString { rmdir($0) }
                continue
            }
            if exists && srcIsDir != dstIsDir {
                failed.append("\(RawPath(rel)): the target has a \(dstIsDir ? "folder" : "file") where the source has a \(srcIsDir ? "folder" : "file"); not moved")
                continue
            }
            guard src.withCString({ a in dst.withCString { rename(a, $0) } }) == 0 else {
                failed.append("\(RawPath(rel)): cannot move: \(String(cString: strerror(errno)))")
                continue
            }
            let count: (files: Int64, bytes: Int64) = srcIsDir ? (scan.subtree[rel] ?? (0, 0)) : (1, (s.st_mode & S_IFMT) == S_IFREG ? Int64(s.st_size) : 0)
            control.moved(files: count.files, bytes: count.bytes)
        }
    }
}
