import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a kernel notification mechanism reports about a tree.
enum ChangeEvent: Equatable {
    /// A path (relative to the root) that was created, written, renamed or deleted.
    case changed([UInt8])
    /// Events may have been lost from here on (queue overflow, the root gone, a watch refused).
    case untrusted(String)
}

/// One mechanism's event stream: a descriptor to poll, and a non-blocking drain of what is queued.
protocol ChangeSource: AnyObject {
    var mechanism: String { get }
    var descriptor: Int32 { get }
    /// Reads everything queued now, without blocking.
    func drain(_ sink: (ChangeEvent) -> Void)
    func close()
}

enum ChangeSources {
    /// fanotify where the kernel and privileges allow a filesystem mark, else inotify; the
    /// reason fanotify was passed over goes to `note`.
    static func open(root: [UInt8], note: (String) -> Void) throws -> ChangeSource {
        // A filesystem mark sees one filesystem: another mounted inside the tree would go unseen.
        let inner = mounts(below: root, in: (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
        if let first = inner.first {
            note("fanotify: \(inner.count) other filesystem(s) mounted inside the tree (\(String(decoding: first, as: UTF8.self))…), which one filesystem mark would not see; using inotify")
        } else {
            do {
                return try FanotifySource(root: root)
            } catch let why as SourceRefused {
                note("fanotify: \(why.reason); using inotify")
            }
        }
        do {
            return try InotifySource(root: root)
        } catch let why as SourceRefused {
            throw StepError.configuration("cannot watch \(String(decoding: root, as: UTF8.self)): \(why.reason)")
        }
    }
}

extension ChangeSources {
    /// Mount points strictly below `root`, from /proc/self/mountinfo's text (field 5, with
    /// its octal escapes). Pure.
    static func mounts(below root: [UInt8], in mountinfo: String) -> [[UInt8]] {
        let prefix = root.last == UInt8(ascii: "/") ? root : root + [UInt8(ascii: "/")]
        return mountinfo.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { return nil }
            let point = unescape(Array(fields[4].utf8))
            return point.count > prefix.count && point.starts(with: prefix) ? point : nil
        }
    }

    /// mountinfo's `\NNN` octal escapes (space, tab, newline, backslash) undone.
    static func unescape(_ s: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < s.count {
            if s[i] == UInt8(ascii: "\\"), i + 3 < s.count, s[(i + 1)...(i + 3)].allSatisfy({ $0 >= 48 && $0 <= 55 }) {
                let (a, b, c) = (Int(s[i + 1]) - 48, Int(s[i + 2]) - 48, Int(s[i + 3]) - 48)
                out.append(UInt8(truncatingIfNeeded: a * 64 + b * 8 + c))
                i += 4
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }
}

struct SourceRefused: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    static func errno(_ what: String) -> SourceRefused { SourceRefused("\(what): \(String(cString: strerror(Glibc.errno)))") }
}

/// fanotify with a filesystem mark, reporting the parent folder's handle and the name
/// (Linux ≥ 5.9, CAP_SYS_ADMIN): one mark sees the whole tree, however many folders it has.
/// The parent's handle is opened (`open_by_handle_at`) and read back as a path; events
/// outside the root are dropped. Folder paths are cached until a folder is moved or removed.
/// The mark sees the whole filesystem, so its queue is unlimited: a burst of writes elsewhere
/// must not overflow it and cost the journal its trust (the filesystem mark needs the same
/// privilege, CAP_SYS_ADMIN). inotify keeps the kernel's limit, and its overflow is reported.
final class FanotifySource: ChangeSource {
    let mechanism = "fanotify"
    let descriptor: Int32
    private let mountFd: Int32
    private let root: [UInt8]
    private var cache: [[UInt8]: [UInt8]] = [:]
    private var buffer = [UInt8](repeating: 0, count: 256 << 10)

    init(root: [UInt8]) throws {
        let fd = ferry_fanotify_init(FERRY_FAN_CLASS_NOTIF | FERRY_FAN_REPORT_FID | FERRY_FAN_REPORT_DIR_FID | FERRY_FAN_REPORT_NAME | FERRY_FAN_NONBLOCK | FERRY_FAN_CLOEXEC
                                     | FERRY_FAN_UNLIMITED_QUEUE, UInt32(O_RDONLY | O_LARGEFILE))
        guard fd >= 0 else { throw SourceRefused.errno("fanotify_init") }
        let mask = FERRY_FAN_CREATE | FERRY_FAN_DELETE | FERRY_FAN_MOVED_FROM | FERRY_FAN_MOVED_TO | FERRY_FAN_CLOSE_WRITE | FERRY_FAN_MODIFY | FERRY_FAN_ATTRIB | FERRY_FAN_ONDIR
        let marked = RawPath(root).withCString { ferry_fanotify_mark(fd, FERRY_FAN_MARK_ADD | FERRY_FAN_MARK_FILESYSTEM, mask, AT_FDCWD, $0) }
        guard marked == 0 else {
            let e = SourceRefused.errno("a filesystem mark on \(String(decoding: root, as: UTF8.self))")
            Glibc.close(fd)
            throw e
        }
        let m = RawPath(root).withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard m >= 0 else {
            Glibc.close(fd)
            throw SourceRefused.errno("open \(String(decoding: root, as: UTF8.self))")
        }
        descriptor = fd
        mountFd = m
        self.root = root
    }

    func drain(_ sink: (ChangeEvent) -> Void) {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            buffer.withUnsafeBytes { raw in parse(UnsafeRawBufferPointer(rebasing: raw[0..<n]), sink) }
        }
    }

    /// The events in one read: a 24-byte header each (length, version, header length, mask,
    /// fd, pid), then info records; the `DFID_NAME` one holds fsid, handle and name.
    private func parse(_ raw: UnsafeRawBufferPointer, _ sink: (ChangeEvent) -> Void) {
        var at = 0
        while at + 24 <= raw.count {
            let length = Int(raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            let headerLength = Int(raw.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self))
            let mask = raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)
            guard length >= 24, at + length <= raw.count else { return }
            defer { at += length }
            if mask & FERRY_FAN_Q_OVERFLOW != 0 {
                sink(.untrusted("the kernel's event queue overflowed (fanotify): changes may have been lost"))
                continue
            }
            var info = at + headerLength
            while info + 4 <= at + length {
                let type = raw[info]
                let size = Int(raw.loadUnaligned(fromByteOffset: info + 2, as: UInt16.self))
                guard size >= 4, info + size <= at + length else { break }
                defer { info += size }
                guard type == FERRY_FAN_EVENT_INFO_TYPE_DFID_NAME, size > 4 + 8 + 8 else { continue }
                let handleStart = info + 4 + 8
                let handleBytes = Int(raw.loadUnaligned(fromByteOffset: handleStart, as: UInt32.self))
                let nameStart = handleStart + 8 + handleBytes
                guard nameStart < info + size else { continue }
                let handle = Array(raw[handleStart..<nameStart])
                let nameEnd = raw[nameStart..<(info + size)].firstIndex(of: 0) ?? (info + size)
                let name = Array(raw[nameStart..<nameEnd])
                if mask & FERRY_FAN_ONDIR != 0, mask & (FERRY_FAN_MOVED_FROM | FERRY_FAN_MOVED_TO | FERRY_FAN_DELETE) != 0 {
                    defer { cache.removeAll(keepingCapacity: true) }
                    report(handle: handle, name: name, sink)
                } else {
                    report(handle: handle, name: name, sink)
                }
            }
        }
    }

    private func report(handle: [UInt8], name: [UInt8], _ sink: (ChangeEvent) -> Void) {
        let folder: [UInt8]
        switch path(of: handle) {
        case .path(let p): folder = p
        case .gone: return  // its removal is reported on its parent
        case .unresolved(let e):
            sink(.untrusted("a changed folder could not be resolved (\(String(cString: strerror(e)))): changes may have been lost"))
            return
        }
        guard let relative = Self.relative(folder, to: root) else { return }
        if name.isEmpty || name == [UInt8(ascii: ".")] {
            if !relative.isEmpty { sink(.changed(relative)) }
        } else {
            sink(.changed(join(relative, name)))
        }
    }

    enum Resolved { case path([UInt8]), gone, unresolved(Int32) }

    /// The folder's path now; gone when it was removed (its removal is reported on its parent).
    private func path(of handle: [UInt8]) -> Resolved {
        if let p = cache[handle] { return .path(p) }
        let fd = handle.withUnsafeBytes { ferry_open_by_handle(mountFd, $0.baseAddress, O_PATH | O_CLOEXEC) }
        // Gone: a folder removed since (ESTALE; ENOMEM when the kernel cannot reconnect a
        // removed folder's path, as after rm -rf). Anything else (EMFILE, EPERM…) may hide
        // changes to a folder that is still there.
        guard fd >= 0 else { return [ESTALE, ENOENT, ENOMEM].contains(errno) ? .gone : .unresolved(errno) }
        defer { Glibc.close(fd) }
        // Removed but still open somewhere: no links left (a name ending in " (deleted)" is only a name).
        var st = stat()
        if fstat(fd, &st) == 0 && st.st_nlink == 0 { return .gone }
        var out = [UInt8](repeating: 0, count: 4096)
        let n = out.withUnsafeMutableBytes { b in "/proc/self/fd/\(fd)".withCString { readlink($0, b.baseAddress!.assumingMemoryBound(to: CChar.self), b.count) } }
        guard n > 0 else { return .unresolved(errno) }
        let p = Array(out[0..<n])
        if cache.count > 65536 { cache.removeAll(keepingCapacity: true) }
        cache[handle] = p
        return .path(p)
    }

    /// `path` relative to `root` ([] for the root itself); nil outside it. Pure.
    static func relative(_ path: [UInt8], to root: [UInt8]) -> [UInt8]? {
        if path == root { return [] }
        let prefix = root.last == UInt8(ascii: "/") ? root : root + [UInt8(ascii: "/")]
        guard path.count > prefix.count, path.starts(with: prefix) else { return nil }
        return Array(path[prefix.count...])
    }

    func close() {
        Glibc.close(descriptor)
        Glibc.close(mountFd)
    }
}

/// inotify, one watch per folder (no privileges needed; a restricted pod has only this).
/// A folder created or moved in is watched at once and recorded whole: what was written in it
/// before its watch took hold is found by the final pass walking it.
final class InotifySource: ChangeSource {
    let mechanism = "inotify"
    let descriptor: Int32
    private let root: [UInt8]
    private var folders: [Int32: [UInt8]] = [:]
    private var buffer = [UInt8](repeating: 0, count: 256 << 10)
    private var refused: String?
    static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

    init(root: [UInt8]) throws {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SourceRefused.errno("inotify_init1") }
        descriptor = fd
        self.root = root
        watchTree([])
        if let refused {
            Glibc.close(fd)
            throw SourceRefused(refused)
        }
    }

    /// Watches `relative` and every folder below it.
    private func watchTree(_ relative: [UInt8]) {
        guard add(relative) else { return }
        TreeWalker(root: RawPath(root).appending(relative: relative)).walk(visit: { [self] e in
            if e.kind == .directory { _ = add(join(relative, e.relative)) }
            return refused == nil
        }, unreadable: { _, _ in })
    }

    private func add(_ relative: [UInt8]) -> Bool {
        let wd = RawPath(root).appending(relative: relative).withCString { inotify_add_watch(descriptor, $0, Self.mask) }
        if wd >= 0 {
            folders[wd] = relative
            return true
        }
        if errno == ENOSPC {
            refused = "the inotify watch limit (fs.inotify.max_user_watches, \(folders.count) folders watched) is reached; raise it, or run the watcher with CAP_SYS_ADMIN for fanotify"
        } else if relative.isEmpty || (errno != ENOENT && errno != ENOTDIR) {
            refused = "cannot watch \(String(decoding: join(root, relative), as: UTF8.self)): \(String(cString: strerror(errno)))"
        }
        return false
    }

    func drain(_ sink: (ChangeEvent) -> Void) {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            var events: [(Int32, UInt32, [UInt8])] = []
            buffer.withUnsafeBytes { raw in
                var at = 0
                while at + 16 <= n {
                    let wd = raw.loadUnaligned(fromByteOffset: at, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
                    guard at + 16 + length <= n else { break }
                    let field = raw[(at + 16)..<(at + 16 + length)]
                    let name = Array(field[field.startIndex..<(field.firstIndex(of: 0) ?? field.endIndex)])
                    events.append((wd, mask, name))
                    at += 16 + length
                }
            }
            for (wd, mask, name) in events { handle(wd, mask, name, sink) }
        }
    }

    private func handle(_ wd: Int32, _ mask: UInt32, _ name: [UInt8], _ sink: (ChangeEvent) -> Void) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            sink(.untrusted("the kernel's event queue overflowed (inotify): changes may have been lost"))
            return
        }
        if mask & UInt32(IN_IGNORED | IN_UNMOUNT) != 0 {
            // The root's own watch gone (unmounted, removed): nothing more would be seen.
            if folders[wd] == [] { sink(.untrusted("the watched folder's watch ended (unmounted or removed): changes since were not seen")) }
            folders[wd] = nil
            return
        }
        guard let folder = folders[wd] else { return }
        if folder.isEmpty && mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
            sink(.untrusted("the watched folder itself was moved or removed"))
            return
        }
        guard !name.isEmpty else { return }
        let path = join(folder, name)
        sink(.changed(path))
        if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
            watchTree(path)
            if let r = refused {
                sink(.untrusted(r))
                refused = nil
            }
        }
    }

    func close() { Glibc.close(descriptor) }
}

/// No mechanism could watch the tree: nothing is reported (the journal says it is untrusted).
final class UnwatchedSource: ChangeSource {
    let mechanism = "none"
    let descriptor: Int32 = -1
    func drain(_ sink: (ChangeEvent) -> Void) {}
    func close() {}
}
