import FerryProtocol
import Foundation
import NIOCore

/// `ferry mover files` with buckets on both sides (`s3://…=s3://…`, each in its own store):
/// every object under the source prefix copied under the target prefix, `parallelism` at once,
/// streamed through the mover in ranged reads of the one listed version and written as a
/// single PUT or a multipart upload (aborted on failure: never a partial object). The object's
/// metadata (mtime, mode) comes along, with the source's ETag as `ferry-source-etag`. An object
/// counts as copied when the target has its size and its ETag, or was made from that ETag; in
/// checksum mode the bytes read must make the source's ETag and the upload's its own.
final class BucketToBucket: @unchecked Sendable {
    let source: S3Client
    let sourcePrefix: String
    let target: S3Client
    let targetPrefix: String
    let parallelism: Int
    let partSize: Int
    let partsAtOnce: Int
    let delete: Bool
    let checksum: Bool
    /// The target is a Ferry gateway: a 412 means the application wrote or deleted the key since, and is kept.
    let gateway: Bool
    let control: MoverControl
    let say: @Sendable (String) -> Void

    static let sourceETag = "ferry-source-etag"

    init(source: S3Client, sourcePrefix: String, target: S3Client, targetPrefix: String, parallelism: Int, partSize: Int = 8 << 20, partsAtOnce: Int = 4,
         delete: Bool = false, checksum: Bool = false, gateway: Bool = false, control: MoverControl, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.source = source
        self.sourcePrefix = Self.folder(sourcePrefix)
        self.target = target
        self.targetPrefix = Self.folder(targetPrefix)
        self.parallelism = parallelism
        self.partSize = partSize
        self.partsAtOnce = partsAtOnce
        self.delete = delete
        self.checksum = checksum
        self.gateway = gateway
        self.control = control
        self.say = say
    }

    static func folder(_ prefix: String) -> String { prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/" }

    /// Relative key → object, for every object under `prefix` (folder markers left out). Keyed by
    /// bytes: two spellings of one accented name are two keys, as S3 has them.
    static func objects(_ client: S3Client, _ prefix: String) throws -> [[UInt8]: S3Object] {
        var found: [[UInt8]: S3Object] = [:]
        // By bytes: a key whose first character combines with the prefix's last is still under it.
        for o in try blocking({ try await client.listTree(prefix: prefix) }) where o.key.utf8.starts(with: prefix.utf8) && !(o.key.hasSuffix("/") && o.size == 0) {
            found[Array(o.key.utf8.dropFirst(prefix.utf8.count))] = o
        }
        return found
    }

    /// The target's objects; read directly, the keys the application deleted through a gateway marked deleted (size -1).
    func targetObjects() throws -> [[UInt8]: S3Object] {
        let found = try Self.objects(target, targetPrefix)
        return gateway ? found : ObjectMatch.foldTombstones(found) { S3Object(key: "", size: -1, etag: "", lastModified: "") }
    }

    func run() throws -> FileSyncResult {
        let started = Date()
        let (source, target) = (self.source, self.target)
        for (client, side) in [(source, "source"), (target, "target")] {
            do { try blocking { try await client.checkBucket() } } catch {
                throw StepError.beforeChange(.target("the \(side) bucket \(client.location.bucket) at \(client.location.endpoint): \(error)"))
            }
        }
        if source.location.endpoint == target.location.endpoint && source.location.bucket == target.location.bucket
            && (sourcePrefix.hasPrefix(targetPrefix) || targetPrefix.hasPrefix(sourcePrefix)) {
            throw StepError.configuration("s3://\(source.location.bucket)/\(sourcePrefix) and s3://\(target.location.bucket)/\(targetPrefix) overlap: a copy would read what it writes; name prefixes apart")
        }
        let from = try Self.objects(source, sourcePrefix)
        // The uploads a killed run left unfinished on the target (never visible; cleaned): of the source's keys only.
        let (prefix, say) = (targetPrefix, self.say)
        try blocking { await target.abortUnfinished(prefix: prefix, before: started, ours: { from[Array($0.utf8)] != nil }, say: say) }
        let existing = try targetObjects()
        var counts: [String: FolderCount] = [:]
        for (k, o) in from {
            let relative = String(decoding: k, as: UTF8.self)
            control.scanned(files: 1, bytes: o.size)
            counts[BucketToFolder.top(relative), default: FolderCount()].sourceFiles += 1
            counts[BucketToFolder.top(relative), default: FolderCount()].sourceBytes += o.size
        }
        control.scanFinished()
        control.setPhase(.copying)
        let errors = Locked<[String]>([])
        // The ETag each target object must have: its own, as made from the source's bytes.
        let expected = Locked<[[UInt8]: String]>([:])
        let kept = Locked<Set<[UInt8]>>([])
        let queue = WorkQueue<([UInt8], S3Object)>(capacity: parallelism * 4)
        let workers = queue.workers(parallelism) { [self] (k, object) in
            let relative = String(decoding: k, as: UTF8.self)
            do {
                if existing[k]?.size == -1 {
                    kept.withLock { _ = $0.insert(k) }  // deleted by the application: nothing to send
                    control.fileDone(bytes: object.size, copied: false)
                    return
                }
                if let etag = try current(object, existing[k]) {
                    expected.withLock { $0[k] = etag }
                    control.fileDone(bytes: object.size, copied: false)
                    return
                }
                // Written by the application through a gateway since removed: its, not replaced.
                if !gateway, existing[k] != nil, try blocking({ [target, targetPrefix] in try await target.applicationWrote(targetPrefix + relative) }) {
                    kept.withLock { _ = $0.insert(k) }
                    control.fileDone(bytes: object.size, copied: false)
                    return
                }
                let etag = try copy(relative, object)
                expected.withLock { $0[k] = etag }
                control.fileDone(bytes: object.size, copied: true)
            } catch let e as S3Error where gateway && e.status == 412 {
                kept.withLock { _ = $0.insert(k) }
                control.fileDone(bytes: object.size, copied: false)
            } catch {
                control.failed(object.key, error, bytes: object.size, into: errors)
            }
        }
        for item in from.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where queue.put((item.key, item.value)) && control.stopped == nil {}
        queue.close()
        workers.wait()
        if let reason = control.stopped { throw StepError.target("stopped: \(reason)") }
        var removed: Int64 = 0
        if delete {
            for (k, o) in existing where from[k] == nil && o.size >= 0 {
                let key = targetPrefix + String(decoding: k, as: UTF8.self)
                if try blocking({ try await target.removeCopy(key) }) { removed += 1 }
            }
        }
        control.setPhase(.verifying)
        let after = try targetObjects()
        for (k, o) in after where o.size >= 0 {
            let relative = String(decoding: k, as: UTF8.self)
            counts[BucketToFolder.top(relative), default: FolderCount()].targetFiles += 1
            counts[BucketToFolder.top(relative), default: FolderCount()].targetBytes += o.size
        }
        let etags = expected.withLock { $0 }, theirs = kept.withLock { $0 }
        var differing: Int64 = 0
        var examples: [String] = []
        for (k, o) in from.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where !theirs.contains(k) && after[k]?.size != -1 {
            let relative = String(decoding: k, as: UTF8.self)
            let have = after[k]
            let why: String? = have == nil ? "missing" : have!.size != o.size ? "\(have!.size) bytes, not \(o.size)"
                : etags[k].map { $0 != have!.etag ? "ETag \(have!.etag), not \($0)" : nil } ?? nil
            if let why {
                differing += 1
                if examples.count < 10 { examples.append("\(relative): \(why)") }
            }
        }
        return control.bucketResult(started: started, parallelism: parallelism, errors: errors.withLock { $0 },
                                    verify: FileVerification(mode: checksum ? "checksum" : "size", folders: counts, differing: differing, examples: examples, removed: removed))
    }

    /// The target object's ETag when it already holds the source object: the same size, and the
    /// same ETag or (a HEAD) made by this mover from that ETag; nil when it must be copied.
    func current(_ object: S3Object, _ have: S3Object?) throws -> String? {
        guard let have, have.size == object.size else { return nil }
        if !object.etag.isEmpty && have.etag == object.etag { return have.etag }
        let (target, key) = (self.target, have.key)
        guard let head = try blocking({ try await target.head(key) }), head.size == object.size, head.metadata[Self.sourceETag] == object.etag, !object.etag.isEmpty else { return nil }
        return head.etag
    }

    /// One object streamed across: its metadata from a HEAD of the listed version, then ranged
    /// reads into a PUT or the parts of a multipart upload. The target's ETag.
    func copy(_ relative: String, _ object: S3Object) throws -> String {
        let (source, target, control, checksum) = (self.source, self.target, self.control, self.checksum)
        guard let head = try blocking({ try await source.head(object.key) }), head.etag == object.etag || object.etag.isEmpty else {
            throw StepError.target("it changed or went since it was listed; copied on the next pass")
        }
        if checksum && !ETagHash.comparable(object.etag) {
            throw StepError.target("its ETag \(object.etag) is not an MD5 (an encrypted object, or another store's), so verify: checksum cannot compare its contents; use verify: size")
        }
        var admitted: Int64 = 0
        while admitted < object.size {
            let chunk = Int(min(Int64(1 << 20), object.size - admitted))
            guard control.admit(chunk) else { throw StepError.target("stopped") }
            admitted += Int64(chunk)
        }
        var metadata = head.metadata.filter { $0.key != Self.sourceETag }
        metadata[Self.sourceETag] = object.etag
        // The source's own part size when its ETag tells it, so the copy's ETag is the source's.
        let own = ETagHash.uploadPartSize(size: object.size, partSize: partSize)
        var candidates = ETagHash.partSizes(size: object.size, etag: object.etag, own: Int64(own))
        let multipart = object.etag.contains("-")
        if multipart && candidates.count > 1, let first = try blocking({ await source.firstPartSize(object) }), candidates.contains(first) {
            candidates = [first]  // the store said which
        }
        let uploadPart = multipart ? candidates.compactMap { $0 }.first { $0 >= 5 << 20 && $0 <= 5 << 30 }.map(Int.init) ?? own : own
        // Checksum mode: the bytes read must make the source's ETag, when its parts are known for sure.
        let sameParts = multipart ? candidates == [Int64(uploadPart)] && object.size > Int64(uploadPart) : object.size <= Int64(uploadPart)
        let (key, size, parts, carried, content) = (targetPrefix + relative, object.size, partsAtOnce, metadata, head.headers)
        let sent = try blocking {
            try await target.upload(key, size: size, partSize: uploadPart, parallel: parts, metadata: carried, headers: content, md5: checksum) { offset, length in
                let body = try await source.read(object, offset: offset, length: length).body
                control.wrote(Int64(body.readableBytes))
                return body
            }
        }
        if let computed = sent.computed {
            if ETagHash.comparable(sent.etag), computed != sent.etag {
                try? blocking { try await target.delete(key) }
                throw StepError.target("the copy arrived with ETag \(sent.etag), not the \(computed) its bytes make; it was removed and is copied again on the next pass")
            }
            if sameParts, computed != object.etag {
                try? blocking { try await target.delete(key) }
                throw StepError.target("the bytes read make ETag \(computed), not the source's \(object.etag); the copy was removed and is made again on the next pass")
            }
        }
        return sent.computed ?? sent.etag
    }
}
