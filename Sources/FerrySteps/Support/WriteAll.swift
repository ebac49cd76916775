import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes` to `fd` (short writes continued, EINTR retried); `path` names the file
/// in the error.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    guard let base = bytes.baseAddress else { return }
    var done = 0
    while done < bytes.count {
        let n = Glibc.write(fd, base + done, bytes.count - done)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw StepError.io("cannot write \(path): \(String(cString: strerror(errno))) (is the disk full?)") }
        done += n
    }
}
