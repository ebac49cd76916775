import FerryProtocol
import Foundation

/// What validate says of every part of a package: restored, skipped (and why), read, or unknown.
/// Nothing in a package is silently ignored. The verdicts are pure over a listing of the
/// package's top level (and of the folders that hold several parts); ``list(_:restoring:)`` reads it.
enum PackageParts {
    /// What the spec restores.
    struct Restoring: Equatable {
        var databases: [String]
        var tables: [String]
        var folders: [String]
        var mysqlSet: Bool
        var kafkaSet: Bool
        /// `spec.mysql.external`: the dumps stay unrestored, the database where it is.
        var mysqlExternal: Bool = false
        /// `spec.config`: the old tool's conf/latest_config.json and conf/options.json go into its Secret.
        var configSet: Bool = false
        /// `spec.clickhouse`: the tables in `tables` are restored from clickhouse-backup/.
        var clickhouseSet: Bool = false
    }

    /// One entry of a listing: a name, whether it is a folder, and its first bytes (files only).
    struct Entry: Equatable {
        var name: String
        var folder: Bool
        var head: [UInt8] = []
        var children: [Entry] = []
        /// A zstd file's content: Native or TabSeparated, "" when neither, nil when not looked at.
        var inner: String?
    }

    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// The verdicts for a legacy package's listing. Pure.
    static func legacy(_ entries: [Entry], restoring r: Restoring) -> [PackagePart] {
        var parts: [PackagePart] = []
        for e in entries.sorted(by: { $0.name < $1.name }) {
            let path = e.name + (e.folder ? "/" : "")
            switch (e.name, e.folder) {
            case (PackageFiles.legacyInfo, false):
                parts.append(.init(path: path, verdict: "read", reason: "the package's version and source host" + (r.mysqlExternal ? ", and the external database it names" : "")))
            case (let n, false) where n.hasSuffix(".sql") && r.mysqlExternal:
                parts.append(.init(path: path, verdict: "skipped", reason: "spec.mysql.external: the database stays on its external server"))
            case (let n, false) where n.hasSuffix(".sql"):
                let db = String(n.dropLast(4))
                if r.mysqlSet && r.databases.contains(db) {
                    parts.append(.init(path: path, verdict: "restored", reason: "step mysql/\(db)"))
                } else {
                    parts.append(.init(path: path, verdict: "skipped", reason: r.mysqlSet ? "spec.mysql.databases does not name \(db)" : "spec.mysql is not set"))
                }
            case ("kafka-backup", true):
                parts.append(.init(path: path, verdict: "skipped", reason: "consumer offsets are read from the old broker" + (r.kafkaSet ? " and the export's offsets file (spec.kafka)" : "") + ", not from the old tool's kafka-backup/"))
            case ("clickhouse-backup", true):
                let files = e.children.filter { !$0.folder }
                if files.isEmpty { parts.append(.init(path: path, verdict: "skipped", reason: "empty")) }
                for f in files.sorted(by: { $0.name < $1.name }) {
                    let p = path + f.name
                    if f.name.hasSuffix(".zst") && Array(f.head.prefix(4)) != zstdMagic {
                        parts.append(.init(path: p, verdict: "unknown", reason: "named .zst but not zstd (it starts with \(f.head.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")), not 28 b5 2f fd): a damaged or mislabelled file; export again"))
                    } else if f.name.hasSuffix(".zst"), let table = LegacyClickHouseDump.table(fileName: f.name) {
                        let format = f.inner ?? ""
                        if format.isEmpty {
                            parts.append(.init(path: p, verdict: "unknown", reason: "zstd, but its content is neither Native nor TabSeparated: ClickHouse cannot read it, so it is not restored"))
                        } else if r.clickhouseSet && r.tables.contains(table) {
                            parts.append(.init(path: p, verdict: "restored", reason: "step clickhouse/\(table): its \(format) rows into the existing table"))
                        } else {
                            parts.append(.init(path: p, verdict: "skipped", reason: r.clickhouseSet ? "spec.clickhouse.tables does not name \(table)" : "spec.clickhouse is not set (\(format) rows of \(table))"))
                        }
                    } else if f.name.hasSuffix(".zst") {
                        parts.append(.init(path: p, verdict: "unknown", reason: "not named <db>.<table>.zst, so no table is known to restore it into"))
                    } else {
                        parts.append(.init(path: p, verdict: "unknown", reason: "not a .zst dump of the old tool"))
                    }
                }
            case ("conf", true):
                let files = e.children.filter { !$0.folder }.map(\.name).sorted()
                for f in files {
                    let known = LegacyConfig.files.contains(f)
                    if known && r.configSet {
                        parts.append(.init(path: path + f, verdict: "restored", reason: "step config: decoded from base64 into the config Secret (spec.config)"))
                        continue
                    }
                    parts.append(.init(path: path + f, verdict: r.folders.contains("conf") ? "restored" : "skipped",
                                       reason: r.folders.contains("conf") ? "copied with the conf folder (spec.files)" : known
                                        ? "the old tool's configuration (base64 JSON); set spec.config to restore it into a Secret, or copy conf/ with a spec.files entry"
                                        : "no spec.files entry copies conf/"))
                }
            case (let n, true) where BackupPackage.legacyFolders.contains(n) || r.folders.contains(n):
                parts.append(r.folders.contains(n) ? .init(path: path, verdict: "restored", reason: "step files (spec.files from: \(n))")
                                                  : .init(path: path, verdict: "skipped", reason: "no spec.files entry copies it"))
            default:
                parts.append(.init(path: path, verdict: "unknown", reason: "not part of the old tool's layout; nothing reads it"))
            }
        }
        return parts
    }

    /// The notes and parts cut to fit the validate report (4 KiB as encoded), what is left out
    /// counted in a last line (the step's log has them all).
    static func fitted(_ result: ValidateResult) -> ValidateResult {
        var r = result
        var notes: [String] = [], used = 0
        for n in result.notes {
            guard used + n.utf8.count <= 1_000 else { break }
            notes.append(n)
            used += n.utf8.count
        }
        if notes.count < result.notes.count { r.notes = notes + ["… and \(result.notes.count - notes.count) more notes (the validate step's log)"] }
        let all = result.parts ?? []
        var kept = all
        while ReportSize.of(r) > ReportSize.limit, !kept.isEmpty {
            kept.removeLast(max(1, kept.count / 8))
            r.parts = kept + [PackagePart(path: "…", verdict: "more", reason: "\(all.count - kept.count) more parts: the validate step's log lists them all")]
        }
        return r
    }

    /// Reads the listing (first bytes of files in clickhouse-backup/) and gives the verdicts.
    static func list(_ root: String, restoring r: Restoring) -> [PackagePart] {
        func entries(_ dir: String, depth: Int) -> [Entry] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { name in
                let path = dir + "/" + name
                var st = stat()
                let isDir = lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
                var e = Entry(name: name, folder: isDir)
                if isDir, depth == 0, ["clickhouse-backup", "conf"].contains(name) { e.children = entries(path, depth: 1) }
                if !isDir, depth == 1, (st.st_mode & S_IFMT) == S_IFREG, let h = FileHandle(forReadingAtPath: path) {
                    e.head = Array((try? h.read(upToCount: 4)) ?? Data())
                    try? h.close()
                    if name.hasSuffix(".zst"), e.head == zstdMagic { e.inner = ((try? LegacyClickHouseDump.format(path)) ?? nil)?.rawValue ?? "" }
                }
                return e
            }
        }
        return legacy(entries(root, depth: 0), restoring: r)
    }
}
