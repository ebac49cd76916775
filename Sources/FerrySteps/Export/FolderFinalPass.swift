import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The source host's side of the change journal: `ferry export --watch` records every change
/// under the exported folders from before their copy into the package, and keeps recording
/// after it; `ferry export --final`, once the application is stopped, brings the finished
/// package's folders up to date from those journals (only the recorded paths; the whole folder
/// when a journal cannot be trusted) and corrects the manifest's counts by what changed.
public enum FolderJournals {
    /// Where the journals live: beside the package, not in it (`<output>.journals`).
    public static func folder(output: String) -> String { (output.hasSuffix("/") ? String(output.dropLast()) : output) + ".journals" }

    public static func journal(_ folder: ExportConfig.Folder, output: String) -> String { "\(Self.folder(output: output))/\(folder.name).journal" }

    /// The folders a journal can follow: copied into the package (not listed, not published).
    public static func journaled(_ config: ExportConfig) -> [ExportConfig.Folder] {
        (config.files ?? []).filter { $0.manifestOnly != true && $0.bucket == nil }
    }

    /// Starts a watcher for each journaled folder (before anything of them is read).
    public static func watch(_ config: ExportConfig, say: @escaping @Sendable (String) -> Void = { print($0) }) throws -> [String: JournalWatcher] {
        let dir = folder(output: config.output)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw StepError.configuration("the journal folder \(dir) cannot be created (\(error.localizedDescription)): the package's parent folder must be writable")
        }
        var out: [String: JournalWatcher] = [:]
        for f in journaled(config) {
            try FolderExport.requireFolder(f)
            let w = try JournalWatcher(root: f.path, journal: journal(f, output: config.output), say: say)
            w.start()
            out[f.name] = w
        }
        return out
    }

    /// Files and bytes of regular files at the journaled paths (each folder with all below it). Pure but for the reads.
    static func measure(_ root: RawPath, _ paths: [[UInt8]]) -> (files: Int64, bytes: Int64) {
        var files: Int64 = 0, bytes: Int64 = 0
        let sorted = paths.sorted { $0.lexicographicallyPrecedes($1) }
        var counted: [[UInt8]] = []
        for p in sorted {
            if counted.contains(where: { p.starts(with: $0 + [UInt8(ascii: "/")]) || p == $0 }) { continue }
            var st = stat()
            guard root.appending(relative: p).withCString({ lstat($0, &st) }) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG: (files, bytes) = (files + 1, bytes + Int64(st.st_size))
            case S_IFLNK: files += 1
            case S_IFDIR:
                counted.append(p)
                TreeWalker(root: root.appending(relative: p)).walk(visit: { e in
                    var s = stat()
                    if e.kind == .file, root.appending(relative: join(p, e.relative)).withCString({ lstat($0, &s) }) == 0 { (files, bytes) = (files + 1, bytes + Int64(s.st_size)) }
                    if e.kind == .symlink { files += 1 }
                    return true
                }, unreadable: { _, _ in })
            default: break
            }
        }
        return (files, bytes)
    }

    /// The final pass of every journaled folder into the finished package at `config.output`.
    public static func final(_ config: ExportConfig, say: @escaping @Sendable (String) -> Void = { print($0) }) throws -> [JournalReport] {
        let output = config.output.hasSuffix("/") ? String(config.output.dropLast()) : config.output
        let manifestPath = output + "/" + PackageFiles.manifest
        guard let data = FileManager.default.contents(atPath: manifestPath), var manifest = try? JSONDecoder().decode(PackageManifest.self, from: data) else {
            throw StepError.configuration("\(output) holds no finished package (\(PackageFiles.manifest)): run ferry export first, then --final once the application is stopped")
        }
        var reports: [JournalReport] = []
        for f in journaled(config) {
            guard let entry = manifest.files[f.name] else {
                throw StepError.configuration("the package has no folder \(f.name): it was not exported; run ferry export into a new folder")
            }
            try FolderExport.requireFolder(f)
            let target = output + "/" + f.name
            let journal = journal(f, output: output)
            let verdict = JournalWatcher.flushAndJudge(journal: journal, root: f.path, target: target, removing: true)
            let before = measure(RawPath(target), verdict.paths)
            let options = FileMover.Options(source: f.path, target: target, delete: true)
            let (result, report) = try FinalPass.run(options, verdict: verdict, final: true, control: MoverControl(), record: { record in
                if FileManager.default.fileExists(atPath: journal) { try ChangeJournal.append(record, to: journal) }
            }, say: say)
            guard result.errors.isEmpty, result.verify.differing == 0 else {
                throw StepError.io("files \(f.name): \(result.errors.count) files could not be copied, \(result.verify.differing) differ after the copy (\(result.errors.prefix(3).joined(separator: "; "))); fix them and run ferry export --final again")
            }
            var updated = entry
            if report.pass == "journal" {
                let after = measure(RawPath(target), verdict.paths)
                updated.files = entry.files + Int(after.files - before.files)
                updated.bytes = entry.bytes + after.bytes - before.bytes
            } else {
                (updated.files, updated.bytes) = (Int(result.filesTotal), result.bytesTotal)
            }
            manifest.files[f.name] = updated
            say("files \(f.name): \(report.pass == "journal" ? "\(report.paths) recorded paths" : "the whole folder (\(report.reason ?? ""))"); \(result.filesCopied) copied, \(result.verify.removed) removed; now \(updated.files) files, \(ManifestBuilder.human(updated.bytes))")
            reports.append(report)
        }
        try ManifestBuilder.writeJSON(manifest, to: manifestPath + ".tmp")
        guard rename(manifestPath + ".tmp", manifestPath) == 0 else { throw StepError.io("cannot write \(manifestPath): \(String(cString: strerror(errno)))") }
        return reports
    }
}
