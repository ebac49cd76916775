import Foundation

/// `ferry export --verify`: re-reads a package and checks it against its
/// manifest — every file's sha256, each dump's tables, row counts and
/// structure digests, each ClickHouse table's row count, each folder's file
/// count and bytes, the Kafka offsets file — and names every difference.
public enum PackageVerifier {
    public struct Report: Codable, Sendable, Equatable {
        public var package: String
        /// Files and items checked.
        public var checked: Int
        public var problems: [String]
        public var ok: Bool { problems.isEmpty }
    }

    public static func verify(_ root: String) -> Report {
        var report = Report(package: root, checked: 0, problems: [])
        if FileManager.default.fileExists(atPath: root + "/" + PackageExporter.stateFile) {
            report.problems.append("\(root) holds an unfinished export (\(PackageExporter.stateFile)); run the export again to finish it")
            return report
        }
        let pkg: BackupPackage
        do {
            pkg = try BackupPackage.open(root)
        } catch {
            report.problems.append("\(error)")
            return report
        }
        guard let manifest = pkg.manifest else {
            report.problems.append("\(root) has no \(PackageFiles.manifest) (a legacy package): nothing to verify against")
            return report
        }
        let sums = checksumProblems(pkg)
        report.checked += manifest.sha256.count
        report.problems += sums.map(\.message)
        let corrupt = Set(sums.map(\.path))

        for (db, entry) in manifest.mysql.sorted(by: { $0.key < $1.key }) where !corrupt.contains(entry.dump) {
            report.checked += 1
            do {
                let found = try ManifestBuilder.mysqlEntry(dumpPath: try pkg.resolve(entry.dump), relativePath: entry.dump)
                if var parts = try entry.parts?.map({ MySQLPartFile(path: try pkg.resolve($0.file), file: $0.file, table: $0.table, rows: $0.rows, columns: $0.columns, sha256: manifest.sha256[$0.file]) }) {
                    // The sha256 of each part was checked above; here its rows and each table's total.
                    report.checked += parts.count
                    report.problems += PartsCheck.problems(&parts, tables: entry.tables, width: 2)
                    if found.tables.values.contains(where: { $0.rows > 0 }) { report.problems.append("\(entry.dump): the schema of a package with data parts holds rows") }
                }
                for (table, want) in entry.tables.sorted(by: { $0.key < $1.key }) {
                    guard let have = found.tables[table] else { report.problems.append("\(entry.dump): table \(table) of database \(db) is missing from the dump"); continue }
                    if entry.parts == nil && have.rows != want.rows { report.problems.append("\(entry.dump): table \(table) has \(have.rows) rows, the manifest says \(want.rows)") }
                    if have.structureDigest != want.structureDigest { report.problems.append("\(entry.dump): table \(table)'s structure differs from the manifest") }
                }
                for table in found.tables.keys.sorted() where entry.tables[table] == nil {
                    report.problems.append("\(entry.dump): table \(table) is in the dump but not in the manifest")
                }
            } catch {
                report.problems.append("\(entry.dump): \(error)")
            }
        }
        // Each ClickHouse data file by its rows (the sha256 was checked above); a split table's
        // parts also as the restore requires them.
        for (table, entry) in manifest.clickhouse.sorted(by: { $0.key < $1.key }) {
            let files: [(file: String, rows: Int, what: String)]
            if let parts = entry.parts {
                report.problems += ClickHouseSplit.partsProblems(entry, table: table, sha256: manifest.sha256).map { "\(entry.data): \($0)" }
                files = parts.map { ($0.file, $0.rows, "\(table) partition \($0.partition)") }
            } else {
                files = [(entry.data, entry.rows, table)]
            }
            for f in files where !corrupt.contains(f.file) {
                report.checked += 1
                do {
                    let file = try MappedFile(path: try pkg.resolve(f.file))
                    let rows = withExtendedLifetime(file) { ClickHouseRestore.lineCount(file.bytes) }
                    if rows != f.rows { report.problems.append("\(f.file): \(rows) rows of \(f.what), the manifest says \(f.rows)") }
                } catch {
                    report.problems.append("\(f.file): \(error)")
                }
            }
        }
        for (name, entry) in manifest.files.sorted(by: { $0.key < $1.key }) where entry.listing == nil && entry.published == nil {
            report.checked += 1
            let path = root + "/" + name
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                report.problems.append("\(name)/: the folder is missing (the manifest lists \(entry.files) files)")
                continue
            }
            let control = MoverControl()
            FileMover.countTotals([RawPath(path)], control: control)
            let p = control.progress()
            if p.filesTotal != Int64(entry.files) || p.bytesTotal != entry.bytes {
                report.problems.append("\(name)/: \(p.filesTotal) files, \(p.bytesTotal) bytes; the manifest says \(entry.files) files, \(entry.bytes) bytes")
            }
        }
        if let rel = manifest.kafkaOffsets, !corrupt.contains(rel) {
            report.checked += 1
            if (try? pkg.resolve(rel)).flatMap({ FileManager.default.contents(atPath: $0) }).flatMap({ try? JSONDecoder().decode(KafkaOffsetsFile.self, from: $0) }) == nil {
                report.problems.append("\(rel): not a Kafka offsets file")
            }
        }
        return report
    }

    /// Every file the manifest lists: present, and its sha256 as recorded. One entry per bad file;
    /// each message starts with the package-relative path.
    public static func checksumProblems(_ pkg: BackupPackage) -> [(path: String, message: String)] {
        guard let manifest = pkg.manifest else { return [] }
        var out: [(path: String, message: String)] = []
        for (rel, want) in manifest.sha256.sorted(by: { $0.key < $1.key }) {
            guard let path = try? pkg.resolve(rel), FileManager.default.fileExists(atPath: path) else {
                out.append((rel, "\(rel): missing (the manifest lists it)"))
                continue
            }
            do {
                let have = try ManifestBuilder.sha256(of: path)
                if have != want { out.append((rel, "\(rel): sha256 is \(have), the manifest says \(want): the file changed or is corrupt; export it again")) }
            } catch {
                out.append((rel, "\(rel): \(error)"))
            }
        }
        return out
    }
}
