import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--method reflink`: before anything is copied, one file of the source is cloned into the
/// target (FICLONE) and the clone removed. Refused, naming the fix, when the two folders are
/// not on one filesystem that shares blocks (XFS with reflink, btrfs).
enum ReflinkProbe {
    static func require(source: RawPath, target: RawPath) throws {
        var first: [UInt8]?
        TreeWalker(root: source).walk(visit: { e in
            if e.kind == .file { first = e.relative }
            return first == nil
        }, unreadable: { _, _ in })
        guard let first else { return }  // nothing to clone
        let input = source.appending(relative: first).withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard input >= 0 else { return }  // the copy names it
        defer { close(input) }
        let probe = target.appending(FileCopier.tempPrefix + Array("reflink-probe-\(getpid())".utf8))
        let output = probe.withCString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard output >= 0 else { return }  // the copy names it
        let cloned = ferry_ficlone(output, input)
        let e = errno
        close(output)
        _ = probe.withCString { unlink($0) }
        guard cloned == 0 else {
            throw StepError.configuration("--method reflink: \(source) cannot be cloned into \(target) (\(String(cString: strerror(e)))); nothing was copied. A reflink needs both folders on one XFS (reflink=1) or btrfs filesystem; leave spec.fileSync.method out to copy where it cannot, or use copy")
        }
    }
}
