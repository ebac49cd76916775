import AsyncHTTPClient
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// What the gateway knows of one object on a side.
struct ObjectInfo: Sendable, Equatable {
    var key: String
    var size: Int64
    var etag: String
    /// ISO 8601, as a listing shows it.
    var lastModified: String
    var metadata: [String: String] = [:]
    /// Content-Type and the like (``contentHeaderNames``).
    var headers: [String: String] = [:]
}

/// Writes one piece of a body on its way to the client; returns once it is on the wire.
typealias BodyWrite = @Sendable (ByteBuffer) async throws -> Void

/// A body too large to hold: hands its pieces, in order, to `write`.
typealias BodyStream = @Sendable (_ write: BodyWrite) async throws -> Void

/// The bytes of an answer: held, or (an object too large to hold) written piece by piece as they are read.
enum ObjectBody: Sendable {
    case bytes(ByteBuffer)
    case stream(length: Int64, BodyStream)

    var length: Int64 {
        switch self {
        case .bytes(let b): Int64(b.readableBytes)
        case .stream(let length, _): length
        }
    }

    /// Bodies up to this size are held; larger ones are streamed.
    static let held = 1 << 20
}

/// One side the gateway reads: the target bucket, or the source (a bucket, or a folder). Keys
/// are relative to the side's prefix or root.
protocol ObjectSide: Sendable {
    func head(_ key: String) async throws -> ObjectInfo?
    /// The whole object, or bytes `range` of it, held in memory (at most 1 GiB); nil when there is none.
    func get(_ key: String, range: ClosedRange<Int64>?) async throws -> (ObjectInfo, ByteBuffer)?
    /// The same, to serve: a body larger than ``ObjectBody/held`` comes as a stream.
    func open(_ key: String, range: ClosedRange<Int64>?) async throws -> (ObjectInfo, ObjectBody)?
    /// Up to `limit` objects whose keys start with `prefix` and sort after `after`, in key order.
    func list(prefix: String, after: String, limit: Int) async throws -> [ObjectInfo]
}

/// A bucket (under a prefix) as a side.
struct BucketSide: ObjectSide {
    let client: S3Client
    let prefix: String

    init(client: S3Client, prefix: String) {
        self.client = client
        self.prefix = BucketToBucket.folder(prefix)
    }

    func head(_ key: String) async throws -> ObjectInfo? {
        try await client.head(prefix + key).map { ObjectInfo(key: key, size: $0.size, etag: $0.etag, lastModified: $0.lastModified, metadata: $0.metadata, headers: $0.headers) }
    }

    func get(_ key: String, range: ClosedRange<Int64>?) async throws -> (ObjectInfo, ByteBuffer)? {
        guard let (info, response, stream) = try await fetch(key, range: range, hold: S3Client.largestBody) else { return nil }
        guard stream == nil else { throw S3Error(status: 400, code: "InvalidRange", message: "ask for at most 1 GiB at once", resource: key) }
        return (info, response.body)
    }

    func open(_ key: String, range: ClosedRange<Int64>?) async throws -> (ObjectInfo, ObjectBody)? {
        guard let (info, response, stream) = try await fetch(key, range: range, hold: ObjectBody.held) else { return nil }
        guard let stream else { return (info, .bytes(response.body)) }
        let length = response.headers.first(name: "content-length").flatMap(Int64.init) ?? 0
        return (info, .stream(length: length) { write in
            var sent: Int64 = 0
            for try await piece in stream {
                sent += Int64(piece.readableBytes)
                try await write(piece)
            }
            guard sent == length else { throw S3Error(status: 0, code: "IncompleteBody", message: "the store sent \(sent) of \(length) bytes", resource: key) }
        })
    }

    /// A GET of the object (or a range), its body held when it has at most `hold` bytes; nil when there is none.
    func fetch(_ key: String, range: ClosedRange<Int64>?, hold: Int) async throws -> (ObjectInfo, S3Client.Response, HTTPClientResponse.Body?)? {
        var headers: [String: String] = [:]
        if let range { headers["Range"] = "bytes=\(range.lowerBound)-\(range.upperBound)" }
        let (r, stream) = try await client.fetch(prefix + key, headers: headers, expect: [200, 206, 404, 416], hold: hold)
        if r.status == 404 { return nil }
        if r.status == 416 { throw S3Error(status: 416, code: "InvalidRange", message: "the range is not within the object", resource: key) }
        let length = r.headers.first(name: "content-length").flatMap(Int64.init) ?? Int64(r.body.readableBytes)
        let total = r.headers.first(name: "content-range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) } ?? length
        return (ObjectInfo(key: key, size: total, etag: S3Client.unquoted(r.headers.first(name: "etag") ?? ""), lastModified: r.headers.first(name: "last-modified") ?? "",
                           metadata: S3Client.metadata(r.headers), headers: S3Client.contentHeaders(r.headers)), r, stream)
    }

    func list(prefix p: String, after: String, limit: Int) async throws -> [ObjectInfo] {
        var query = [("list-type", "2"), ("prefix", prefix + p), ("max-keys", String(limit)), ("encoding-type", "url")]
        if !after.isEmpty { query.append(("start-after", prefix + after)) }
        let page = try S3Client.listPage(String(buffer: try await client.send(.GET, key: nil, query: query).body))
        return page.objects.filter { $0.key.utf8.starts(with: prefix.utf8) }.map {
            ObjectInfo(key: String(decoding: $0.key.utf8.dropFirst(prefix.utf8.count), as: UTF8.self), size: $0.size, etag: $0.etag, lastModified: $0.lastModified)
        }
    }
}

/// A folder tree as a side (the package's folder, read-only): a key is a relative path, and one
/// that is not a safe one (`..`, a leading `/`, NUL) or that goes through a link is not there.
struct FolderSide: ObjectSide {
    let root: RawPath
    /// The sorted listing, kept a little while so a client paging through it is not a walk per page.
    let cache = Locked<(at: Date, keys: [ObjectInfo])?>(nil)
    var cacheSeconds: TimeInterval = 30

    init(root: String) {
        self.root = RawPath(root)
    }

    /// The file of `key`, opened without following a link anywhere on the way; nil when there is none.
    func open(_ key: String) -> (Int32, stat)? {
        guard BucketToFolder.unsafe(key) == nil else { return nil }
        var fd = root.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        let parts = key.split(separator: "/").map(String.init)
        for (i, part) in parts.enumerated() {
            let last = i == parts.count - 1
            // Never through a link; never blocked by a FIFO (refused below as not a regular file).
            let next = openat(fd, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY))
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        return (fd, st)
    }

    static func info(_ key: String, _ st: stat) -> ObjectInfo {
        let modified = Date(timeIntervalSince1970: ObjectMatch.seconds(st.st_mtim))
        return ObjectInfo(key: key, size: Int64(st.st_size), etag: "", lastModified: S3Time.isoString(modified),
                          metadata: ObjectMatch.metadata(mtime: st.st_mtim, mode: st.st_mode & 0o7777))
    }

    func head(_ key: String) async throws -> ObjectInfo? {
        guard let (fd, st) = open(key) else { return nil }
        close(fd)
        return Self.info(key, st)
    }

    func get(_ key: String, range: ClosedRange<Int64>?) async throws -> (ObjectInfo, ByteBuffer)? {
        guard let (fd, st) = open(key) else { return nil }
        defer { close(fd) }
        let (from, length) = try Self.span(key, range, size: Int64(st.st_size))
        guard length <= S3Client.largestBody else { throw S3Error(status: 400, code: "InvalidRange", message: "ask for at most 1 GiB at once", resource: key) }
        return (Self.info(key, st), try Self.read(fd, key, from: from, length: length))
    }

    func open(_ key: String, range: ClosedRange<Int64>?) async throws -> (ObjectInfo, ObjectBody)? {
        guard let (fd, st) = open(key) else { return nil }
        let file = OpenFile(fd)
        let (from, length) = try Self.span(key, range, size: Int64(st.st_size))
        guard length > ObjectBody.held else { return (Self.info(key, st), .bytes(try Self.read(file.fd, key, from: from, length: length))) }
        return (Self.info(key, st), .stream(length: Int64(length)) { write in
            var done = 0
            while done < length {
                let piece = min(ObjectBody.held, length - done)
                try await write(try Self.read(file.fd, key, from: from + Int64(done), length: piece))
                done += piece
            }
        })
    }

    /// Where a range starts in a file of `size` bytes, and how many bytes it has. Pure.
    static func span(_ key: String, _ range: ClosedRange<Int64>?, size: Int64) throws -> (Int64, Int) {
        let from = range?.lowerBound ?? 0, to = min(range?.upperBound ?? size - 1, size - 1)
        if range != nil && from >= size { throw S3Error(status: 416, code: "InvalidRange", message: "the range is not within the object", resource: key) }
        return (from, Int(max(0, to - from + 1)))
    }

    static func read(_ fd: Int32, _ key: String, from: Int64, length: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var done = 0
        while done < length {
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length - done) { raw in pread(fd, raw.baseAddress, min(raw.count, length - done), off_t(from) + off_t(done)) }
            guard n > 0 else { throw StepError.io("\(key): short read at \(from + Int64(done))") }
            done += n
        }
        return buffer
    }

    /// A file kept open while its body streams, closed when the last reference goes.
    final class OpenFile: Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    func list(prefix: String, after: String, limit: Int) async throws -> [ObjectInfo] {
        let all = cache.withLock { c in c.flatMap { Date().timeIntervalSince($0.at) < cacheSeconds ? $0.keys : nil } } ?? walk()
        // The first key at or after the prefix, and after `after`; then the prefix's run.
        var i = Self.first(all) { !Self.before($0.key, prefix) }
        if !after.isEmpty { i = max(i, Self.first(all) { Self.before(after, $0.key) }) }
        var out: [ObjectInfo] = []
        while i < all.count, out.count < limit, all[i].key.utf8.starts(with: prefix.utf8) {
            out.append(all[i])
            i += 1
        }
        return out
    }

    /// The first index where `holds` (false, then true, along the sorted keys); the count when none.
    static func first(_ all: [ObjectInfo], where holds: (ObjectInfo) -> Bool) -> Int {
        var lo = 0, hi = all.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if holds(all[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// Keys in S3's order: their UTF-8 bytes compared.
    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Every regular file under the root as an object, sorted (links, devices and non-UTF-8 names are not objects).
    func walk() -> [ObjectInfo] {
        let found = Locked<[ObjectInfo]>([])
        TreeWalker(root: root).walk(visit: { entry in
            guard entry.kind == .file, let key = String(validating: entry.relative, as: UTF8.self), BucketToFolder.unsafe(key) == nil else { return true }
            var st = stat()
            if root.appending(relative: entry.relative).withCString({ lstat($0, &st) }) == 0 { found.withLock { $0.append(Self.info(key, st)) } }
            return true
        }, unreadable: { _, _ in })
        let sorted = found.withLock { $0 }.sorted { Self.before($0.key, $1.key) }
        cache.withLock { $0 = (Date(), sorted) }
        return sorted
    }
}
