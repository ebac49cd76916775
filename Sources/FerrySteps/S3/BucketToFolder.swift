import FerryProtocol
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// `ferry mover files` with an `s3://bucket/prefix` source: the objects under the prefix
/// downloaded into a folder tree, `parallelism` at once, each in ranged parts written to a
/// temporary name in its folder and renamed into place when complete (a killed run leaves no
/// partial file). mode and mtime come back from the object's metadata. A key that is not a safe
/// relative path on a folder (`..`, NUL, a name too long, a leading `/`) is refused by name and
/// never written. What counts as already there is ``ObjectMatch``'s (size and mtime, or with
/// `checksum` the file's MD5 against the ETag, every download's too).
final class BucketToFolder: @unchecked Sendable {
    let client: S3Client
    let prefix: String
    let target: RawPath
    let parallelism: Int
    let partSize: Int
    let checksum: Bool
    let control: MoverControl

    init(client: S3Client, prefix: String, target: RawPath, parallelism: Int, partSize: Int = 8 << 20, checksum: Bool = false, control: MoverControl) {
        self.client = client
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.target = target
        self.parallelism = parallelism
        self.partSize = partSize
        self.checksum = checksum
        self.control = control
    }

    /// Why a key (below the prefix) cannot be a file's relative path; nil when it can. Pure.
    static func unsafe(_ relative: String) -> String? {
        if relative.isEmpty { return "an empty name" }
        if relative.hasPrefix("/") { return "it starts with /" }
        if relative.utf8.contains(0) { return "it holds a NUL byte" }
        if relative.utf8.count > 4000 { return "the path is longer than a folder takes" }
        for part in relative.split(separator: "/", omittingEmptySubsequences: false) {
            if part == ".." || part == "." { return "it has a \(part) component" }
            if part.isEmpty { return "it has an empty component (//)" }
            if part.utf8.count > 255 { return "a component is longer than 255 bytes" }
            if part.hasPrefix(".ferry-part-") { return "it uses the mover's temporary prefix" }
        }
        return nil
    }

    func run() throws -> FileSyncResult {
        let started = Date()
        let client = self.client, prefix = self.prefix
        do { try blocking { try await client.checkBucket() } } catch {
            throw StepError.beforeChange(.target("the source bucket \(client.location.bucket) at \(client.location.endpoint): \(error)"))
        }
        guard target.makeFolders() else { throw StepError.io("cannot create the target \(target): \(String(cString: strerror(errno)))") }
        let objects: [S3Object] = try blocking { try await client.listTree(prefix: prefix) }
        control.setPhase(.copying)
        let errors = Locked<[String]>([])
        var counts: [String: FolderCount] = [:]
        var work: [(String, S3Object)] = []
        for o in objects where o.key.utf8.starts(with: prefix.utf8) {
            let relative = String(decoding: o.key.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
            if relative.hasSuffix("/") && o.size == 0 { continue }  // a folder marker
            if let why = Self.unsafe(relative) {
                errors.withLock { $0.append("\(o.key): not written, \(why)") }
                continue
            }
            control.scanned(files: 1, bytes: o.size)
            counts[Self.top(relative), default: FolderCount()].sourceFiles += 1
            counts[Self.top(relative), default: FolderCount()].sourceBytes += o.size
            work.append((relative, o))
        }
        control.scanFinished()
        let queue = WorkQueue<(String, S3Object)>(capacity: parallelism * 4)
        let workers = queue.workers(parallelism) { [self] (relative, object) in
            do {
                let copied = try download(relative, object)
                control.fileDone(bytes: object.size, copied: copied)
            } catch {
                control.failed(object.key, error, bytes: object.size, into: errors)
            }
        }
        for w in work where queue.put(w) && control.stopped == nil {}
        queue.close()
        workers.wait()
        if let reason = control.stopped { throw StepError.target("stopped: \(reason)") }
        control.setPhase(.verifying)
        var differing: Int64 = 0
        var examples: [String] = []
        for (relative, o) in work {
            var st = stat()
            let ok = target.appending(relative: Array(relative.utf8)).withCString { lstat($0, &st) } == 0
            if ok {
                counts[Self.top(relative), default: FolderCount()].targetFiles += 1
                counts[Self.top(relative), default: FolderCount()].targetBytes += Int64(st.st_size)
            }
            if !ok || Int64(st.st_size) != o.size {
                differing += 1
                if examples.count < 10 { examples.append("\(relative): object \(o.size) bytes, file \(ok ? String(st.st_size) : "missing")") }
            }
        }
        return control.bucketResult(started: started, parallelism: parallelism, errors: errors.withLock { $0 },
                                    verify: FileVerification(mode: checksum ? "checksum" : "size", folders: counts, differing: differing, examples: examples, removed: 0))
    }

    static func top(_ relative: String) -> String {
        let parts = relative.split(separator: "/")
        return parts.count > 1 ? String(parts[0]) : "."
    }

    /// One object into its file: skipped when current; else ranged GETs into a temporary file, renamed into place.
    func download(_ relative: String, _ object: S3Object) throws -> Bool {
        let path = target.appending(relative: Array(relative.utf8))
        if try current(path, object) { return false }
        if checksum && !ETagHash.comparable(object.etag) {
            throw StepError.target("its ETag \(object.etag) is not an MD5 (an encrypted object, or another store's), so verify: checksum cannot compare its contents; use verify: size")
        }
        // Checksum mode: the bytes hashed as they arrive, for each part size the ETag may have been made with.
        var hashes = checksum ? ETagHash.partSizes(size: object.size, etag: object.etag, own: Int64(ETagHash.uploadPartSize(size: object.size, partSize: partSize))).map(ETagHash.init) : []
        if checksum && hashes.isEmpty {
            throw StepError.target("its ETag \(object.etag) is of a multipart upload whose part size cannot be told from its size, so verify: checksum cannot compare its contents; use verify: size")
        }
        let folder = RawPath(Array(path.bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropLast().joined(separator: [UInt8(ascii: "/")])))
        guard folder.makeFolders() else { throw StepError.io("cannot create \(folder): \(String(cString: strerror(errno)))") }
        let temporary = folder.appending(Array(".ferry-part-\(UUID().uuidString)".utf8))
        let fd = temporary.withCString { open($0, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw StepError.io("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var renamed = false
        defer {
            close(fd)
            if !renamed { _ = temporary.withCString { unlink($0) } }
        }
        let (client, size, part, control) = (self.client, object.size, Int64(self.partSize), self.control)
        var metadata: [String: String] = [:]
        var offset: Int64 = 0
        repeat {
            let length = Int(min(size - offset, part))
            let at = offset
            let (body, meta) = try blocking { try await client.read(object, offset: at, length: length) }
            if offset == 0 { metadata = meta }
            for i in hashes.indices { hashes[i].update(body) }
            var written = 0
            while written < body.readableBytes {
                guard control.admit(min(1 << 20, body.readableBytes - written)) else { throw StepError.target("stopped") }
                let n = body.withUnsafeReadableBytes { raw in pwrite(fd, raw.baseAddress! + written, raw.count - written, off_t(offset) + off_t(written)) }
                guard n > 0 else { throw StepError.io("cannot write \(relative): \(String(cString: strerror(errno)))") }
                written += n
                control.wrote(Int64(n))
            }
            offset += Int64(length)
        } while offset < size
        if checksum, !hashes.indices.contains(where: { hashes[$0].finalize() == object.etag }) {
            throw StepError.target("the bytes read do not make its ETag \(object.etag); not written, fetched again on the next pass")
        }
        // Permission bits only (never setuid, setgid or sticky from a bucket), and never none at all.
        fchmod(fd, ObjectMatch.fileMode(metadata))
        fsync(fd)
        // Its mtime: the one it had as a file, else when the object was written; and the stamp a next run knows it by.
        if let t = metadata["mtime"].flatMap(ObjectMatch.timespec(_:)) ?? S3Time.iso(object.lastModified).map(ObjectMatch.timespec(_:)) {
            var times = [t, t]
            futimens(fd, &times)
        }
        var given = stat()
        if !object.etag.isEmpty, fstat(fd, &given) == 0 {
            let stamp = Array(ObjectMatch.stamp(etag: object.etag, mtime: given.st_mtim).utf8)
            ExtendedAttributes.set(fd, ObjectMatch.stampAttribute, stamp)  // a filesystem without user attributes: a HEAD next time
        }
        guard temporary.withCString({ t in path.withCString { rename(t, $0) } }) == 0 else { throw StepError.io("cannot put \(relative) in place: \(String(cString: strerror(errno)))") }
        renamed = true
        return true
    }

    /// The stamp a download left on the file at `path` (never through a link); nil when there is none.
    static func stamp(_ path: RawPath) -> String? {
        ExtendedAttributes.get(path, ObjectMatch.stampAttribute).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the file at `path` already holds the object: a regular file of its size whose
    /// mtime and mode are what a download gives (the listing, then a HEAD when it cannot tell), or
    /// in checksum mode whose bytes make its ETag.
    func current(_ path: RawPath, _ object: S3Object) throws -> Bool {
        var st = stat()
        guard path.withCString({ lstat($0, &st) }) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) == object.size else { return false }
        if checksum {
            guard ETagHash.comparable(object.etag) else { return false }
            let own = Int64(ETagHash.uploadPartSize(size: object.size, partSize: partSize))
            return try ETagHash.of(file: path, partSizes: ETagHash.partSizes(size: object.size, etag: object.etag, own: own)).contains(object.etag)
        }
        switch ObjectMatch.download(fileSize: Int64(st.st_size), mtime: st.st_mtim, stamp: Self.stamp(path), objectSize: object.size, etag: object.etag,
                                    modified: S3Time.iso(object.lastModified)) {
        case .same: return true
        case .differs: return false
        case .askMetadata:
            let (client, key) = (self.client, object.key)
            guard let head = try blocking({ try await client.head(key) }), head.size == object.size, head.etag == object.etag else { return false }
            return ObjectMatch.download(mtime: st.st_mtim, mode: st.st_mode, metadata: head.metadata)
        }
    }

}
