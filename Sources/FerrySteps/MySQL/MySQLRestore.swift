import Crypto
import FerryProtocol
import Foundation
import ProcessSpawn
import Synchronization

/// Restores one database from a plain mysqldump file:
///
/// 1. check the dump before touching anything: it ends with mysqldump's
///    completion line, no statement is cut off, its sha256 and tables match
///    the manifest (when there is one), and the server answers;
/// 2. drop and create the database, create the tables (plain secondary
///    indexes deferred);
/// 3. import the INSERT statements on `parallelism` connections at once
///    (contiguous runs of one table's statements per connection), with
///    foreign_key_checks=0 and, when allowed, sql_log_bin=0 (unique_checks stays 1: see
///    ``partConnection(binlogOff:)``);
/// 4. add the deferred indexes, run the dump's views/triggers/routines;
/// 5. verify the table list, structure digests and row counts against the
///    manifest, or against the dump itself in the legacy layout.
public struct MySQLRestore: Sendable {
    public struct Options: Sendable {
        public var dumpPath: String
        /// The database to (re)create on the target.
        public var database: String
        public var parallelism: Int
        /// Expected tables from the manifest; nil → taken from the dump.
        public var expectedTables: [String: PackageManifest.MySQLTable]?
        /// Expected sha256 (hex) of the dump file, from the manifest.
        public var expectedSHA256: String?
        /// Bytes of INSERT statements per connection run.
        public var chunkBytes: Int
        public var deferIndexes: Bool
        /// Send rows as LOAD DATA LOCAL (converted from the INSERTs) when the server allows it.
        public var loadData: Bool
        /// The database's name in the package, when it is restored under another name.
        public var packageDatabase: String?
        /// The rows as data parts (the parallel export's layout): `dumpPath` is then the schema
        /// only, and each part goes to the server as LOAD DATA LOCAL on a long-lived connection.
        public var parts: [MySQLPartFile]?

        public init(dumpPath: String, database: String, parallelism: Int = 2, expectedTables: [String: PackageManifest.MySQLTable]? = nil, expectedSHA256: String? = nil, chunkBytes: Int = 16 << 20, deferIndexes: Bool = true, loadData: Bool = true) {
            self.dumpPath = dumpPath
            self.database = database
            self.parallelism = parallelism
            self.expectedTables = expectedTables
            self.expectedSHA256 = expectedSHA256
            self.chunkBytes = chunkBytes
            self.deferIndexes = deferIndexes
            self.loadData = loadData
        }
    }


    public let client: MySQLClient
    public let options: Options
    /// Receives progress lines.
    public let say: @Sendable (String) -> Void

    public init(client: MySQLClient, options: Options, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.client = client
        self.options = options
        self.say = say
    }

    /// Blocking: run it on a dedicated thread (see ``run()``).
    public func runBlocking() throws -> MySQLResult {
        let started = Date()
        let db = options.database
        // 1. Check everything before anything is dropped.
        let file: MappedFile, plan: DumpPlan, databaseOptions: String?, charsetSource: String
        var parts = options.parts
        do {
            file = try MappedFile(path: options.dumpPath)
            plan = try check(file)
            if parts != nil { try checkParts(&parts!, plan: plan) }
            (databaseOptions, charsetSource) = try keptDatabaseOptions(plan)
        } catch {
            throw StepError.beforeChange((error as? StepError) ?? .target("\(error)"))
        }
        let binlogOff = disableBinlogAllowed()
        let binlog = binlogOff ? "off for the import" : "left on (no privilege to turn it off)"
        let settings = plan.sessionSettings.map { $0 + ";\n" }.joined()
        let partBytes = parts?.reduce(Int64(0)) { $0 + $1.bytes } ?? 0
        let totalRows = parts?.reduce(0) { $0 &+ $1.rows } ?? plan.totalRows
        say("mysql/\(db): \(parts == nil ? "dump" : "schema and \(parts!.count) data parts") checked in \(Self.seconds(since: started)): \(plan.tables.count) tables, \(totalRows) rows, \(Int64(file.count) + partBytes) bytes; importing on \(options.parallelism) connections")

        // 2. Database and tables, keeping the database's character set: the dump's, else the replaced database's.
        let createOptions = databaseOptions.map { " " + $0 } ?? ""
        try client.run("DROP DATABASE IF EXISTS \(MySQLClient.quoteIdentifier(db));\nCREATE DATABASE \(MySQLClient.quoteIdentifier(db))\(createOptions);\n", what: "recreating database \(db)")
        var deferred: [String: String] = [:]
        var schema = settings
        let loaded = parts.map { Set($0.filter { $0.rows > 0 }.map(\.table)) }
        let tablesWithRows = Dictionary(plan.tables.filter { loaded?.contains($0.name) ?? !$0.insertRanges.isEmpty }.map { ($0.createStatement, $0) }, uniquingKeysWith: { a, _ in a })
        for statement in plan.schemaStatements {
            if options.deferIndexes, let table = tablesWithRows[statement] {
                let d = TableStructure.deferSecondaryKeys(statement, table: table.name)
                if let add = d.addKeys { deferred[table.name] = add }
                schema += d.createStatement + "\n"
            } else {
                schema += statement + "\n"
            }
        }
        try client.run(schema, database: db, what: "creating tables in \(db)")

        // 3. Data, in parallel.
        // Unique checks on, whatever the dump set: see ``partConnection(binlogOff:)``.
        let header = settings
            + "SET SESSION foreign_key_checks=0, unique_checks=1;\n"
            + (binlogOff ? "SET SESSION sql_log_bin=0;\n" : "")
        let chunks = parts.map { $0.map { Chunk(table: $0.table, ranges: [], bytes: Int($0.bytes), part: $0) }.sorted { $0.bytes > $1.bytes } }
            ?? Self.chunks(plan, chunkBytes: options.chunkBytes)
        // 4. A table's deferred indexes are built once its rows, and the rows of every table whose
        //    foreign keys point at it, are in (an ALTER on a parent waits for a child's load: a deadlock).
        let method = try importChunks(chunks, file: file, header: header, charset: Self.charset(plan.sessionSettings),
                                      afterTable: deferred.mapValues { header + $0 + ";\n" },
                                      gates: Self.indexGates(plan, deferred: Set(deferred.keys)),
                                      totalBytes: parts == nil ? plan.tables.reduce(0) { $0 + $1.insertBytes } : Int(partBytes), started: started,
                                      binlogOff: binlogOff)
        say("mysql/\(db): data and \(deferred.count) deferred index set(s) in after \(Self.seconds(since: started))")
        if !plan.postScript.isEmpty {
            try client.run(settings + plan.postScript, database: db, what: "creating views, triggers and routines in \(db)")
        }

        // 5. Verify.
        say("mysql/\(db): verifying after \(Self.seconds(since: started))")
        let verified = try verify(plan)
        let seconds = Date().timeIntervalSince(started)
        let rows = totalRows
        say("mysql/\(db): restored and verified \(plan.tables.count) tables, \(rows) rows in \(String(format: "%.1f", seconds)) s")
        return MySQLResult(database: db, tables: plan.tables.count, rows: rows, bytes: file.count + Int(partBytes), seconds: (seconds * 1000).rounded() / 1000,
                      rowsPerSecond: seconds > 0 ? Int(Double(rows) / seconds) : rows, parallelism: options.parallelism,
                      deferredIndexes: deferred.count, verified: verified, binlog: binlog, method: method,
                      databaseCharset: charsetSource, notes: plan.notes.isEmpty ? nil : plan.notes)
    }

    /// Runs on a dedicated thread so the blocking client I/O never holds Swift concurrency's pool.
    public func run() async throws -> MySQLResult {
        let restore = self
        return try await ProcessSpawn.onThread { try restore.runBlocking() }
    }

    /// The options with `parallelism` 0 (auto) made a number: ``autoParallelism(serverCores:localCores:partBytes:)``
    /// over the server's `thread_pool_size` and the parts (a single dump counts as runs of 16 MiB).
    public static func resolvingAuto(_ options: Options, client: MySQLClient) -> Options {
        guard options.parallelism == 0 else { return options }
        var resolved = options
        let cores = (try? client.query("SELECT @@GLOBAL.thread_pool_size").first?.first).flatMap { $0.flatMap { Int($0) } }
        let partBytes = options.parts.map { $0.map { ManifestBuilder.fileSize($0.path) } }
            ?? [Int64](repeating: 16 << 20, count: max(1, Int(ManifestBuilder.fileSize(options.dumpPath) >> 24)))
        resolved.parallelism = autoParallelism(serverCores: cores, localCores: ProcessInfo.processInfo.activeProcessorCount, partBytes: partBytes)
        return resolved
    }

    /// `--parallelism auto`: one connection per core of the server (MariaDB's `thread_pool_size`
    /// defaults to them), else of this host, at most 8; no more than there are parts of 8 MiB or
    /// more (a small database gains nothing from more connections), at least 1. Pure.
    static func autoParallelism(serverCores: Int?, localCores: Int, partBytes: [Int64]) -> Int {
        let cores = min(8, max(1, serverCores ?? localCores))
        let worthIt = max(1, partBytes.filter { $0 >= 8 << 20 }.count)
        return max(1, min(cores, worthIt, partBytes.count))
    }

    static func seconds(since start: Date) -> String {
        String(format: "%.1f s", Date().timeIntervalSince(start))
    }

    // MARK: - Checks

    /// The dump is complete and matches the manifest; the server answers. Throws before any change.
    func check(_ file: MappedFile) throws -> DumpPlan {
        let path = options.dumpPath
        if let expected = options.expectedSHA256 {
            let actual = SHA256.hash(data: file.bytes).hexString
            guard actual == expected.lowercased() else {
                throw StepError.badPackage("\(path): sha256 is \(actual), the manifest says \(expected); the file changed or is corrupt. Nothing was changed on the target")
            }
        }
        let plan = SQLDumpScanner.scan(file.bytes)
        guard plan.completed else {
            throw StepError.badPackage("\(path) has no \"-- Dump completed\" line: the dump was cut off or mysqldump failed. Re-export it; nothing was changed on the target")
        }
        guard !plan.truncatedStatement else {
            throw StepError.badPackage("\(path) ends inside a statement; re-export it; nothing was changed on the target")
        }
        let outside = SQLDumpScanner.confinementProblems(plan, database: options.database, alias: options.packageDatabase, bytes: file.bytes, path: path)
        if !outside.isEmpty {
            throw StepError.badPackage("\(path) holds statements a restore of \(options.database) may not run: " + outside.joined(separator: "; ") + ". Nothing was changed on the target")
        }
        if let expected = options.expectedTables {
            let inDump = Dictionary(plan.createdTables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var problems: [String] = []
            for name in expected.keys.sorted() {
                guard let t = inDump[name] else { problems.append("table \(name) is in the manifest but not in the dump"); continue }
                if options.parts == nil && t.rows != expected[name]!.rows { problems.append("table \(name): the dump holds \(t.rows) rows, the manifest \(expected[name]!.rows)") }
                if TableStructure.digest(t.createStatement) != expected[name]!.structureDigest { problems.append("table \(name): its CREATE TABLE does not match the manifest's structure digest") }
            }
            for name in inDump.keys.sorted() where expected[name] == nil { problems.append("table \(name) is in the dump but not in the manifest") }
            if !problems.isEmpty {
                throw StepError.badPackage("\(path) does not match manifest.json: " + problems.joined(separator: "; ") + ". Nothing was changed on the target")
            }
        }
        let databases: [[String]]
        do {
            databases = try client.query("SHOW DATABASES")
        } catch let e as StepError {
            throw StepError.target("cannot reach MySQL before restoring \(options.database): \(e). Nothing was changed")
        }
        let others = Set(databases.compactMap(\.first)).subtracting([options.database, options.packageDatabase ?? options.database])
        let reaching = SQLDumpScanner.bodyProblems(plan, others: others, bytes: file.bytes, path: path)
        if !reaching.isEmpty {
            throw StepError.badPackage("\(path) holds views, triggers, routines or events that would act on other databases of this server: " + reaching.joined(separator: "; ") + ". Nothing was changed on the target")
        }
        return plan
    }

    /// The CREATE DATABASE options: the dump's, else the character set and collation of the
    /// database being replaced (a plain per-database dump has no CREATE DATABASE, and the server
    /// default may be latin1), else none. With where they came from, for the result.
    func keptDatabaseOptions(_ plan: DumpPlan) throws -> (String?, String) {
        if let options = plan.databaseOptions { return (options, "\(options) (from the dump)") }
        let rows = try client.query("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(MySQLClient.quoteString(options.database))")
        if let row = rows.first, row.count == 2, Self.isPlainName(row[0]), Self.isPlainName(row[1]) {
            let options = "DEFAULT CHARACTER SET \(row[0]) COLLATE \(row[1])"
            return (options, "\(options) (kept from the database it replaced)")
        }
        return (nil, "the server's default (the dump names none and there was no database to replace)")
    }

    /// A character set or collation name: letters, digits, underscores.
    static func isPlainName(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// For each table with deferred indexes: the tables whose rows must be in before its ALTER
    /// runs — itself and every table whose foreign keys reference it (their loads lock it).
    static func indexGates(_ plan: DumpPlan, deferred: Set<String>) -> [String: Set<String>] {
        var gates: [String: Set<String>] = [:]
        for table in deferred { gates[table] = [table] }
        for t in plan.createdTables {
            for parent in TableStructure.referencedTables(t.createStatement) where deferred.contains(parent) {
                gates[parent, default: [parent]].insert(t.name)
            }
        }
        return gates
    }

    /// Whether this login may turn binary logging off for its session.
    func disableBinlogAllowed() -> Bool {
        (try? client.run("SET SESSION sql_log_bin=0;", what: "probe")) != nil
    }

    // MARK: - Import

    /// One connection's share: a contiguous run of one table's INSERT statements, or one data part.
    struct Chunk: Sendable {
        var table: String
        var ranges: [Range<Int>]
        var bytes: Int
        var part: MySQLPartFile? = nil
    }

    /// Cuts each table's INSERT statements into runs of about `chunkBytes`, in order.
    static func chunks(_ plan: DumpPlan, chunkBytes: Int) -> [Chunk] {
        var out: [Chunk] = []
        for table in plan.tables {
            var current = Chunk(table: table.name, ranges: [], bytes: 0)
            for range in table.insertRanges {
                if current.bytes > 0 && current.bytes + range.count > chunkBytes {
                    out.append(current)
                    current = Chunk(table: table.name, ranges: [], bytes: 0)
                }
                current.ranges.append(range)
                current.bytes += range.count
            }
            if current.bytes > 0 { out.append(current) }
        }
        return out
    }

    /// The character set of the dump's `SET NAMES` (utf8mb4 when it has none).
    static func charset(_ settings: [String]) -> String {
        for s in settings where s.uppercased().hasPrefix("SET NAMES ") {
            let value = s.dropFirst(10).split(separator: " ").first.map(String.init) ?? "utf8mb4"
            return value.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        }
        return "utf8mb4"
    }

    /// The LOAD DATA statement for one chunk.
    static func loadStatement(table: String, charset: String, columns: String?) -> String {
        "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE \(MySQLClient.quoteIdentifier(table)) CHARACTER SET \(charset) "
            + "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'" + (columns.map { " (\($0))" } ?? "")
    }

    /// A client error that means LOAD DATA LOCAL is switched off on one side.
    static func localInfileRefused(_ stderr: String) -> Bool {
        ["ERROR 1148", "ERROR 3948", "ERROR 4166", "ERROR 2068", "not allowed", "is disabled"].contains { stderr.contains($0) }
    }

    /// Feeds the chunks to `parallelism` client processes at a time; the first failure stops the rest.
    /// Rows go as LOAD DATA LOCAL when they convert and the server allows it, else as the INSERTs.
    /// Returns how rows were sent.
    func importChunks(_ chunks: [Chunk], file: MappedFile, header: String, charset: String, afterTable: [String: String], gates: [String: Set<String>] = [:], totalBytes: Int, started: Date, binlogOff: Bool = false) throws -> String {
        // Chunks each gated ALTER still waits for; a table without rows opens its gate at once.
        let gates = afterTable.keys.reduce(into: [String: Set<String>]()) { g, table in g[table] = (gates[table] ?? []).union([table]) }
        let perTable = Dictionary(chunks.map { ($0.table, 1) }, uniquingKeysWith: +)
        let remaining = Locked(gates.mapValues { members in members.reduce(0) { $0 + (perTable[$1] ?? 0) } })
        let state = Locked<(next: Int, done: Int, failure: StepError?, loadData: Bool, loaded: Int, inserted: Int, refused: Bool)>((0, 0, nil, options.loadData, 0, 0, false))
        let db = options.database
        let client = self.client
        let say = self.say
        let finished = Locked(false)
        let ticker = Thread {
            var last = Date()
            while !finished.withLock({ $0 }) {
                usleep(200_000)
                guard Date().timeIntervalSince(last) >= 2 else { continue }
                last = Date()
                // The same line while nothing moves (a frozen server): the controller reports a stall.
                let done = state.withLock { $0.done }
                let pct = totalBytes > 0 ? done * 100 / totalBytes : 100
                say("mysql/\(db): \(pct)% of data in (\(done >> 20)/\(totalBytes >> 20) MiB)")
            }
        }
        ticker.start()
        defer { finished.withLock { $0 = true } }

        /// Sends one chunk as INSERT statements.
        @Sendable func insert(_ chunk: Chunk) throws {
            let child = try client.start(database: db)
            defer { child.removeOutputs() }
            var ok = child.write(header)
            for range in chunk.ranges where ok { ok = child.write(file.slice(range)) }
            let code = child.wait()
            if code != 0 || !ok {
                throw Self.loadFailure(MySQLClient.failure(child, what: "importing \(chunk.table) into \(db)", endpoint: client.endpoint, code: code), stderr: child.stderr)
            }
        }
        /// Sends one chunk as LOAD DATA LOCAL; false when its rows do not convert or the server refuses LOCAL.
        @Sendable func load(_ chunk: Chunk) throws -> Bool {
            var tsv: [UInt8] = []
            tsv.reserveCapacity(chunk.bytes)
            var columns: String??
            for range in chunk.ranges {
                guard let h = InsertToTSV.convert(file.slice(range), into: &tsv) else { return false }
                if columns == nil { columns = .some(h.columns) } else if columns! != h.columns { return false }
            }
            // LOAD DATA LOCAL skips a row whose key is taken, with a warning: the warnings tell
            // (up to the server's max_error_count, 64 by default).
            let script = header + Self.loadStatement(table: chunk.table, charset: charset, columns: columns ?? nil) + ";\nSHOW WARNINGS;"
            let child = try client.start(database: db, extra: ["--local-infile=1", "--execute=\(script)"])
            defer { child.removeOutputs() }
            let ok = tsv.withUnsafeBytes { child.write($0) }
            let code = child.wait()
            if code == 0 && ok {
                if let duplicate = Self.duplicateWarning(child.stdout) {
                    throw StepError.badData("loading \(chunk.table) into \(db): the server skipped rows whose key was already taken (\(duplicate)). " + Self.sameRowsAgain)
                }
                return true
            }
            if Self.localInfileRefused(child.stderr) {
                state.withLock { $0.loadData = false; $0.refused = true }
                return false
            }
            throw Self.loadFailure(MySQLClient.failure(child, what: "loading \(chunk.table) into \(db)", endpoint: client.endpoint, code: code), stderr: child.stderr)
        }

        let workers = max(1, min(options.parallelism, chunks.count))
        let group = DispatchGroup()
        let restore = self
        for _ in 0..<workers {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                // A worker's own connection for data parts, opened at its first part.
                var connection: WireConnection?
                defer { connection?.close() }
                while true {
                    let next: (Int, Bool)? = state.withLock { s in
                        guard s.failure == nil, s.next < chunks.count else { return nil }
                        s.next += 1
                        return (s.next - 1, s.loadData)
                    }
                    guard let (index, tryLoad) = next else { return }
                    let chunk = chunks[index]
                    do {
                        if let part = chunk.part {
                            if connection == nil { connection = try restore.partConnection(binlogOff: binlogOff) }
                            try restore.load(part, on: connection!)
                            state.withLock { $0.loaded += 1 }
                        } else if tryLoad, try load(chunk) {
                            state.withLock { $0.loaded += 1 }
                        } else {
                            try insert(chunk)
                            state.withLock { $0.inserted += 1 }
                        }
                        state.withLock { $0.done += chunk.bytes }
                        let opened = remaining.withLock { r -> [String] in
                            var out: [String] = []
                            for (table, members) in gates where members.contains(chunk.table) {
                                guard let left = r[table], left > 0 else { continue }
                                r[table] = left - 1
                                if left == 1 { out.append(table) }
                            }
                            return out
                        }
                        for table in opened.sorted() {
                            if let script = afterTable[table] { try runRetryingDeadlocks(script, table: table) }
                        }
                    } catch {
                        state.withLock { if $0.failure == nil { $0.failure = (error as? StepError) ?? .target("\(error)") } }
                    }
                }
            }
        }
        group.wait()
        let s = state.withLock { $0 }
        if let failure = s.failure { throw failure }
        if chunks.first?.part != nil { return "LOAD DATA LOCAL from \(chunks.count) data parts" }
        if s.inserted == 0 { return "LOAD DATA LOCAL" }
        if s.loaded == 0 { return s.refused ? "INSERT statements (the server refuses LOAD DATA LOCAL)" : (options.loadData ? "INSERT statements (rows not convertible)" : "INSERT statements") }
        return "LOAD DATA LOCAL for \(s.loaded) runs, INSERT statements for \(s.inserted)" + (s.refused ? " (the server refused LOAD DATA LOCAL)" : "")
    }

    /// Why a step that stopped on the package's rows is not tried again.
    static let sameRowsAgain = "Trying again would load the same rows, so the step stops here: correct the package or the table's definition, then re-run the step (annotation ferry.dev/rerun)"

    /// A load that failed: the server refusing a row of the package (a duplicate key, a value
    /// out of range, too long or not valid for its column) fails the same way every time, so it
    /// is ``StepError/badData(_:)``; anything else (a lost connection, a lock wait) may pass on
    /// a retry. Pure.
    static func loadFailure(_ message: String, stderr: String) -> StepError {
        // Only the client's own error lines: the statement it echoes may hold any text.
        let codes = stderr.split(separator: "\n").compactMap { line -> Int? in
            guard line.hasPrefix("ERROR ") else { return nil }
            return Int(line.dropFirst(6).prefix { $0.isNumber })
        }
        let rowRefused = codes.contains { [1062, 1048, 1264, 1292, 1366, 1406].contains($0) }
        return rowRefused ? .badData(message + ". " + sameRowsAgain) : .target(message)
    }

    /// The first duplicate-key warning (code 1062) in `SHOW WARNINGS` batch output, if any. Pure.
    static func duplicateWarning(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            if fields.count >= 3 && fields[1] == "1062" { return String(fields[2...].joined(separator: " ").prefix(200)) }
        }
        return nil
    }

    /// A connection for loading data parts: the session the import needs (no foreign key checks,
    /// UTC, zero keeps its value, and no binary log when allowed). Unique checks stay on: with
    /// both checks off, MariaDB 10.6+ loads an empty table in "bulk insert" mode (counted in
    /// `Innodb_bulk_operations`), which locks the whole table, so the other runs of that table
    /// wait or, when two start at once, deadlock (ERROR 1213, seen restoring 1,000,000 rows),
    /// and it sorts the rows again (1,000,000 rows in 4 parts on 2 connections: 2.9 s with
    /// unique_checks on, 3.5 s off, medians of 8 interleaved runs). LOAD DATA LOCAL is no
    /// exception on MariaDB 10.11: each first load of an empty table counted as one.
    func partConnection(binlogOff: Bool) throws -> WireConnection {
        let c = try WireConnection(client.endpoint, database: options.database)
        try c.execute("SET SESSION foreign_key_checks = 0, unique_checks = 1, time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO'"
                      + (binlogOff ? ", sql_log_bin = 0" : ""))
        return c
    }

    /// Streams one part into its table and checks the server took every row without a warning.
    func load(_ part: MySQLPartFile, on c: WireConnection) throws {
        let q = MySQLClient.quoteIdentifier
        let sql = "LOAD DATA LOCAL INFILE 'part' INTO TABLE \(q(part.table)) CHARACTER SET binary "
            + "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (" + part.columns.map(q).joined(separator: ", ") + ")"
        let ok: WirePackets.OK
        do {
            let source = try PartReader(part.path)
            ok = try c.loadLocal(sql) { try source.read(into: $0) }
            try source.finish()
        } catch {
            throw StepError.target("loading \(part.file) into \(options.database).\(part.table): \(error)")
        }
        if ok.warnings > 0 {
            let shown = ((try? c.query("SHOW WARNINGS LIMIT 3")) ?? []).map { $0.compactMap { $0 }.joined(separator: " ") }.joined(separator: "; ")
            throw StepError.badData("loading \(part.file) into \(options.database).\(part.table): the server changed or refused values (\(ok.warnings) warnings: \(shown)). " + Self.sameRowsAgain)
        }
        guard ok.affectedRows == UInt64(part.rows) else {
            throw StepError.badData("loading \(part.file) into \(options.database).\(part.table): the server took \(ok.affectedRows) rows, the part holds \(part.rows). " + Self.sameRowsAgain)
        }
    }

    /// Every part read once, before anything is dropped: rows and sha256 against the manifest;
    /// the schema dump holds no rows of its own; the server accepts LOAD DATA LOCAL.
    func checkParts(_ parts: inout [MySQLPartFile], plan: DumpPlan) throws {
        let path = options.dumpPath
        if let t = plan.tables.first(where: { !$0.insertRanges.isEmpty }) {
            throw StepError.badPackage("\(path) is the schema of a package with data parts, yet it holds rows of \(t.name); re-export it. Nothing was changed on the target")
        }
        var problems = PartsCheck.problems(&parts, tables: options.expectedTables ?? [:], width: max(2, options.parallelism))
        let columns = Dictionary(plan.createdTables.map { ($0.name, Set(TableStructure.columnNames($0.createStatement))) }, uniquingKeysWith: { a, _ in a })
        for p in parts {
            let unknown = p.columns.filter { !(columns[p.table]?.contains($0) ?? false) }
            if !unknown.isEmpty { problems.append("\(p.file) holds columns \(unknown.joined(separator: ", ")), which the schema's table \(p.table) does not have") }
        }
        if !problems.isEmpty {
            throw StepError.badPackage("the data parts of \(options.packageDatabase ?? options.database) do not match manifest.json: " + problems.joined(separator: "; ") + ". Nothing was changed on the target")
        }
        let local = try client.query("SELECT @@GLOBAL.local_infile").first?.first ?? "0"
        guard local == "1" || local.uppercased() == "ON" else {
            throw StepError.target("the server refuses LOAD DATA LOCAL (local_infile is OFF), which restoring data parts needs: set local_infile=ON on \(client.endpoint.host):\(client.endpoint.port), or restore a package exported with mysql.format: sql. Nothing was changed")
        }
        // The parts go through Ferry's own connection: it must log in before anything is dropped.
        let probe = try WireConnection(client.endpoint)
        defer { probe.close() }
        let version = try probe.query("SELECT VERSION()").first?.first ?? nil
        // MySQL (not MariaDB) builds a JSON value only from utf8 text, not from the binary bytes the parts are loaded as.
        if let version, !version.contains("MariaDB") {
            let json = plan.createdTables.filter { TableStructure.hasJSONColumn($0.createStatement) }.map(\.name)
            if !json.isEmpty {
                throw StepError.target("table(s) \(json.joined(separator: ", ")) have JSON columns, which MySQL \(version) does not load from the data parts; restore a package exported with mysql.format: sql. Nothing was changed")
            }
        }
    }

    /// Runs a deferred-index ALTER, trying again after a deadlock or lock-wait timeout
    /// (ERROR 1213 / 1205): the server rolled the statement back, so running it again is safe.
    func runRetryingDeadlocks(_ script: String, table: String) throws {
        var attempt = 1
        while true {
            do {
                try client.run(script, database: options.database, what: "adding the deferred indexes of \(table) in \(options.database)")
                return
            } catch let StepError.target(message) where attempt < 6 && (message.contains("ERROR 1213") || message.contains("ERROR 1205")) {
                say("mysql/\(options.database): \(table): the index build met a lock conflict (\(message.contains("1213") ? "deadlock" : "lock wait timeout")); trying again (\(attempt) of 5)")
                usleep(UInt32(200_000 * attempt))
                attempt += 1
            }
        }
    }

    // MARK: - Verify

    /// Table list, structure digests and row counts on the target against the manifest (or the dump).
    func verify(_ plan: DumpPlan) throws -> String {
        let db = options.database
        let expected: [String: PackageManifest.MySQLTable] = options.expectedTables ?? Dictionary(
            plan.createdTables.map { ($0.name, PackageManifest.MySQLTable(rows: $0.rows, structureDigest: TableStructure.digest($0.createStatement))) },
            uniquingKeysWith: { a, _ in a })
        let listed = try client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = \(MySQLClient.quoteString(db)) AND table_type = 'BASE TABLE'")
        let actual = Set(listed.compactMap(\.first))
        var problems: [String] = []
        for name in expected.keys.sorted() where !actual.contains(name) { problems.append("table \(name) is missing") }
        for name in actual.sorted() where expected[name] == nil { problems.append("table \(name) is not in the package") }
        let present = expected.keys.sorted().filter { actual.contains($0) }
        if !present.isEmpty {
            let counts = try client.query(present.map { "SELECT \(MySQLClient.quoteString($0)), COUNT(*) FROM \(MySQLClient.quoteIdentifier($0))" }.joined(separator: " UNION ALL ") + ";", database: db)
            for row in counts where row.count == 2 {
                let want = expected[row[0]]?.rows ?? -1
                if Int(row[1]) != want { problems.append("table \(row[0]) has \(row[1]) rows, expected \(want)") }
            }
            let creates = try client.query(present.map { "SHOW CREATE TABLE \(MySQLClient.quoteIdentifier($0));" }.joined(separator: "\n"), database: db)
            for row in creates where row.count >= 2 {
                if TableStructure.digest(row[1]) != expected[row[0]]?.structureDigest {
                    problems.append("table \(row[0]) structure differs from the package (SHOW CREATE TABLE digest)")
                }
            }
        }
        guard problems.isEmpty else { throw StepError.verification("database \(db): " + problems.joined(separator: "; ")) }
        return "\(expected.count) tables: names, structure digests and row counts match \(options.expectedTables == nil ? "the dump" : "the manifest")"
    }
}
