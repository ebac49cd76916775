import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file: the dump is scanned and then
/// written to several connections straight from the mapping, without copies.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw StepError.badPackage(Self.unreadable(path, errno: errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StepError.badPackage("cannot stat \(path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw StepError.badPackage("\(path) is not a regular file (a FIFO, socket or device?); a package holds only regular files") }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw StepError.badPackage("cannot map \(path): \(String(cString: strerror(errno)))") }
        madvise(p, count, MADV_SEQUENTIAL)
        base = p
    }

    /// "cannot open P: Permission denied (this process runs as uid 65532); make the package readable …"
    public static func unreadable(_ path: String, errno code: Int32) -> String {
        var text = "cannot open \(path): \(String(cString: strerror(code)))"
        if code == EACCES || code == EPERM {
            text += " (this process runs as uid \(getuid()), gid \(getgid())); make the package readable for it: chmod -R a+rX on the package folder, "
                + "or chown it to that uid, or export it again with ferry export (which writes every file readable)"
        }
        return text
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// The bytes; valid while this object lives.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    public func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[range]) }
}
