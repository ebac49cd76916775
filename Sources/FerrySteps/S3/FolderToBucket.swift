import FerryProtocol
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// `ferry mover files` with an `s3://bucket/prefix` target: a folder tree uploaded as objects
/// (key = prefix + relative path), `parallelism` files at once, large files in multipart uploads
/// that are aborted when they fail (no partial object is ever visible). mtime and mode travel in
/// the object's metadata; what counts as already there is ``ObjectMatch``'s (size and mtime, or
/// with `checksum` the contents' MD5 against the ETag, every upload's too). The same ``MoverControl`` as for folders: pause,
/// live bandwidth, window, progress. Then every top-level folder's files and bytes are counted
/// on both sides from a fresh listing; with `delete`, objects the folder no longer has are removed.
final class FolderToBucket: @unchecked Sendable {
    let source: RawPath
    let client: S3Client
    let prefix: String
    let parallelism: Int
    let partSize: Int
    let partsAtOnce: Int
    let delete: Bool
    let checksum: Bool
    /// The target is a Ferry gateway: a 412 means the application wrote or deleted the key since, and is kept.
    let gateway: Bool
    let control: MoverControl
    let say: @Sendable (String) -> Void

    init(source: RawPath, client: S3Client, prefix: String, parallelism: Int, partSize: Int = 8 << 20, partsAtOnce: Int = 4, delete: Bool = false,
         checksum: Bool = false, gateway: Bool = false, control: MoverControl, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.source = source
        self.client = client
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.parallelism = parallelism
        self.partSize = partSize
        self.partsAtOnce = partsAtOnce
        self.delete = delete
        self.checksum = checksum
        self.gateway = gateway
        self.control = control
        self.say = say
    }

    /// One file to upload.
    struct Item {
        var relative: String
        var path: RawPath
        var size: Int64
        var mtime: timespec
        var ctime: timespec
        var inode: ino_t
        var mode: mode_t
        /// The object of its key when the listing had one of its size.
        var listed: Listed?
    }

    /// An object as the listing shows it.
    struct Listed {
        var size: Int64
        var modified: Date?
        var etag: String
    }

    /// What the bucket holds under the prefix: relative key (as bytes: two spellings of one
    /// accented name are two keys) → size, last modification and ETag.
    func listing() throws -> [[UInt8]: Listed] {
        let client = self.client, prefix = Array(self.prefix.utf8)
        let objects = try blocking { try await client.listTree(prefix: self.prefix) }
        var found: [[UInt8]: Listed] = [:]
        for o in objects where o.key.utf8.starts(with: prefix) { found[Array(o.key.utf8.dropFirst(prefix.count))] = Listed(size: o.size, modified: S3Time.iso(o.lastModified), etag: o.etag) }
        // Through the gateway its listing marks them already.
        return gateway ? found : ObjectMatch.foldTombstones(found) { Listed(size: -1, modified: nil, etag: "") }
    }

    func run() throws -> FileSyncResult {
        let started = Date()
        var st = stat()
        guard source.withCString({ stat($0, &st) }) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw StepError.configuration("the source \(source) is not a readable folder")
        }
        let client = self.client
        do { try blocking { try await client.checkBucket() } } catch {
            throw StepError.beforeChange(.target("the target bucket \(client.location.bucket) at \(client.location.endpoint): \(error)"))
        }
        // The server's clock against ours, and the uploads a killed run left unfinished (never visible; cleaned).
        let skew = (try? blocking { try await client.skew() }) ?? 0
        let prefix = self.prefix, runStart = Date()
        let existing = try listing()
        control.setPhase(.copying)
        let queue = WorkQueue<Item>(capacity: parallelism * 4)
        let errors = Locked<[String]>([])
        let counts = Locked<[String: FolderCount]>([:])
        // The ETag each file's object must have (checksum mode): the one its bytes give.
        let expected = Locked<[[UInt8]: String]>([:])
        // Keys the application wrote or deleted through the gateway since: theirs, not copied over.
        let kept = Locked<Set<[UInt8]>>([])
        var seen = Set<[UInt8]>()
        // A folder or file the walk could not read: its objects must not count as gone.
        let walkFailed = Locked(false)
        let seenLock = NSLock()
        let workers = queue.workers(parallelism) { [self] item in
            do {
                if let etag = try current(item) {
                    if checksum { expected.withLock { $0[Array(item.relative.utf8)] = etag } }
                    control.fileDone(bytes: item.size, copied: false)
                    return
                }
                // Written by the application through a gateway since removed: its, not replaced.
                if !gateway, existing[Array(item.relative.utf8)] != nil, try blocking({ [client, prefix] in try await client.applicationWrote(prefix + item.relative) }) {
                    kept.withLock { _ = $0.insert(Array(item.relative.utf8)) }
                    control.fileDone(bytes: item.size, copied: false)
                    return
                }
                let etag = try upload(item)
                if checksum { expected.withLock { $0[Array(item.relative.utf8)] = etag } }
                control.fileDone(bytes: item.size, copied: true)
            } catch let e as S3Error where gateway && e.status == 412 {
                kept.withLock { _ = $0.insert(Array(item.relative.utf8)) }
                control.fileDone(bytes: item.size, copied: false)
            } catch {
                control.failed(item.relative, error, bytes: item.size, into: errors)
            }
        }
        TreeWalker(root: source).walk(visit: { [self] entry in
            let rel = entry.relative
            guard let name = String(validating: rel, as: UTF8.self) else {
                errors.withLock { $0.append("\(String(decoding: rel, as: UTF8.self)): the name is not UTF-8, so it cannot be an object key") }
                return true
            }
            switch entry.kind {
            case .directory: return true
            case .symlink, .other:
                errors.withLock { $0.append("\(name): not a regular file (object storage has no links, devices or pipes)") }
                return true
            case .file: break
            }
            var fs = stat()
            let path = source.appending(relative: rel)
            guard path.withCString({ lstat($0, &fs) }) == 0 else {
                walkFailed.withLock { $0 = true }
                errors.withLock { $0.append("\(name): \(String(cString: strerror(errno)))") }
                return true
            }
            let top = name.split(separator: "/").count > 1 ? String(name.split(separator: "/")[0]) : "."
            counts.withLock { $0[top, default: FolderCount()].sourceFiles += 1; $0[top, default: FolderCount()].sourceBytes += Int64(fs.st_size) }
            seenLock.lock(); seen.insert(rel); seenLock.unlock()
            control.scanned(files: 1, bytes: Int64(fs.st_size))
            // The file's last change: its mtime, or its ctime when later (an mtime set back, by cp -p or tar, still moves the ctime).
            let changed = ObjectMatch.seconds(fs.st_mtim) >= ObjectMatch.seconds(fs.st_ctim) ? fs.st_mtim : fs.st_ctim
            if existing[rel]?.size == -1 {
                // The application deleted it through the gateway: nothing to send.
                kept.withLock { _ = $0.insert(rel) }
                control.fileDone(bytes: Int64(fs.st_size), copied: false)
                return control.stopped == nil
            }
            let have = existing[rel].flatMap { $0.size == Int64(fs.st_size) ? $0 : nil }
            if let have, !checksum, ObjectMatch.upload(fileSize: Int64(fs.st_size), changed: changed, objectSize: have.size, modified: have.modified, skew: skew) == .same {
                control.fileDone(bytes: Int64(fs.st_size), copied: false)
                return control.stopped == nil
            }
            return queue.put(Item(relative: name, path: path, size: Int64(fs.st_size), mtime: fs.st_mtim, ctime: fs.st_ctim, inode: fs.st_ino, mode: fs.st_mode & 0o7777,
                                  listed: have)) && control.stopped == nil
        }, unreadable: { path, code in
            walkFailed.withLock { $0 = true }
            errors.withLock { $0.append("\(path): \(String(cString: strerror(code)))") }
        })
        control.scanFinished()
        queue.close()
        workers.wait()
        if let reason = control.stopped { throw StepError.target("stopped: \(reason)") }
        // The uploads a killed run left unfinished (never visible; cleaned): of the folder's files only.
        let say = self.say, files = seen
        try blocking { await client.abortUnfinished(prefix: prefix, before: runStart, ours: { files.contains(Array($0.utf8)) }, say: say) }
        // Removed from the folder: removed from the bucket (only with delete).
        var removed: Int64 = 0
        // Never after a walk that failed somewhere: an unread folder's objects are not "gone from the folder".
        if delete, !walkFailed.withLock({ $0 }) {
            for (key, object) in existing where !seen.contains(key) && object.size >= 0 {
                let full = prefix + String(decoding: key, as: UTF8.self)
                if try blocking({ try await client.removeCopy(full) }) { removed += 1 }
            }
        }
        control.setPhase(.verifying)
        // Listed again only when something was written: a pass that sent nothing checks against the first listing.
        let wrote = control.progress().filesCopied > 0 || removed > 0
        let after = wrote ? try listing() : existing
        var folders = counts.withLock { $0 }
        var differing: Int64 = 0
        var examples: [String] = []
        for (keyBytes, object) in after where object.size >= 0 {
            let key = String(decoding: keyBytes, as: UTF8.self)
            let top = key.split(separator: "/").count > 1 ? String(key.split(separator: "/")[0]) : "."
            folders[top, default: FolderCount()].targetFiles += 1
            folders[top, default: FolderCount()].targetBytes += object.size
        }
        let etags = expected.withLock { $0 }, theirs = kept.withLock { $0 }
        for name in seen where !theirs.contains(name) && after[name]?.size != -1 {
            var fs = stat()
            let ok = source.appending(relative: name).withCString { lstat($0, &fs) } == 0
            if !ok || after[name]?.size != Int64(fs.st_size) {
                differing += 1
                if examples.count < 10 { examples.append("\(String(decoding: name, as: UTF8.self)): file \(ok ? String(fs.st_size) : "gone") bytes, object \(after[name].map { String($0.size) } ?? "missing")") }
            } else if let want = etags[name], let have = after[name]?.etag, want != have {
                // Checksum mode: the object listed now is not the one these bytes make.
                differing += 1
                if examples.count < 10 { examples.append("\(String(decoding: name, as: UTF8.self)): the object's ETag \(have) is not the file's \(want)") }
            }
        }
        return control.bucketResult(started: started, parallelism: parallelism, errors: errors.withLock { $0 },
                                    verify: FileVerification(mode: checksum ? "checksum" : "size", folders: folders, differing: differing, examples: examples, removed: removed))
    }

    /// Whether the bucket already holds this file, when the listing could not tell: in size mode
    /// the object's mtime and mode metadata (a HEAD); in checksum mode the file's bytes against the
    /// ETag. The ETag the object has when it does; nil when the file must be sent.
    func current(_ item: Item) throws -> String? {
        guard let listed = item.listed, listed.size == item.size else { return nil }
        if checksum {
            guard ETagHash.comparable(listed.etag) else { return nil }
            let sizes = ETagHash.partSizes(size: item.size, etag: listed.etag, own: Int64(ETagHash.uploadPartSize(size: item.size, partSize: self.partSize)))
            return try ETagHash.of(file: item.path, partSizes: sizes).contains(listed.etag) ? listed.etag : nil
        }
        let (client, key) = (self.client, prefix + item.relative)
        guard let head = try blocking({ try await client.head(key) }), head.size == item.size,
              ObjectMatch.upload(mtime: item.mtime, mode: item.mode, metadata: head.metadata) else { return nil }
        return head.etag
    }

    /// One file as one object (or a multipart upload), its bytes admitted by the bandwidth budget
    /// as they are read. The object's ETag; in checksum mode, one that the bytes sent make.
    func upload(_ item: Item) throws -> String {
        // Never a link put in its place since the walk.
        let fd = item.path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw StepError.io("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0, before.st_ino == item.inode else { throw StepError.io("it was replaced since the walk; sent on the next pass") }
        // The pause gate, window and bandwidth wait here, on the worker's own thread, never on Swift's shared pool.
        var admitted: Int64 = 0
        while admitted < item.size {
            let chunk = Int(min(Int64(1 << 20), item.size - admitted))
            guard control.admit(chunk) else { throw StepError.target("stopped") }
            admitted += Int64(chunk)
        }
        let control = self.control
        let read: @Sendable (Int64, Int) throws -> ByteBuffer = { offset, length in
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            var done = 0
            while done < length {
                let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length - done) { raw in
                    pread(fd, raw.baseAddress, min(raw.count, length - done), off_t(offset) + off_t(done))
                }
                guard n > 0 else { throw StepError.io("short read at \(offset + Int64(done)): \(n < 0 ? String(cString: strerror(errno)) : "the file shrank")") }
                done += n
                control.wrote(Int64(n))
            }
            return buffer
        }
        let metadata = ObjectMatch.metadata(mtime: item.mtime, mode: item.mode)
        let (client, key, size, partSize, parts, md5) = (self.client, prefix + item.relative, item.size, self.partSize, self.partsAtOnce, checksum)
        let sent = try blocking { try await client.upload(key, size: size, partSize: partSize, parallel: parts, metadata: metadata, md5: md5, read: read) }
        // Changed while it was read: the object may hold a mix; removed, so the next pass sends it whole.
        var after = stat()
        if fstat(fd, &after) != 0 || after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec
            || after.st_ctim.tv_sec != before.st_ctim.tv_sec || after.st_ctim.tv_nsec != before.st_ctim.tv_nsec {
            try? blocking { try await client.delete(key) }
            throw StepError.io("it changed while it was uploaded; the object was removed and the file is sent again on the next pass")
        }
        if let computed = sent.computed, ETagHash.comparable(sent.etag), computed != sent.etag {
            try? blocking { try await client.delete(key) }
            throw StepError.target("the object arrived with ETag \(sent.etag), not the \(computed) its bytes make; it was removed and is sent again on the next pass")
        }
        return sent.computed ?? sent.etag
    }

}

extension MoverControl {
    /// One file or object that could not be copied: said on the progress, listed in the result, counted as done.
    func failed(_ name: String, _ error: Error, bytes: Int64, into errors: Locked<[String]>) {
        self.error("\(name): \(error)")
        errors.withLock { $0.append("\(name): \(error)") }
        fileDone(bytes: bytes, copied: false)
    }

    /// The result of a copy with a bucket side, from the control's counters (the run is done).
    func bucketResult(started: Date, parallelism: Int, errors: [String], verify: FileVerification) -> FileSyncResult {
        let p = progress()
        let seconds = max(0.001, Date().timeIntervalSince(started))
        setPhase(.done)
        return FileSyncResult(filesTotal: p.filesTotal, bytesTotal: p.bytesTotal, filesCopied: p.filesCopied, bytesCopied: p.bytesCopied, filesSkipped: p.filesDone - p.filesCopied,
                              seconds: (seconds * 1000).rounded() / 1000, filesPerSecond: Int64(Double(p.filesDone) / seconds), bytesPerSecond: Int64(Double(p.bytesCopied) / seconds),
                              parallelism: parallelism, errors: errors, verify: verify)
    }
}

/// Runs async work from a thread that may block (a mover's worker), and waits for it.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = Locked<Result<T, Error>?>(nil)
    Task {
        let r: Result<T, Error>
        do { r = .success(try await body()) } catch { r = .failure(error) }
        result.withLock { $0 = r }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0 }!.get()
}
