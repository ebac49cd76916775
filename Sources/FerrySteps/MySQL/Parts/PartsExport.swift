import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// The parallel export of MySQL databases into per-table parts (docs/package-format.md):
/// N connections read one consistent snapshot (``SnapshotPool``), each part (a table, or a
/// primary-key range of a big one) is written as LOAD DATA text with its rows counted and its
/// sha256 taken as it is written, and each database's schema, views, triggers and routines
/// go to `mysql/<db>/schema.sql` (`mariadb-dump --no-data`). Blocking.
struct PartsExport: @unchecked Sendable {
    /// What the exporter keeps between runs: the plan and the snapshot it was made at.
    struct Saved: Codable, Equatable, Sendable {
        var plan: PartsPlan
        var tables: [PartsPlan.Table]
        var position: PackageManifest.MySQLSnapshot
        /// What the plan was made for: a rerun asking for other databases or compression starts over.
        var databases: [String]? = nil
        var zstd: Bool? = nil
    }

    let endpoint: MySQLEndpoint
    let client: MySQLClient
    let databases: [String]
    let packageRoot: String
    let saved: Saved
    /// Nil when every data part was written by an earlier run.
    let pool: SnapshotPool?
    let counters = Locked<(rows: Int64, bytes: Int64)>((0, 0))
    /// Data parts the state file holds as done (for the test failpoint `export-mid-part`: SIGKILL
    /// in the middle of a part once three are, so a rerun has parts to continue from).
    let savedParts = Locked(0)

    /// Opens the snapshot and plans the parts, or takes up `previous` (an interrupted run's
    /// plan) when the server wrote nothing since; otherwise says why it starts over, and
    /// `restart` is true (the caller forgets the MySQL parts done before).
    static func prepare(endpoint: MySQLEndpoint, client: MySQLClient, databases: [String], packageRoot: String, parallelism: Int,
                        previous: Saved?, pending: Bool, chunkBytes: Int64? = nil, zstd: Bool = false, gtid: Bool = false, say: (String) -> Void) throws -> (PartsExport, restart: Bool) {
        for db in databases {
            if let problem = PartsPlan.folderProblem(db) { throw StepError.configuration("mysql.databases: \(problem)") }
        }
        var restart = false
        if let previous, previous.databases != databases || (previous.zstd ?? false) != zstd {
            say("mysql: the interrupted export was of other databases or compression; writing every MySQL part again")
            restart = true
        } else if let previous {
            if !pending {
                return (PartsExport(endpoint: endpoint, client: client, databases: databases, packageRoot: packageRoot, saved: previous, pool: nil), false)
            }
            let pool = try SnapshotPool(endpoint, count: parallelism, lock: gtid, say: say)
            let now = pool.position
            if now.unchanged(since: previous.position) {
                say("mysql: the server wrote nothing since the interrupted export (\(now.summary)); continuing its parts")
                return (PartsExport(endpoint: endpoint, client: client, databases: databases, packageRoot: packageRoot, saved: previous, pool: pool), false)
            }
            say("mysql: " + (previous.position.binlogFile == nil
                ? "the server has no binary log, so Ferry cannot tell whether it changed since the interrupted export; writing every MySQL part again"
                : "the server wrote since the interrupted export (\(previous.position.summary) then, \(now.summary) now); writing every MySQL part again"))
            pool.close()
            restart = true
        }
        let pool = try SnapshotPool(endpoint, count: parallelism, lock: gtid, say: say)
        do {
            let tables = try pool.with { try Self.readTables($0, databases: databases, keysAbove: chunkBytes) }
            let total = tables.reduce(0) { $0 + $1.dataBytes }
            let perDatabase = Dictionary(tables.map { ($0.database, $0.dataBytes) }, uniquingKeysWith: +)
            let plan = PartsPlan.make(tables, chunkBytes: { db in chunkBytes ?? PartsPlan.chunkBytes(totalBytes: perDatabase[db] ?? total, parallelism: parallelism) },
                                      suffix: zstd ? ".tsv.zst" : ".tsv")
            let saved = Saved(plan: plan, tables: tables, position: pool.position, databases: databases, zstd: zstd)
            return (PartsExport(endpoint: endpoint, client: client, databases: databases, packageRoot: packageRoot, saved: saved, pool: pool), restart)
        } catch {
            pool.close()
            throw error
        }
    }

    /// The base tables of `databases`, their stored columns, sizes, integer keys and structure
    /// digests (`SHOW CREATE TABLE`), read inside the snapshot (the key ranges are the snapshot's).
    /// A table's size is the larger of its statistics and its tablespace file: the statistics of a
    /// table just loaded can say a few KiB for a gigabyte.
    static func readTables(_ c: WireConnection, databases: [String], keysAbove: Int64? = nil) throws -> [PartsPlan.Table] {
        guard !databases.isEmpty else { return [] }
        let list = databases.map(MySQLClient.quoteString).joined(separator: ",")
        func id(_ db: String, _ name: String) -> String { db + "\u{0}" + name }
        var tables: [String: PartsPlan.Table] = [:]
        var keys: [String: [(String, String)]] = [:]
        for r in try c.query("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COALESCE(DATA_LENGTH, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (\(list)) AND TABLE_TYPE <> 'VIEW'") {
            guard r.count == 4, let db = r[0], let name = r[1] else { continue }
            if r[2] == "SEQUENCE" { continue }
            guard r[2] == "BASE TABLE" else {
                throw StepError.configuration("table \(db).\(name) is a \(r[2] ?? "?") table, which the parallel export does not read; export with mysql.format: sql")
            }
            tables[id(db, name)] = .init(database: db, name: name, columns: [], signature: "", dataBytes: Int64(r[3] ?? "0") ?? 0)
        }
        // The tablespace files' sizes (MariaDB, then MySQL 8); names as the server writes them on disk.
        let files = (try? c.query("SELECT NAME, FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES"))
            ?? (try? c.query("SELECT NAME, FILE_SIZE FROM information_schema.INNODB_TABLESPACES")) ?? []
        let fileSize = Dictionary(files.compactMap { r -> (String, Int64)? in
            guard r.count == 2, let n = r[0], let v = r[1].flatMap({ Int64($0) }) else { return nil }
            return (n, v)
        }, uniquingKeysWith: max)
        for (key, t) in tables {
            if let size = fileSize["\(t.database)/\(t.name)"], size > t.dataBytes { tables[key]!.dataBytes = size }
        }
        for r in try c.query("SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, EXTRA, COLUMN_KEY, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (\(list)) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION") {
            guard r.count == 7, let db = r[0], let name = r[1], let column = r[2], tables[id(db, name)] != nil else { continue }
            let extra = (r[4] ?? "").uppercased()
            if extra.contains("VIRTUAL") || extra.contains("STORED GENERATED") || extra.contains("PERSISTENT") { continue }
            tables[id(db, name)]!.columns.append(column)
            if r[5] == "PRI" { keys[id(db, name), default: []].append((column, r[6] ?? "")) }
        }
        let integer: Set<String> = ["tinyint", "smallint", "mediumint", "int", "integer", "bigint"]
        for (key, pk) in keys where pk.count == 1 && integer.contains(pk[0].1.lowercased()) {
            tables[key]!.key = pk[0].0
        }
        let q = MySQLClient.quoteIdentifier
        for (key, t) in tables {
            guard !t.columns.isEmpty else {
                throw StepError.configuration("table \(t.database).\(t.name) has only generated columns, which the parallel export cannot write; export with mysql.format: sql")
            }
            tables[key]!.signature = try structureDigest(c, t)
        }
        // A key range is needed only where a table is cut.
        for (key, t) in tables where t.key != nil && t.dataBytes > (keysAbove ?? 4 << 20) {
            if let row = try c.query("SELECT MIN(\(q(t.key!))), MAX(\(q(t.key!))) FROM \(q(t.database)).\(q(t.name))").first, row.count == 2 {
                tables[key]!.minKey = row[0]
                tables[key]!.maxKey = row[1]
            }
        }
        return tables.values.sorted { ($0.database, $0.name) < ($1.database, $1.name) }
    }

    /// ``TableStructure/digest(_:)`` of the table's `SHOW CREATE TABLE`: what the schema dump's
    /// CREATE TABLE must match, and what must not change until the export ends.
    static func structureDigest(_ c: WireConnection, _ t: PartsPlan.Table) throws -> String {
        let q = MySQLClient.quoteIdentifier
        guard let row = try c.query("SHOW CREATE TABLE \(q(t.database)).\(q(t.name))").first, row.count >= 2, let create = row[1] else {
            throw StepError.target("SHOW CREATE TABLE \(t.database).\(t.name) gave nothing")
        }
        return TableStructure.digest(create)
    }

    // MARK: - parts

    /// The export parts: each database's schema first (a `mariadb-dump` process each, run beside
    /// the data parts on slots of its own, so it is not left to the end), then every data part,
    /// biggest first.
    func exportParts() -> [ExportPart] {
        databases.map { schemaPart($0) } + saved.plan.parts.map { dataPart($0) }
    }

    func dataPart(_ p: PartsPlan.Part) -> ExportPart {
        ExportPart(id: p.id, label: "\(p.database).\(p.table)") {
            try await ProcessSpawn.onThread {
                guard let pool = self.pool else { throw StepError.io("internal: no snapshot for \(p.file)") }
                let (rows, sum, bytes) = try pool.with { try self.write(p, on: $0) }
                return .init(record: { m in
                    var entry = m.mysql[p.database] ?? .init(dump: "", tables: [:])
                    var parts = entry.parts ?? []
                    parts.removeAll { $0.file == p.file }
                    parts.append(.init(table: p.table, file: p.file, rows: rows, columns: p.columns))
                    entry.parts = parts.sorted { $0.file < $1.file }
                    m.mysql[p.database] = entry
                    m.sha256[p.file] = sum
                }, note: "\(p.database).\(p.table) \(rows) rows, \(ManifestBuilder.human(bytes))")
            }
        }
    }

    /// Writes one part through `.part` (a killed export never leaves a part that looks whole).
    func write(_ p: PartsPlan.Part, on c: WireConnection) throws -> (Int, String, Int64) {
        // The plan may come from the state file: its paths stay inside the database's folder.
        guard p.file.hasPrefix("mysql/\(p.database)/"), !p.file.contains("/../"), !p.file.hasSuffix("/.."), p.file.split(separator: "/").count == 3 else {
            throw StepError.configuration("\(PackageExporter.stateFile) names the part \(p.file), outside mysql/\(p.database)/; delete the state file to start the export over")
        }
        let path = packageRoot + "/" + p.file
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let writer = try TSVPartWriter(path + ".part", zstd: p.file.hasSuffix(".zst"))
        var columns = 0
        var flushed: Int64 = 0
        do {
            // A savepoint per part: rolling back to it lets go of the table's metadata lock, so an
            // ALTER by the application waits for one part, not for the whole export (as mysqldump does).
            try c.execute("SAVEPOINT ferry_part")
            try c.command(try PartsPlan.select(p)) { result in
                if case .rows(let names) = result { columns = names.count }
            } row: { payload in
                try writer.append(row: payload, columns: columns)
                if writer.rows == 1000 && savedParts.withLock({ $0 }) >= 3 { Failpoint.hit("export-mid-part") }
                if writer.rows & 0x3FFF == 0 {
                    let b = writer.bytes
                    counters.withLock { $0.rows += 0x4000; $0.bytes += b - flushed }
                    flushed = b
                }
            }
        } catch {
            unlink(path + ".part")
            throw Self.explained(error, table: "\(p.database).\(p.table)")
        }
        try? c.execute("ROLLBACK TO SAVEPOINT ferry_part")
        guard columns == p.columns.count else {
            unlink(path + ".part")
            throw StepError.target("table \(p.database).\(p.table) has \(columns) columns now, \(p.columns.count) when the export began: it was altered during the export; export again once the schema change is done")
        }
        let (sum, size) = try writer.finish()
        counters.withLock { $0.rows += Int64(writer.rows & 0x3FFF); $0.bytes += writer.bytes - flushed }
        guard rename(path + ".part", path) == 0 else { throw StepError.io("cannot rename \(path).part: \(String(cString: strerror(errno)))") }
        return (writer.rows, sum, size)
    }

    /// A read that failed because the table changed is named as such.
    static func explained(_ error: Error, table: String) -> Error {
        let text = "\(error)"
        if text.contains("ERROR 1412") || text.contains("ERROR 1146") || text.contains("ERROR 1054") {
            return StepError.target("table \(table) was altered or dropped during the export (\(text)); export again once the schema change is done")
        }
        return error
    }

    func schemaPart(_ db: String) -> ExportPart {
        ExportPart(id: "mysql/\(db)/schema.sql", label: "\(db) schema") {
            let rel = "mysql/\(db)/schema.sql"
            return try await ProcessSpawn.onThread {
                try FileManager.default.createDirectory(atPath: packageRoot + "/mysql/" + db, withIntermediateDirectories: true)
                let sum = try client.dump(database: db, to: packageRoot + "/" + rel, extra: ["--no-data"])
                let schema = try ManifestBuilder.mysqlEntry(dumpPath: packageRoot + "/" + rel, relativePath: rel)
                let planned = Dictionary(saved.tables.filter { $0.database == db }.map { ($0.name, $0.signature) }, uniquingKeysWith: { a, _ in a })
                let dumped = Set(schema.tables.keys)
                guard Set(planned.keys) == dumped else {
                    let gone = Set(planned.keys).subtracting(dumped).sorted(), new = dumped.subtracting(planned.keys).sorted()
                    throw StepError.target("the tables of \(db) changed during the export"
                        + (gone.isEmpty ? "" : " (dropped: \(gone.joined(separator: ", ")))") + (new.isEmpty ? "" : " (created: \(new.joined(separator: ", ")))")
                        + "; export again once the schema change is done")
                }
                let altered = planned.filter { schema.tables[$0.key]?.structureDigest != $0.value }.keys.sorted()
                guard altered.isEmpty else {
                    throw StepError.target("table(s) \(altered.map { "\(db).\($0)" }.joined(separator: ", ")) were altered during the export (the schema dump's CREATE TABLE differs from the one at the snapshot); export again once the schema change is done")
                }
                return .init(record: { m in
                    var entry = m.mysql[db] ?? .init(dump: rel, tables: [:])
                    entry.dump = rel
                    for (name, t) in schema.tables { entry.tables[name] = .init(rows: entry.tables[name]?.rows ?? 0, structureDigest: t.structureDigest) }
                    m.mysql[db] = entry
                    m.sha256[rel] = sum
                }, note: "\(db) schema, \(schema.tables.count) tables")
            }
        }
    }

    // MARK: - after the parts

    /// Row totals per table from the parts, the snapshot position, and a last look at every
    /// table's columns: one altered since the plan is refused by name.
    /// `gtid`: the position also goes in `mysqlGTIDPosition`, where the replicate mode starts from.
    func finish(_ manifest: inout PackageManifest, gtid: Bool = false) throws {
        defer { pool?.close() }
        // The last look: every table's structure as at the snapshot (a rerun that wrote nothing looks too).
        let look = { (c: WireConnection) throws -> [String] in
            try saved.tables.filter { try Self.structureDigest(c, $0) != $0.signature }.map { "\($0.database).\($0.name)" }
        }
        let altered: [String]
        do {
            if let pool {
                altered = try pool.with(look)
            } else {
                let c = try WireConnection(endpoint)
                defer { c.close() }
                try c.execute(SnapshotPool.session)
                altered = try look(c)
            }
        } catch {
            throw Self.explained(error, table: "a table of \(databases.joined(separator: ", "))")
        }
        if !altered.isEmpty {
            throw StepError.target("table(s) \(altered.joined(separator: ", ")) were altered during the export; export again once the schema change is done")
        }
        for db in databases {
            guard var entry = manifest.mysql[db] else { continue }
            var rows: [String: Int] = [:]
            for p in entry.parts ?? [] { rows[p.table, default: 0] += p.rows }
            for name in entry.tables.keys { entry.tables[name]!.rows = rows[name] ?? 0 }
            manifest.mysql[db] = entry
        }
        manifest.mysqlSnapshot = saved.position
        if gtid, let g = saved.position.gtid, !g.isEmpty { manifest.mysqlGTIDPosition = g }
    }

    /// A progress line every few seconds: rows and bytes per second, and the ETA from the
    /// tables' sizes in `information_schema`. Stops when `stop` is set.
    func ticker(say: @escaping @Sendable (String) -> Void, stop: Locked<Bool>) {
        let total = saved.tables.reduce(0) { $0 + $1.dataBytes }
        let started = Date()
        Thread.detachNewThread { [counters] in
            var last = Date()
            while !stop.withLock({ $0 }) {
                usleep(200_000)
                guard Date().timeIntervalSince(last) >= 3 else { continue }
                last = Date()
                let (rows, bytes) = counters.withLock { ($0.rows, $0.bytes) }
                say(ExportRate.line(rows: rows, bytes: bytes, totalBytes: total, seconds: Date().timeIntervalSince(started)))
            }
        }
    }
}

/// `mysql: 812,000 rows, 60.1 MiB (45%), 400,000 rows/s, 30.0 MiB/s, ETA 2 s`. Pure.
enum ExportRate {
    static func line(rows: Int64, bytes: Int64, totalBytes: Int64, seconds: Double) -> String {
        let s = max(seconds, 0.001)
        var line = "mysql: \(rows) rows, \(ManifestBuilder.human(bytes))"
        if totalBytes > 0 { line += " (\(min(99, bytes * 100 / totalBytes))% of about \(ManifestBuilder.human(totalBytes)))" }
        line += ", \(Int(Double(rows) / s)) rows/s, \(ManifestBuilder.human(Int64(Double(bytes) / s)))/s"
        if totalBytes > bytes && bytes > 0 {
            line += ", ETA \(Int((Double(totalBytes - bytes) / (Double(bytes) / s)).rounded())) s"
        }
        return line
    }
}
