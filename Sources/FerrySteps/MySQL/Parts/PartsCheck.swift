import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One data part of a package, resolved: where it is and what the manifest says of it.
public struct MySQLPartFile: Sendable, Equatable {
    public var path: String
    /// Package-relative, as the manifest names it (for messages).
    public var file: String
    public var table: String
    public var rows: Int
    public var columns: [String]
    public var sha256: String?
    public var bytes: Int64 = 0
}

/// Reads every data part once (in parallel): its rows (lines) and its sha256 against the
/// manifest, and each table's rows summed over its parts against the table's count. Names
/// every part and table that differs. Blocking.
enum PartsCheck {
    struct Read: Equatable {
        var rows: Int
        var sha256: String
        var bytes: Int64
        /// The last byte is not a newline: a part cut short.
        var cut: Bool
    }

    static func read(_ path: String) throws -> Read {
        // Non-blocking open: a FIFO put in a part's place must not hang the check.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { throw StepError.badPackage("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw StepError.badPackage("\(path) is not a regular file") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var hash = SHA256()
        var rows = 0, bytes: Int64 = 0
        var last: UInt8 = 10
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer, size)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw StepError.badPackage("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(start: buffer, count: n)
            hash.update(bufferPointer: chunk)
            rows += lines(chunk)
            last = chunk[n - 1]
            bytes += Int64(n)
        }
        guard path.hasSuffix(".zst") else {
            return Read(rows: rows, sha256: hash.finalize().hexString, bytes: bytes, cut: bytes > 0 && last != 10)
        }
        // The rows of a compressed part are the lines of its text.
        let text = try PartReader(path)
        rows = 0
        last = 10
        var textBytes: Int64 = 0
        while true {
            let n = try text.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size))
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(start: buffer, count: n)
            rows += lines(chunk)
            last = chunk[n - 1]
            textBytes += Int64(n)
        }
        try text.finish()
        return Read(rows: rows, sha256: hash.finalize().hexString, bytes: bytes, cut: textBytes > 0 && last != 10)
    }

    static func lines(_ chunk: UnsafeRawBufferPointer) -> Int {
        guard var p = chunk.baseAddress else { return 0 }
        let end = p + chunk.count
        var count = 0
        while p < end, let hit = memchr(p, 10, end - p) {
            count += 1
            p = UnsafeRawPointer(hit) + 1
        }
        return count
    }

    /// The problems, none when every part and table agrees with the manifest; `parts` get their
    /// sizes filled in.
    static func problems(_ parts: inout [MySQLPartFile], tables: [String: PackageManifest.MySQLTable], width: Int) -> [String] {
        let found = Locked([Int: Result<Read, Error>]())
        let next = Locked(0)
        let group = DispatchGroup()
        let list = parts
        for _ in 0..<max(1, min(width, list.count)) {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while true {
                    let i = next.withLock { n -> Int in n += 1; return n - 1 }
                    guard i < list.count else { return }
                    let r = Result { try read(list[i].path) }
                    found.withLock { $0[i] = r }
                }
            }
        }
        group.wait()
        let results = found.withLock { $0 }
        var out: [String] = []
        var perTable: [String: Int] = [:]
        var seen = Set<String>()
        for (i, p) in list.enumerated() {
            if !seen.insert(p.file).inserted { out.append("\(p.file) is listed twice in the manifest") }
            if tables[p.table] == nil { out.append("\(p.file) holds rows of table \(p.table), which the manifest does not list") }
            let (sum, overflow) = perTable[p.table, default: 0].addingReportingOverflow(p.rows)
            if overflow || p.rows < 0 { out.append("\(p.file): the manifest's row count \(p.rows) is not a count"); continue }
            perTable[p.table] = sum
            if p.sha256 == nil { out.append("\(p.file) has no sha256 in the manifest") }
            switch results[i] {
            case .failure(let e)?: out.append("\(e)")
            case .success(let r)?:
                parts[i].bytes = r.bytes
                if let want = p.sha256, r.sha256 != want.lowercased() { out.append("\(p.file): sha256 is \(r.sha256), the manifest says \(want)") }
                if r.cut { out.append("\(p.file) ends inside a row: the part was cut short") }
                if r.rows != p.rows { out.append("\(p.file) (table \(p.table)) holds \(r.rows) rows, the manifest says \(p.rows)") }
            case nil: out.append("\(p.file) was not read")
            }
        }
        for (name, t) in tables.sorted(by: { $0.key < $1.key }) where (perTable[name] ?? 0) != t.rows {
            out.append("table \(name): its parts hold \(perTable[name] ?? 0) rows, the manifest says \(t.rows)")
        }
        return out
    }
}

/// A data part's text: the file itself, or `zstd -dc` of a `.zst` part. Blocking.
final class PartReader {
    private let fd: Int32
    private let decompressor: Decompressor?
    let path: String

    init(_ path: String) throws {
        self.path = path
        if path.hasSuffix(".zst") {
            try BackupPackage.refuseSpecialFile(path)
            decompressor = try Decompressor(path)
            fd = -1
        } else {
            decompressor = nil
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StepError.badPackage("cannot read \(path): \(String(cString: strerror(errno)))") }
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Up to `buffer.count` bytes of text; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let decompressor { return try decompressor.read(into: buffer) }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw StepError.io("reading \(path): \(String(cString: strerror(errno)))") }
        }
    }

    /// Throws when the decompression failed (a damaged part).
    func finish() throws { try decompressor?.finish() }
}
