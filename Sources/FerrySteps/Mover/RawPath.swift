#if canImport(Glibc)
import Glibc
#endif

/// A file system path as raw bytes: names need not be UTF-8, and a String
/// round trip would corrupt them. Converted to text only for messages.
public struct RawPath: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ text: String) {
        bytes = Array(text.utf8)
    }

    /// `self/name`.
    public func appending(_ name: [UInt8]) -> RawPath {
        var b = bytes
        if b.last != UInt8(ascii: "/") { b.append(UInt8(ascii: "/")) }
        b += name
        return RawPath(b)
    }

    /// `self/relative` where relative may be empty.
    public func appending(relative: [UInt8]) -> RawPath {
        relative.isEmpty ? self : appending(relative)
    }

    /// Runs `body` with a NUL-terminated C string of the path.
    public func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// For messages: invalid UTF-8 shown as U+FFFD.
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// `relative` joined with a name, for paths inside a tree (`a/b` + `c`).
func join(_ relative: [UInt8], _ name: [UInt8]) -> [UInt8] {
    relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
}

/// Whether a symlink at `linkDirectory` (relative to the tree root, as
/// components) with text `target` resolves inside the tree. Absolute targets
/// never do; `..` may not climb above the root.
func symlinkStaysInside(linkDirectory: [UInt8], target: [UInt8]) -> Bool {
    guard !target.isEmpty, target.first != UInt8(ascii: "/") else { return false }
    var depth = linkDirectory.isEmpty ? 0 : linkDirectory.split(separator: UInt8(ascii: "/")).count
    for part in target.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
        if part.elementsEqual([UInt8(ascii: ".")]) { continue }
        if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
            depth -= 1
            if depth < 0 { return false }
        } else {
            depth += 1
        }
    }
    return true
}

extension RawPath {
    /// Creates the folder and every missing parent (0755), as `mkdir -p`; false with errno set when one cannot be made.
    /// The names in this folder (`.` and `..` left out); nil with errno when it cannot be read.
    /// `following: false`: nil when the path is a symlink, never its target's names.
    func names(following: Bool = true) -> [[UInt8]]? {
        let fd = withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (following ? 0 : O_NOFOLLOW)) }
        guard fd >= 0 else { return nil }
        guard let dir = fdopendir(fd) else {
            close(fd)
            return nil
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        return names
    }

    /// A real folder (lstat: a symlink to one is not).
    var isFolder: Bool {
        var st = stat()
        return withCString { lstat($0, &st) } == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Makes the folders of `relative` below this path as real folders: a file or symlink in the
    /// way is removed (`remove`), never followed. False with errno when one cannot be made.
    func makeRealFolders(_ relative: [UInt8], remove: (RawPath) -> Void) -> Bool {
        var prefix: [UInt8] = []
        for part in relative.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            prefix = prefix.isEmpty ? Array(part) : prefix + [UInt8(ascii: "/")] + part
            let path = appending(relative: prefix)
            if path.isFolder { continue }
            var st = stat()
            if path.withCString({ lstat($0, &st) }) == 0 { remove(path) }
            if path.withCString({ mkdir($0, 0o755) }) != 0 && errno != EEXIST { return false }
        }
        return true
    }

    func makeFolders() -> Bool {
        var prefix: [UInt8] = []
        for (i, part) in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).enumerated() {
            if i > 0 { prefix.append(UInt8(ascii: "/")) }
            prefix += part
            if prefix.isEmpty || part.isEmpty { continue }
            if RawPath(prefix).withCString({ mkdir($0, 0o755) }) != 0 && errno != EEXIST { return false }
        }
        return true
    }
}
