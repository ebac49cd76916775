import Crypto
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// An object's ETag as S3 computes it, from the bytes: the MD5 of a single-request upload,
/// and for a multipart upload the MD5 of its parts' MD5s, then `-` and the part count.
/// Fed in order (a download or a file read), it cuts the parts itself.
struct ETagHash {
    /// The part size of a multipart upload; nil: one request.
    let partSize: Int64?
    private var whole = Insecure.MD5()
    private var part = Insecure.MD5()
    private var inPart: Int64 = 0
    private var parts: [Insecure.MD5.Digest] = []

    init(partSize: Int64?) {
        self.partSize = partSize
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let partSize else { return whole.update(bufferPointer: bytes) }
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = Int(min(Int64(rest.count), partSize - inPart))
            part.update(bufferPointer: UnsafeRawBufferPointer(rebasing: rest.prefix(n)))
            inPart += Int64(n)
            rest = rest.dropFirst(n)
            if inPart == partSize { closePart() }
        }
    }

    mutating func update(_ buffer: ByteBuffer) { buffer.withUnsafeReadableBytes { update($0) } }

    private mutating func closePart() {
        parts.append(part.finalize())
        part = Insecure.MD5()
        inPart = 0
    }

    mutating func finalize() -> String {
        guard partSize != nil else { return S3Signer.hex(Array(whole.finalize())) }
        if inPart > 0 || parts.isEmpty { closePart() }
        return Self.combine(parts.map { Array($0) })
    }

    /// The ETag of a multipart object from its parts' MD5s.
    static func combine(_ partMD5s: [[UInt8]]) -> String {
        S3Signer.hex(Array(Insecure.MD5.hash(data: partMD5s.flatMap { $0 }))) + "-\(partMD5s.count)"
    }

    static func md5(_ buffer: ByteBuffer) -> [UInt8] { buffer.withUnsafeReadableBytes { Array(Insecure.MD5.hash(data: $0)) } }

    /// Whether an ETag is one this can compute: an MD5, alone or with a part count (an encrypted
    /// object's or another store's opaque ETag is not).
    static func comparable(_ etag: String) -> Bool {
        let parts = etag.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].count == 32, parts[0].allSatisfy(\.isHexDigit) else { return false }
        return parts.count == 1 || Int(parts[1]).map { $0 >= 1 && $0 <= 10_000 } == true
    }

    /// The part sizes to try for an object of `size` bytes whose ETag says how many parts it
    /// was sent in: the mover's own first, then each whole number of MiB that gives that count
    /// (what the SDKs, rclone and mc use), at most 8 in all. `[nil]` for a single-request ETag. Pure.
    static func partSizes(size: Int64, etag: String, own: Int64) -> [Int64?] {
        guard let dash = etag.lastIndex(of: "-"), let count = Int64(etag[etag.index(after: dash)...]), count >= 1 else { return [nil] }
        func fits(_ p: Int64) -> Bool { p > 0 && (size + p - 1) / p == count }
        let mib: Int64 = 1 << 20
        var sizes: [Int64?] = fits(own) ? [own] : []
        var p = ((size + count - 1) / count + mib - 1) / mib * mib
        while fits(p) && sizes.count < 8 {
            if p != own { sizes.append(p) }
            p += mib
        }
        return sizes
    }

    /// The part size an upload of `size` bytes uses: `partSize`, larger when 10,000 parts would not hold it.
    static func uploadPartSize(size: Int64, partSize: Int) -> Int {
        max(partSize, Int((size + 9_999) / 10_000 + (1 << 20) - 1) & ~((1 << 20) - 1))
    }
}

extension ETagHash {
    /// A file's ETag for each part size (nil: one request), read once in 1 MiB blocks; never through a link.
    static func of(file: RawPath, partSizes: [Int64?]) throws -> [String] {
        let fd = file.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw StepError.io("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hashes = partSizes.map(ETagHash.init)
        var block = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = block.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n >= 0 else { throw StepError.io("cannot read \(file): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            block.withUnsafeBytes { b in for i in hashes.indices { hashes[i].update(UnsafeRawBufferPointer(rebasing: b.prefix(n))) } }
        }
        return hashes.indices.map { hashes[$0].finalize() }
    }
}
