import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A new file written in chunks, its sha256 taken as the bytes go by: a package part's digest
/// never costs reading the part back. Mode 0644 by default: a package file must be readable by
/// the step image's user (uid 65532).
final class HashingWriter: @unchecked Sendable {  // one thread at a time
    let path: String
    private let fd: Int32
    private var hash = SHA256()
    private(set) var count: Int64 = 0

    init(_ path: String, mode: mode_t = 0o644) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StepError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, mode)
    }

    deinit { close(fd) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        hash.update(bufferPointer: bytes)
        try writeAll(fd, bytes, path: path)
        count += Int64(bytes.count)
    }

    /// The hex sha256 of everything written.
    func finish() -> String { hash.finalize().hexString }

    /// Copies everything `fd` gives until its end into the file. Blocking.
    func drain(_ input: Int32) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
            if n == 0 { return }
            if n < 0 {
                if errno == EINTR { continue }
                throw StepError.io("reading into \(path): \(String(cString: strerror(errno)))")
            }
            try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}
