import Crypto
import Foundation
import KubeClient
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// `ferry export`: writes a whole package in Ferry's layout
/// (docs/package-format.md) on the source host.
///
/// Orchestration only: plan (what exists, how big) → free-space check → the
/// parts, each written by its domain (``ExportPart``: MySQL dumps in parallel
/// across databases, ClickHouse tables, Kafka offsets, file folders with the
/// mover, the sealed config) → metadata and manifest. Each finished part is recorded in `.ferry-export-state.json`
/// in the output, so a rerun after a crash continues after the last finished
/// part; the manifest is written last, so a package without one is never
/// taken for complete.
public struct PackageExporter: Sendable {
    public static let stateFile = ".ferry-export-state.json"

    /// Secrets read from files or the environment, never from the config.
    public struct Secrets: Sendable {
        public var mysqlPassword: String?
        public var clickhousePassword: String?
        public var configKey: String?
        public var kafka: KafkaSecurity
        public init(mysqlPassword: String? = nil, clickhousePassword: String? = nil, configKey: String? = nil, kafka: KafkaSecurity = .plaintext) {
            self.mysqlPassword = mysqlPassword
            self.clickhousePassword = clickhousePassword
            self.configKey = configKey
            self.kafka = kafka
        }

        /// From `passwordFile`/`keyFile` in the config, else FERRY_MYSQL_PASSWORD, FERRY_CLICKHOUSE_PASSWORD, FERRY_CONFIG_KEY, FERRY_KAFKA_*.
        public static func load(_ config: ExportConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Secrets {
            func read(_ path: String?, env: String, field: String) throws -> String? {
                if let path {
                    guard let value = Credentials.read(path) else { throw StepError.configuration("\(field): \(path) is not readable") }
                    return value
                }
                return environment[env]
            }
            var s = Secrets()
            s.mysqlPassword = try read(config.mysql?.passwordFile, env: "FERRY_MYSQL_PASSWORD", field: "mysql.passwordFile")
            s.clickhousePassword = try read(config.clickhouse?.passwordFile, env: "FERRY_CLICKHOUSE_PASSWORD", field: "clickhouse.passwordFile")
            if config.config != nil {
                s.configKey = try read(config.config?.keyFile, env: "FERRY_CONFIG_KEY", field: "config.keyFile")
                if s.configKey == nil { throw StepError.configuration("config: give keyFile (base64 of 32 bytes: openssl rand -base64 32) or FERRY_CONFIG_KEY") }
            }
            if let k = config.kafka {
                s.kafka = try KafkaSecurity.load(tls: k.tls == true ? .init() : nil, directory: k.credentialsDir, environment: environment)
            }
            return s
        }
    }

    /// What was done.
    public struct Summary: Codable, Sendable, Equatable {
        public var output: String
        public var parts: Int
        /// Parts already finished by an earlier run and skipped.
        public var resumed: Int
        public var bytes: Int64
        public var seconds: Double
        public var mysql: [String]
        public var clickhouse: [String]
        public var files: [String]
        public var kafkaGroups: Int
        public var configFiles: Int
    }

    /// The partial state kept between runs.
    struct State: Codable, Sendable {
        var appVersion: String
        var startedAt: String
        var done: [String]
        var manifest: PackageManifest
        /// The parallel MySQL export's plan and snapshot, once made.
        var mysqlParts: PartsExport.Saved?
    }

    public let config: ExportConfig
    public let secrets: Secrets
    public let progress: ExportProgress
    /// `--watch`: the change journal's watcher of each folder, by name (``FolderJournals``).
    public var watchers: [String: JournalWatcher] = [:]
    /// The size MySQL tables are cut at (tests; default from the data and the parallelism).
    var partChunkBytes: Int64?
    /// The state file: a finished part is recorded off the parts' path (``CoalescedFile``).
    let stateFile: CoalescedFile<State>

    public init(config: ExportConfig, secrets: Secrets, progress: ExportProgress = ExportProgress()) {
        self.config = config
        self.secrets = secrets
        self.progress = progress
        stateFile = CoalescedFile((config.output.hasSuffix("/") ? String(config.output.dropLast()) : config.output) + "/" + Self.stateFile)
    }

    var output: String { config.output.hasSuffix("/") ? String(config.output.dropLast()) : config.output }

    public func run() async throws -> Summary {
        // Every package file readable by the step image's user (uid 65532), whatever umask the shell had.
        umask(0o022)
        let started = Date()
        let problems = config.problems()
        guard problems.isEmpty else { throw StepError.configuration(problems.joined(separator: "; ")) }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)

        if FileManager.default.fileExists(atPath: output + "/" + PackageFiles.manifest) && !FileManager.default.fileExists(atPath: output + "/" + Self.stateFile) {
            throw StepError.configuration("\(output) already holds a finished package; check it with ferry export --verify \(output), or export to another folder")
        }
        let saved = try loadState()
        do {
            return try await export(from: saved, started: started)
        } catch {
            // The parts finished before the failure stay recorded for the rerun.
            try? stateFile.flush()
            throw error
        }
    }

    private func export(from saved: State, started: Date) async throws -> Summary {
        let resumed = saved.done.count
        if resumed > 0 { progress.say("continuing the export in \(output): \(resumed) parts already done (\(saved.done.joined(separator: ", ")))") }

        // Plan.
        let mysql = try config.mysql.map { try MySQLClient(MySQLEndpoint(host: $0.host, port: $0.port ?? 3306, user: $0.user ?? "root", password: secrets.mysqlPassword ?? "")) }
        var databases: [String] = config.mysql?.databases ?? []
        if let mysql, config.mysql?.databases == nil { databases = try await ProcessSpawn.onThread { try mysql.userDatabases() } }
        let clickhouse = try config.clickhouse.map { try ClickHouseClient(ClickHouseEndpoint(url: $0.url, user: $0.user ?? "default", password: secrets.clickhousePassword ?? "")) }
        var tables: [String] = []
        if let clickhouse, let list = config.clickhouse?.tables {
            for t in list {
                if t.hasSuffix(".*") {
                    let db = String(t.dropLast(2))
                    let names = try await clickhouse.query("SHOW TABLES FROM \(db) FORMAT TabSeparated").split(separator: "\n").map { "\(db).\($0)" }
                    tables += names.sorted()
                } else {
                    tables.append(t)
                }
            }
        }
        let folders = config.files ?? []
        let pendingDatabases = databases.filter { !saved.done.contains("mysql/\($0)") }
        let pendingTables = tables.filter { !saved.done.contains("clickhouse/\($0)") }
        let pendingFolders = folders.filter { !saved.done.contains("files/\($0.name)") }

        // Free space: at least minFreePercent free, and room for what is still to write.
        var estimate: Int64 = 0
        // The parallel export sizes its tables when it plans them, and checks the space then.
        if let mysql, config.mysql?.format == "sql" { estimate += try await ProcessSpawn.onThread { try mysql.dataBytes(pendingDatabases) } }
        if let clickhouse {
            for t in pendingTables {
                let (db, name) = try ClickHouseRestore.split(t)
                let text = (try? await clickhouse.query("SELECT sum(data_uncompressed_bytes) FROM system.parts WHERE active AND database = '\(db)' AND table = '\(name)' FORMAT TabSeparated")) ?? "0"
                estimate += Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
        }
        for f in pendingFolders where f.manifestOnly != true {
            let control = MoverControl()
            try FolderExport.requireFolder(f)
            FileMover.countTotals([RawPath(f.path)], control: control)
            let p = control.progress()
            estimate += max(0, p.bytesTotal - Self.bytesAlreadyIn(output + "/" + f.name))
        }
        try Self.checkSpace(output, needed: estimate, minFreePercent: config.minFreePercent ?? 20)

        // The parts, each written once (the state file records it), in this order.
        let state = Locked(saved)
        if let mysql, config.mysql?.format == "sql" {
            let parts = config.mysql?.gtid == true ? [mysql.consistentExportPart(databases: databases, packageRoot: output)]
                : databases.map { mysql.exportPart(database: $0, packageRoot: output) }
            try await export("mysql", unit: "databases", parts,
                             width: max(1, config.mysql?.parallelism ?? 2), state: state)
        } else if let mysql, !databases.isEmpty {
            try await exportParts(mysql, databases: databases, state: state, estimateBesideMySQL: estimate)
        }
        var rewritten = 0
        if let clickhouse {
            rewritten = try await exportClickHouse(clickhouse, tables: tables, state: state)
        }
        if let k = config.kafka {
            try await export("kafka", unit: "offsets file", [KafkaExport.part(bootstrap: k.bootstrap, security: secrets.kafka, groups: k.groups, packageRoot: output)], state: state)
        }
        try await export("files", unit: "folders", folders.map { FolderExport.part($0, packageRoot: output, watcher: watchers[$0.name]) }, state: state)
        if let c = config.config {
            try await export("config", unit: "sealed bundle", [ConfigSeal.part(files: c.files, keyBase64: secrets.configKey ?? "", keySource: c.keyFile ?? "FERRY_CONFIG_KEY", packageRoot: output)],
                             state: state)
        }
        let done = state.withLock { $0 }
        try stateFile.flush()
        let kafkaGroups = config.kafka == nil ? 0 : KafkaExport.groupCount(packageRoot: output)
        let configFiles = done.manifest.config?.files.count ?? 0

        // Metadata and manifest last: now the package is whole.
        let metadata = PackageMetadata(appVersion: config.appVersion, createdAt: done.startedAt, sourceHost: config.sourceHost ?? ProcessInfo.processInfo.hostName,
                                       contents: .init(mysql: databases, clickhouse: tables, kafka: config.kafka != nil, redis: false,
                                                       files: folders.filter { $0.manifestOnly != true }.map(\.name)))
        try ManifestBuilder.writeJSON(metadata, to: output + "/" + PackageFiles.metadata)
        try ManifestBuilder.writeJSON(done.manifest, to: output + "/" + PackageFiles.manifest + ".tmp")
        guard rename(output + "/" + PackageFiles.manifest + ".tmp", output + "/" + PackageFiles.manifest) == 0 else {
            throw StepError.io("cannot write \(output)/\(PackageFiles.manifest): \(String(cString: strerror(errno)))")
        }
        unlink(output + "/" + Self.stateFile)
        let bytes = Self.bytesAlreadyIn(output)
        return Summary(output: output, parts: done.done.count, resumed: resumed - rewritten, bytes: bytes, seconds: Date().timeIntervalSince(started),
                       mysql: databases, clickhouse: tables, files: folders.map(\.name), kafkaGroups: kafkaGroups, configFiles: configFiles)
    }

    // MARK: - parts

    /// Writes the parts not done before, `width` at a time; each one finished is recorded in the
    /// state file at once. The first failure stops new starts and is thrown.
    func export(_ phase: String, unit: String, _ parts: [ExportPart], width: Int = 1, state: Locked<State>) async throws {
        guard !parts.isEmpty else { return }
        progress.begin(phase, total: parts.count, unit: unit)
        let done = state.withLock { Set($0.done) }
        for p in parts where done.contains(p.id) { progress.step("\(p.label) (done before)") }
        var pending = parts.filter { !done.contains($0.id) }.makeIterator()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<width {
                guard let p = pending.next() else { break }
                group.addTask { try await self.finish(p, state: state) }
            }
            while try await group.next() != nil {
                if let p = pending.next() { group.addTask { try await self.finish(p, state: state) } }
            }
        }
        progress.end()
    }

    /// The ClickHouse tables, `clickhouse.parallelism` parts at a time: a table in one stream, or a
    /// big partitioned one split into its partitions (``ClickHouseSplit``), then totalled and checked.
    /// Returns how many parts an earlier run wrote that were written again (they changed since).
    func exportClickHouse(_ client: ClickHouseClient, tables: [String], state: Locked<State>) async throws -> Int {
        var rewritten = 0
        let splitAbove = config.clickhouse?.splitAboveBytes ?? ClickHouseSplit.defaultSplitAbove
        var splits: [ClickHouseSplit] = []
        var parts: [ExportPart] = []
        for table in tables {
            // A table an earlier run wrote in one stream stays so.
            let whole = state.withLock { $0.done.contains("clickhouse/\(table)") }
            var split: ClickHouseSplit? = nil
            if !whole {
                let (planned, note) = try await ClickHouseSplit.read(table, client: client, splitAbove: splitAbove)
                if let note { progress.say(note) }
                split = planned
            }
            // What an earlier run wrote the other way, or wrote of a partition that changed since, goes.
            let forgotten: Result<Int, Error> = state.withLock { s in
                let before = s.done.count
                for file in s.forgetClickHouse(table, split: split) { unlink(output + "/" + file) }
                do { try stateFile.sync(s); return .success(before - s.done.count) } catch { return .failure(error) }
            }
            rewritten += try forgotten.get()
            if let split { splits.append(split) }
            parts += ClickHouseExport.parts(table, split: split, client: client, packageRoot: output)
        }
        try await export("clickhouse", unit: splits.isEmpty ? "tables" : "parts", parts, width: max(1, config.clickhouse?.parallelism ?? 2), state: state)
        for split in splits {
            let (database, name) = try ClickHouseRestore.split(split.table)
            let now = try await ClickHousePartitions.read(client, database: database, table: name)
            let failed: Error? = state.withLock { s in
                do { try split.finish(now: now, manifest: &s.manifest); try stateFile.sync(s); return nil } catch { return error }
            }
            if let failed { throw failed }
        }
        return rewritten
    }

    /// The parallel MySQL export (``PartsExport``): plan or take up the interrupted run's plan,
    /// write the parts on `mysql.parallelism` connections, then check and total them.
    func exportParts(_ client: MySQLClient, databases: [String], state: Locked<State>, estimateBesideMySQL: Int64? = nil) async throws {
        let width = max(1, config.mysql?.parallelism ?? 2)
        let (saved, done) = state.withLock { ($0.mysqlParts, Set($0.done)) }
        // Data parts and schema parts alike: a schema written later than its snapshot is checked against it.
        let pending = saved.map { s in s.plan.parts.contains { !done.contains($0.id) } || databases.contains { !done.contains("mysql/\($0)/schema.sql") } } ?? true
        let progress = self.progress
        let output = self.output
        let partChunkBytes = self.partChunkBytes
        let gtid = config.mysql?.gtid == true
        let zstd = config.mysql?.compression == "zstd"
        let (parts, restart) = try await ProcessSpawn.onThread {
            try PartsExport.prepare(endpoint: client.endpoint, client: client, databases: databases, packageRoot: output, parallelism: width,
                                    previous: saved, pending: pending, chunkBytes: partChunkBytes, zstd: zstd, gtid: config.mysql?.gtid == true, say: { progress.say($0) })
        }
        do {
            let done = state.withLock { Set($0.done) }
            let pendingBytes = parts.saved.plan.parts.filter { !done.contains($0.id) }.reduce(Int64(0)) { $0 + $1.estimatedBytes }
            try Self.checkSpace(output, needed: pendingBytes + (estimateBesideMySQL ?? 0), minFreePercent: config.minFreePercent ?? 20)
        } catch {
            parts.pool?.close()
            throw error
        }
        if config.mysql?.gtid == true && (parts.saved.position.gtid ?? "").isEmpty {
            parts.pool?.close()
            throw StepError.configuration("mysql.gtid: the server reports no GTID position: is the binary log on (log_bin) on the source? Replication needs it")
        }
        if restart { try? FileManager.default.removeItem(atPath: output + "/mysql") }
        let failed: Error? = state.withLock { s in
            if restart {
                s.done.removeAll { $0.hasPrefix("mysql/") }
                s.manifest.mysql = [:]
                for (path, _) in s.manifest.sha256 where path.hasPrefix("mysql/") { s.manifest.sha256[path] = nil }
            }
            s.mysqlParts = parts.saved
            do { try stateFile.sync(s); return nil } catch { return error }
        }
        if let failed { parts.pool?.close(); throw failed }
        let planned = Set(parts.saved.plan.parts.map(\.id))
        stateFile.onWritten { [savedParts = parts.savedParts] s in savedParts.withLock { $0 = s.done.filter(planned.contains).count } }
        defer { stateFile.onWritten(nil) }
        let stop = Locked(false)
        parts.ticker(say: { progress.say($0) }, stop: stop)
        do {
            // The data parts wait for a connection of the snapshot; the schema dumps run beside them.
            try await export("mysql", unit: "parts", parts.exportParts(), width: width + databases.count, state: state)
        } catch {
            stop.withLock { $0 = true }
            parts.pool?.close()
            throw error
        }
        stop.withLock { $0 = true }
        let finished: Error? = try await ProcessSpawn.onThread {
            state.withLock { s in
                do { try parts.finish(&s.manifest, gtid: gtid); try stateFile.sync(s); return nil } catch { return error }
            }
        }
        if let finished { throw finished }
    }

    func finish(_ part: ExportPart, state: Locked<State>) async throws {
        let written = try await part.write()
        let saved: Error? = state.withLock { s in
            written.record(&s.manifest)
            s.done.append(part.id)
            do { try stateFile.save(s); return nil } catch { return error }
        }
        if let saved { throw saved }
        progress.step(written.note)
    }

    // MARK: - state

    func loadState() throws -> State {
        let path = output + "/" + Self.stateFile
        if let data = FileManager.default.contents(atPath: path) {
            guard let s = try? JSONDecoder().decode(State.self, from: data) else {
                throw StepError.configuration("\(path) is not an export state file; delete it to start the export over")
            }
            guard s.appVersion == config.appVersion else {
                throw StepError.configuration("\(output) holds a partial export of appVersion \(s.appVersion), not \(config.appVersion); export to another folder or delete it")
            }
            return s
        }
        let s = State(appVersion: config.appVersion, startedAt: Timestamps.format(Date()), done: [], manifest: PackageManifest())
        try stateFile.sync(s)
        return s
    }

    // MARK: - helpers

    /// Refuses when the filesystem of `path` has less than `minFreePercent` free or less than `needed` bytes free.
    static func checkSpace(_ path: String, needed: Int64, minFreePercent: Int) throws {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { throw StepError.io("cannot read free space of \(path): \(String(cString: strerror(errno)))") }
        let total = Int64(s.f_blocks) * Int64(s.f_frsize)
        let free = Int64(s.f_bavail) * Int64(s.f_frsize)
        if let problem = spaceProblem(total: total, free: free, needed: needed, minFreePercent: minFreePercent, path: path) {
            throw StepError.configuration(problem)
        }
    }

    /// The decision, pure: nil when there is room.
    static func spaceProblem(total: Int64, free: Int64, needed: Int64, minFreePercent: Int, path: String) -> String? {
        guard total > 0 else { return nil }
        let percent = Double(free) * 100 / Double(total)
        if free < needed {
            return "the output folder \(path) has \(ManifestBuilder.human(free)) free but the package needs about \(ManifestBuilder.human(needed)): free \(ManifestBuilder.human(needed - free)) more or choose another output; nothing was written"
        }
        if percent < Double(minFreePercent) {
            let want = Int64(Double(total) * Double(minFreePercent) / 100) - free
            return "the output folder \(path) has only \(String(format: "%.1f", percent))% free (\(ManifestBuilder.human(free))); at least \(minFreePercent)% is required: free \(ManifestBuilder.human(want)) more or choose another output; nothing was written"
        }
        return nil
    }

    /// Bytes of regular files below `path` (what an earlier run already wrote).
    static func bytesAlreadyIn(_ path: String) -> Int64 {
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let rel = e.nextObject() as? String {
            if let attrs = e.fileAttributes, attrs[.type] as? FileAttributeType == .typeRegular { total += Int64((attrs[.size] as? NSNumber)?.int64Value ?? 0) }
            _ = rel
        }
        return total
    }
}

extension PackageExporter.State {
    /// Forgets what an earlier run wrote of `table` that this run writes again: the partitions
    /// `split` finds stale, or, when the table now goes in one stream, every part of an earlier
    /// split. Returns the package files to delete (with a split, also an earlier run's unfinished
    /// stream of the whole table). Pure.
    mutating func forgetClickHouse(_ table: String, split: ClickHouseSplit?) -> [String] {
        let folder = "clickhouse/\(table)"
        let recorded = manifest.clickhouse[table]?.parts ?? []
        let stale = split.map { Set($0.stale(recorded)) } ?? Set(recorded.map(\.partition))
        let files = recorded.filter { stale.contains($0.partition) }.map(\.file)
        done.removeAll { files.contains($0) }
        for f in files { manifest.sha256[f] = nil }
        manifest.clickhouse[table]?.parts?.removeAll { stale.contains($0.partition) }
        if split == nil, manifest.clickhouse[table]?.parts != nil {
            manifest.clickhouse[table] = nil
            done.removeAll { $0.hasPrefix(folder + "/") }
            return files
        }
        return split == nil ? files : files + [folder + ".tsv"]
    }
}
