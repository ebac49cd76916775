import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension FileMover {
    /// The journal pass's walk: each journaled path once, parents before children. A path the
    /// source has goes to `visit` (a folder with everything below it, since what was written in
    /// a folder before it was watched is not in the journal); one it lacks is removed from the
    /// target with `delete`. Returns the folders whose times to set again (each path's
    /// parents: adding or removing an entry changed them) and how many paths were removed.
    func walkScope(_ paths: [[UInt8]], visit: @escaping (TreeWalker.Entry) -> Bool, unreadable: @escaping (RawPath, Int32) -> Void) -> (parents: [([UInt8], stat)], removed: Int64) {
        let source = options.source, target = options.target
        // The walk below looks at each path one after another; on a cold cache each look is a
        // disk read. Looked at first by many threads at once, they are all in memory by then.
        Self.prefetch(paths, roots: [source, target], threads: 16)
        var walkedFolders = Set<[UInt8]>()
        var parents: [[UInt8]: stat] = [:]
        var removed: Int64 = 0
        let slash = UInt8(ascii: "/")
        for path in paths.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var parts = path.split(separator: slash, omittingEmptySubsequences: true).map(Array.init)
            // Journal paths come from the kernel; one that climbs out of the tree is not ours.
            guard !parts.isEmpty, !parts.contains([46, 46]), !parts.contains([46]) else { continue }
            // The path as the source has it now: its first ancestor that is not a real folder
            // (a symlink, a file, gone) stands for it; nothing is read through a symlink.
            var reach: [UInt8] = []
            for (i, part) in parts.dropLast().enumerated() {
                reach = join(reach, part)
                if !source.appending(relative: reach).isFolder {
                    parts = Array(parts.prefix(i + 1))
                    break
                }
            }
            var ancestors: [[UInt8]] = []
            for part in parts.dropLast() { ancestors.append(join(ancestors.last ?? [], part)) }
            if ancestors.contains(where: walkedFolders.contains) { continue }
            let relative = ancestors.isEmpty ? parts[0] : join(ancestors.last!, parts.last!)
            let directory = ancestors.last ?? []
            for folder in [[]] + ancestors where parents[folder] == nil {
                var st = stat()
                if source.appending(relative: folder).withCString({ lstat($0, &st) }) == 0 { parents[folder] = st }
            }
            var st = stat()
            guard source.appending(relative: relative).withCString({ lstat($0, &st) }) == 0 else {
                let e = errno
                guard e == ENOENT || e == ENOTDIR else {
                    // Not gone: unreadable. Never taken for copied.
                    unreadable(source.appending(relative: relative), e)
                    continue
                }
                // Gone from the source: removed from the target, only below real folders there.
                var t = stat()
                if options.delete, ancestors.allSatisfy({ target.appending(relative: $0).isFolder }),
                   target.appending(relative: relative).withCString({ lstat($0, &t) }) == 0 {
                    removeAll(target.appending(relative: relative))
                    removed += 1
                }
                continue
            }
            // The target's folders above the path, real folders as the source's are (a symlink
            // there is replaced, never written through); the walk's visit creates the path's own.
            guard target.makeRealFolders(directory, remove: removeAll) else {
                control.error("\(target.appending(relative: directory)): cannot create the folder: \(String(cString: strerror(errno)))")
                continue
            }
            let name = parts.last!
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                walkedFolders.insert(relative)
                guard visit(.init(directory: directory, name: name, kind: .directory)) else { return (Array(parents), removed) }
                if options.delete { removed += removeExtras(relative) }
                var go = true
                TreeWalker(root: source.appending(relative: relative)).walk(visit: { [control] e in
                    if e.kind == .file {
                        var s = stat()
                        if source.appending(relative: join(relative, e.relative)).withCString({ lstat($0, &s) }) == 0 { control.scanned(files: 1, bytes: Int64(s.st_size)) }
                    } else if e.kind == .symlink {
                        control.scanned(files: 1, bytes: 0)
                    }
                    if e.kind == .directory && self.options.delete { removed += self.removeExtras(join(relative, e.relative)) }
                    go = visit(.init(directory: join(relative, e.directory), name: e.name, kind: e.kind))
                    return go
                }, unreadable: unreadable)
                if !go { return (Array(parents), removed) }
            case S_IFREG, S_IFLNK:
                control.scanned(files: 1, bytes: (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : 0)
                guard visit(.init(directory: directory, name: name, kind: (st.st_mode & S_IFMT) == S_IFREG ? .file : .symlink)) else { return (Array(parents), removed) }
            default:
                _ = visit(.init(directory: directory, name: name, kind: .other))
            }
        }
        return (Array(parents), removed)
    }

    /// lstat of each path and its folders under each root, on `threads` threads: the inodes
    /// read from disk in parallel. Only warms the cache; nothing is decided here.
    static func prefetch(_ paths: [[UInt8]], roots: [RawPath], threads: Int) {
        guard paths.count > 8 else { return }
        let next = Locked(0)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(threads, paths.count / 4)) {
            group.enter()
            let t = Thread {
                defer { group.leave() }
                while true {
                    let i = next.withLock { n in defer { n += 1 }; return n }
                    guard i < paths.count else { return }
                    for root in roots {
                        var st = stat()
                        _ = root.appending(relative: paths[i]).withCString { lstat($0, &st) }
                    }
                }
            }
            t.stackSize = 128 << 10
            t.start()
        }
        group.wait()
    }

    /// Removes what the target's folder `relative` holds and the source's does not (one level).
    private func removeExtras(_ relative: [UInt8]) -> Int64 {
        let source = options.source.appending(relative: relative), target = options.target.appending(relative: relative)
        // Never through a symlink: the visit replaces one with a real folder.
        guard let names = target.names(following: false) else { return 0 }
        var removed: Int64 = 0
        for name in names {
            var st = stat()
            if source.appending(name).withCString({ lstat($0, &st) }) != 0 && errno == ENOENT {
                removeAll(target.appending(name))
                if !FileCopier.isTemp(name) { removed += 1 }
            }
        }
        return removed
    }
}

/// A check on a trusted journal: files the journal does not name, picked at random by
/// descending from the root through random entries, compared between source and target
/// (size and mtime, or contents). One that differs means the journal missed a change.
enum JournalSample {
    /// The first sampled file that differs, and how many were compared.
    /// On several threads at once (each descent is a few cold reads; they overlap).
    static func check(source: RawPath, target: RawPath, journaled: Set<[UInt8]>, count: Int, checksum: Bool, threads: Int = 8) -> (differing: [UInt8]?, compared: Int) {
        struct Tally: Sendable {
            var compared = 0
            var attempts = 0
            var differing: [UInt8]?
        }
        let tally = Locked(Tally())
        let group = DispatchGroup()
        for _ in 0..<max(1, threads) {
            group.enter()
            let t = Thread {
                defer { group.leave() }
                var rng = SystemRandomNumberGenerator()
                while true {
                    let go = tally.withLock { t -> Bool in
                        guard t.differing == nil, t.compared < count, t.attempts < count * 8 else { return false }
                        t.attempts += 1
                        return true
                    }
                    guard go else { return }
                    guard let (relative, st) = pick(source, journaled: journaled, using: &rng) else { continue }
                    let same = FileCopier.sameFile(source.appending(relative: relative), target.appending(relative: relative), st, checksum: checksum)
                    tally.withLock { t in
                        t.compared += 1
                        if !same && t.differing == nil { t.differing = relative }
                    }
                }
            }
            t.stackSize = 256 << 10
            t.start()
        }
        group.wait()
        let t = tally.withLock { $0 }
        return (t.differing, t.compared)
    }

    /// One regular file reached by random steps down from the root, not under a journaled path.
    private static func pick(_ root: RawPath, journaled: Set<[UInt8]>, using rng: inout SystemRandomNumberGenerator) -> ([UInt8], stat)? {
        var relative: [UInt8] = []
        for _ in 0..<64 {
            guard let name = root.appending(relative: relative).names()?.randomElement(using: &rng) else { return nil }
            relative = join(relative, name)
            if journaled.contains(relative) { return nil }
            var st = stat()
            guard root.appending(relative: relative).withCString({ lstat($0, &st) }) == 0 else { return nil }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFREG: return FileCopier.isTemp(name) ? nil : (relative, st)
            default: return nil
            }
        }
        return nil
    }
}
