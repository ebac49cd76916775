import FerryProtocol
import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// The export part of one file folder: copied into the package by the mover (skip-existing, so
/// a rerun copies only what is missing), or, `manifestOnly`, a listing of what is there.
/// With a `watcher` (`ferry export --watch`) the folder is live: what vanishes mid-copy is the
/// journal's, and a complete copy is recorded in the journal for `--final` to trust.
enum FolderExport {
    static func part(_ f: ExportConfig.Folder, packageRoot: String, watcher: JournalWatcher? = nil) -> ExportPart {
        ExportPart(id: "files/\(f.name)", label: f.name) {
            try requireFolder(f)
            if f.manifestOnly == true {
                let rel = "files-manifest/\(f.name).tsv"
                try FileManager.default.createDirectory(atPath: packageRoot + "/files-manifest", withIntermediateDirectories: true)
                let (files, bytes) = try writeListing(of: f.path, to: packageRoot + "/" + rel)
                let sum = try ManifestBuilder.sha256(of: packageRoot + "/" + rel)
                return .init(record: { m in
                    m.files[f.name] = .init(files: files, bytes: bytes, listing: rel)
                    m.sha256[rel] = sum
                }, note: "\(f.name) \(files) files, \(ManifestBuilder.human(bytes)) (listing only)")
            }
            if let b = f.bucket { return try await publish(f, b) }
            // Watched: the package's folder becomes the source's exactly (what an interrupted
            // earlier run left that the source no longer holds is removed), so --final may
            // trust the journal for deletes too.
            var options = FileMover.Options(source: f.path, target: packageRoot + "/" + f.name, delete: watcher != nil)
            options.live = watcher != nil
            let mover = FileMover(options: options, control: MoverControl(), say: { _ in })
            let began = ChangeJournal.now()
            let result = try await ProcessSpawn.onThread { try mover.run() }
            guard result.errors.isEmpty, result.verify.differing == 0 else {
                throw StepError.io("files \(f.name): \(result.errors.count) files could not be copied, \(result.verify.differing) differ after the copy (\(result.errors.prefix(3).joined(separator: "; "))); fix them and run the export again: only what is missing is copied")
            }
            let entry = PackageManifest.FileFolder(files: Int(result.filesTotal), bytes: result.bytesTotal)
            try watcher?.record(.passed(ms: began, target: JournalVerdict.place(packageRoot + "/" + f.name), removed: true))
            return .init(record: { m in m.files[f.name] = entry }, note: "\(f.name) \(entry.files) files, \(ManifestBuilder.human(entry.bytes))")
        }
    }

    /// The cross-host mode: the folder uploaded to the bucket (skip-existing, so a rerun sends only
    /// what changed), and where it went recorded in the manifest for the new side to copy from.
    static func publish(_ f: ExportConfig.Folder, _ b: ExportConfig.Bucket) async throws -> ExportPart.Written {
        let store = FileSyncArguments.S3(endpoint: b.endpoint, region: b.region ?? "us-east-1", pathStyle: b.pathStyle ?? true, credentialsDir: b.credentialsDir, caFile: b.caFile)
        let prefix = b.prefix ?? f.name
        let client = try store.client(bucket: b.bucket, prefix: prefix, field: "files[\(f.name)].bucket", named: "s3://\(b.bucket)/\(prefix)")
        let mover = FolderToBucket(source: RawPath(f.path), client: client, prefix: prefix, parallelism: 16, partSize: store.partSize, partsAtOnce: store.parts,
                                   control: MoverControl(), say: { _ in })
        let result = try await ProcessSpawn.onThread { try mover.run() }
        guard result.errors.isEmpty, result.verify.differing == 0 else {
            throw StepError.io("files \(f.name) → s3://\(b.bucket)/\(prefix): \(result.errors.count) files could not be sent, \(result.verify.differing) differ after the upload (\(result.errors.prefix(3).joined(separator: "; "))); fix them and run the export again: only what is missing is sent")
        }
        let published = PackageManifest.Published(endpoint: b.endpoint, bucket: b.bucket, prefix: prefix, region: store.region, pathStyle: store.pathStyle)
        let entry = PackageManifest.FileFolder(files: Int(result.filesTotal), bytes: result.bytesTotal, published: published)
        return .init(record: { m in m.files[f.name] = entry }, note: "\(f.name) \(entry.files) files, \(ManifestBuilder.human(entry.bytes)) published to s3://\(b.bucket)/\(prefix)")
    }

    static func requireFolder(_ f: ExportConfig.Folder) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: f.path, isDirectory: &isDir), isDir.boolValue else {
            throw StepError.configuration("files \(f.name): \(f.path) is not a folder")
        }
    }

    /// `path<TAB>size<TAB>mtime` for every regular file (tab, newline and backslash escaped).
    static func writeListing(of root: String, to path: String) throws -> (Int, Int64) {
        let lines = Locked<[String]>([])
        let walker = TreeWalker(root: RawPath(root))
        walker.walk(threads: 1, visit: { entry in
            guard entry.kind == .file else { return true }
            let rel = entry.relative
            var st = stat()
            guard RawPath(root).appending(relative: rel).withCString({ lstat($0, &st) }) == 0 else { return true }
            let name = String(decoding: rel, as: UTF8.self).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
            lines.withLock { $0.append("\(name)\t\(st.st_size)\t\(st.st_mtim.tv_sec)") }
            return true
        }, unreadable: { _, _ in })
        let sorted = lines.withLock { $0 }.sorted()
        let bytes = sorted.reduce(Int64(0)) { $0 + (Int64($1.split(separator: "\t")[1]) ?? 0) }
        try Data((sorted.joined(separator: "\n") + (sorted.isEmpty ? "" : "\n")).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return (sorted.count, bytes)
    }
}
