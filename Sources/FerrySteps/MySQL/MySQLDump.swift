import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// One database to one dump file with `mariadb-dump` (else `mysqldump`):
/// a consistent snapshot (`--single-transaction`), triggers and routines,
/// written under a temporary name and renamed only once it ends with the
/// completion line, so a killed export never leaves a dump that looks whole.
extension MySQLClient {
    /// Databases other than the server's own.
    public func userDatabases() throws -> [String] {
        let system: Set<String> = ["information_schema", "performance_schema", "mysql", "sys"]
        return try query("SHOW DATABASES").compactMap(\.first).filter { !system.contains($0) }.sorted()
    }

    /// Bytes of table data in `databases` (an estimate of the dumps' size).
    public func dataBytes(_ databases: [String]) throws -> Int64 {
        guard !databases.isEmpty else { return 0 }
        let list = databases.map(Self.quoteString).joined(separator: ",")
        let rows = try query("SELECT COALESCE(SUM(data_length), 0) FROM information_schema.TABLES WHERE table_schema IN (\(list))")
        return Int64(rows.first?.first ?? "0") ?? 0
    }

    /// Dumps `database` to `path` (via `path.part`), its sha256 taken as the dump is written;
    /// throws the tool's own message on failure. Returns the sha256.
    @discardableResult
    public func dump(database: String, to path: String, extra: [String] = []) throws -> String {
        let part = path + ".part"
        unlink(part)
        let program = Self.findProgram(["mariadb-dump", "mysqldump"]) ?? "mysqldump"
        let writer = try HashingWriter(part)
        let out = try ProcessSpawn.pipe()
        let child: ChildProcess
        do {
            child = try ChildProcess(program, ["--defaults-file=\(defaultsFile)", "--single-transaction", "--triggers", "--routines",
                                               "--max-allowed-packet=1073741824"] + extra + ["--databases", database],
                                     pipeStdin: false, outputDirectory: workDirectory, inherit: defaultsFD, stdout: out.write)
        } catch {
            close(out.read)
            close(out.write)
            throw error
        }
        close(out.write)
        defer { child.removeOutputs() }
        let drained = Result { try writer.drain(out.read) }
        // A write that failed (a full disk) stops the reading: the dump must not wait on the pipe.
        if case .failure = drained { kill(child.pid, SIGKILL) }
        close(out.read)
        let code = child.wait()
        if case .failure(let error) = drained {
            unlink(part)
            throw error
        }
        guard code == 0 else {
            unlink(part)
            throw StepError.target(Self.failure(child, what: "dumping database \(database)", endpoint: endpoint, code: code))
        }
        guard (try? PackageValidation.checkCompletionLine(part)) != nil else {
            unlink(part)
            throw StepError.target("\(program) ended without its \"-- Dump completed\" line for \(database); nothing was kept")
        }
        guard rename(part, path) == 0 else { throw StepError.io("cannot rename \(part): \(String(cString: strerror(errno)))") }
        return writer.finish()
    }
}

extension MySQLClient {
    /// One consistent dump of `databases` (`--single-transaction --gtid --master-data=2`) into
    /// `path` (the caller removes it), mapped and cut per database, with the server's GTID
    /// position at that snapshot.
    func consistentDump(_ databases: [String], to path: String) throws -> (MappedFile, SnapshotDump.Split) {
        let program = MySQLClient.findProgram(["mariadb-dump", "mysqldump"]) ?? "mysqldump"
        let child = try ChildProcess(program, ["--defaults-file=\(defaultsFile)", "--single-transaction", "--gtid", "--master-data=2", "--triggers", "--routines",
                                               "--max-allowed-packet=1073741824", "--result-file=\(path)", "--databases"] + databases,
                                     pipeStdin: false, outputDirectory: workDirectory, inherit: defaultsFD)
        defer { child.removeOutputs() }
        let code = child.wait()
        guard code == 0 else { throw StepError.target(MySQLClient.failure(child, what: "dumping \(databases.joined(separator: ", "))", endpoint: endpoint, code: code)) }
        let file = try MappedFile(path: path)
        return (file, try SnapshotDump.split(file.bytes, expected: databases))
    }
}

extension SnapshotDump {
    /// Database `name`'s own dump from the mapped snapshot, written to `path` straight from the
    /// mapping; returns its sha256, taken as it is written.
    @discardableResult
    static func write(_ split: SnapshotDump.Split, database name: String, of file: MappedFile, to path: String, mode: mode_t = 0o600) throws -> String {
        let writer = try HashingWriter(path, mode: mode)
        for range in SnapshotDump.pieces(split, database: name) { try writer.write(file.slice(range)) }
        return writer.finish()
    }
}

extension MySQLClient {
    /// The export part of all `databases` at once (`mysql.gtid: true`): one consistent dump with
    /// the server's GTID position, cut into `mysql/<db>.sql` (the same shape as one database's
    /// dump) straight from the mapping, the position recorded in the manifest.
    func consistentExportPart(databases: [String], packageRoot: String) -> ExportPart {
        ExportPart(id: "mysql", label: "\(databases.count) databases at one GTID position") {
            try await ProcessSpawn.onThread {
                try FileManager.default.createDirectory(atPath: packageRoot + "/mysql", withIntermediateDirectories: true)
                let snapshot = packageRoot + "/mysql/.snapshot.sql.part"
                defer { unlink(snapshot) }
                let (file, split) = try self.consistentDump(databases, to: snapshot)
                var entries: [(String, PackageManifest.MySQLDatabase, String, String)] = []
                for db in databases {
                    let rel = "mysql/\(db).sql"
                    let sum = try SnapshotDump.write(split, database: db, of: file, to: packageRoot + "/" + rel + ".part", mode: 0o644)
                    guard rename(packageRoot + "/" + rel + ".part", packageRoot + "/" + rel) == 0 else { throw StepError.io("cannot rename \(rel).part: \(String(cString: strerror(errno)))") }
                    entries.append((db, try ManifestBuilder.mysqlEntry(dumpPath: packageRoot + "/" + rel, relativePath: rel), rel, sum))
                }
                let position = split.gtidPosition
                let made = entries
                return .init(record: { m in
                    for (db, entry, rel, sum) in made {
                        m.mysql[db] = entry
                        m.sha256[rel] = sum
                    }
                    m.mysqlGTIDPosition = position
                }, note: "\(databases.joined(separator: ", ")) at GTID \(position)")
            }
        }
    }

    /// The export part of one database: `mysql/<db>.sql`, its tables and structure digests.
    func exportPart(database db: String, packageRoot: String) -> ExportPart {
        ExportPart(id: "mysql/\(db)", label: db) {
            let rel = "mysql/\(db).sql"
            return try await ProcessSpawn.onThread {
                try FileManager.default.createDirectory(atPath: packageRoot + "/mysql", withIntermediateDirectories: true)
                let sum = try self.dump(database: db, to: packageRoot + "/" + rel)
                let entry = try ManifestBuilder.mysqlEntry(dumpPath: packageRoot + "/" + rel, relativePath: rel)
                let size = ManifestBuilder.fileSize(packageRoot + "/" + rel)
                return .init(record: { m in
                    m.mysql[db] = entry
                    m.sha256[rel] = sum
                }, note: "\(db) \(ManifestBuilder.human(size)), \(entry.tables.count) tables")
            }
        }
    }
}
