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

    /// Calls `visit` for every entry below the root (folders before their contents; `.`/`..` left out).
    /// `visit` returns false to stop the walk. Unreadable folders go to `unreadable` and are skipped.
    func walk(visit: (Entry) -> Bool, unreadable: (RawPath, Int32) -> Void) {
        var stack: [[UInt8]] = [[]]
        while let relative = stack.popLast() {
            let path = root.appending(relative: relative)
            guard let dir = path.withCString({ opendir($0) }) else {
                unreadable(path, errno)
                continue
            }
            var children: [[UInt8]] = []
            let fd = dirfd(dir)
            while let entry = readdir(dir) {
                let name: [UInt8] = withUnsafePointer(to: &entry.pointee.d_name) { p in
                    p.withMemoryRebound(to: UInt8.self, capacity: 256) { Array(UnsafeBufferPointer(start: $0, count: strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)))) }
                }
                if name == [46] || name == [46, 46] { continue }
                var kind: Kind
                switch Int32(entry.pointee.d_type) {
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
                    closedir(dir)
                    return
                }
                if kind == .directory { children.append(e.relative) }
            }
            closedir(dir)
            stack += children.reversed()
        }
    }
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
