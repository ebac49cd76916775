import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A streaming depth-first walk: one directory's entries at a time, an
/// explicit stack of folders still to visit, so memory follows the tree's
/// depth and breadth of one level — never its total size.
struct TreeWalker {
    enum Kind {
        case directory, file, symlink, other
    }

    struct Entry {
        /// The folder holding it, relative to the root (empty for the root).
        var directory: [UInt8]
        var name: [UInt8]
        var kind: Kind
        var relative: [UInt8] { join(directory, name) }
    }

    let root: RawPath

    /// Calls `visit` for every entry below the root (a folder before its contents; `.`/`..`
    /// left out). `visit` returns false to stop the walk. Unreadable folders go to
    /// `unreadable` and are skipped. With `threads` > 1 folders are read in parallel (cold
    /// metadata reads overlap) and `visit` is called from several threads at once.
    func walk(threads: Int = 1, visit: @escaping (Entry) -> Bool, unreadable: @escaping (RawPath, Int32) -> Void) {
        let shared = SharedStack(first: [])
        let walker = self
        let body = UncheckedBox { () in
            while let relative = shared.pop() {
                let children = walker.readFolder(relative, visit: visit, unreadable: unreadable, stop: { shared.stop() })
                shared.finished(children)
            }
        }
        let done = DispatchGroup()
        for _ in 1..<max(1, threads) {
            done.enter()
            let t = Thread {
                body.value()
                done.leave()
            }
            t.stackSize = 256 << 10
            t.start()
        }
        body.value()
        done.wait()
    }

    /// Reads one folder: visits its entries and returns its subfolders (nil entries when stopped).
    private func readFolder(_ relative: [UInt8], visit: (Entry) -> Bool, unreadable: (RawPath, Int32) -> Void, stop: () -> Void) -> [[UInt8]] {
        let path = root.appending(relative: relative)
        guard let dir = path.withCString({ opendir($0) }) else {
            unreadable(path, errno)
            return []
        }
        defer { closedir(dir) }
        var children: [[UInt8]] = []
        let fd = dirfd(dir)
        // Entries are visited in inode order, not the directory's hash order: the metadata
        // reads that follow then walk the inode table forward (measured ~20% faster cold).
        var entries: [(ino: UInt64, name: [UInt8], type: UInt8)] = []
        while let entry = readdir(dir) {
            let name: [UInt8] = withUnsafePointer(to: &entry.pointee.d_name) { p in
                p.withMemoryRebound(to: UInt8.self, capacity: 256) { Array(UnsafeBufferPointer(start: $0, count: strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)))) }
            }
            if name == [46] || name == [46, 46] { continue }
            entries.append((UInt64(entry.pointee.d_ino), name, entry.pointee.d_type))
        }
        entries.sort { $0.ino < $1.ino }
        for (_, name, type) in entries {
            var kind: Kind
            switch Int32(type) {
            case Int32(DT_DIR): kind = .directory
            case Int32(DT_REG): kind = .file
            case Int32(DT_LNK): kind = .symlink
            case Int32(DT_UNKNOWN):
                var st = stat()
                kind = .other
                if RawPath(name).withCString({ fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 {
                    switch st.st_mode & S_IFMT {
                    case S_IFDIR: kind = .directory
                    case S_IFREG: kind = .file
                    case S_IFLNK: kind = .symlink
                    default: kind = .other
                    }
                }
            default: kind = .other
            }
            let e = Entry(directory: relative, name: name, kind: kind)
            guard visit(e) else {
                stop()
                return []
            }
            if kind == .directory { children.append(e.relative) }
        }
        return children
    }
}

/// Folders still to read, shared by the walking threads; done when empty and nobody is reading.
private final class SharedStack: @unchecked Sendable {
    private let condition = NSCondition()
    private var stack: [[UInt8]]
    private var busy = 0
    private var stopped = false

    init(first: [UInt8]) { stack = [first] }

    func pop() -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while stack.isEmpty && busy > 0 && !stopped { condition.wait() }
        if stopped || stack.isEmpty { return nil }
        busy += 1
        return stack.removeLast()
    }

    func finished(_ children: [[UInt8]]) {
        condition.lock()
        busy -= 1
        stack += children.reversed()
        condition.broadcast()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Hands a non-Sendable closure to helper threads whose lifetime the caller bounds.
private struct UncheckedBox: @unchecked Sendable {
    let value: () -> Void
    init(_ value: @escaping () -> Void) { self.value = value }
}

/// A bounded blocking queue between the walker and the copy workers.
final class WorkQueue<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [T] = []
    private var head = 0
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while full; false once closed.
    func put(_ item: T) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(item)
        condition.signal()
        return true
    }

    /// Blocks while empty; nil when closed and drained.
    func take() -> T? {
        condition.lock()
        defer { condition.unlock() }
        while items.count == head && !closed { condition.wait() }
        if items.count == head { return nil }
        let item = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }

    /// No more items will come; takers drain what is left.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

extension WorkQueue {
    /// `count` threads of their own (a blocked read or upload never holds Swift's shared pool),
    /// each taking items until the queue is closed and empty. Wait on the group they leave.
    func workers(_ count: Int, _ body: @escaping @Sendable (T) -> Void) -> DispatchGroup {
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                while let item = take() { body(item) }
            }.start()
        }
        return group
    }
}
