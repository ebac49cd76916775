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
/// Order: plan (what exists, how big) → free-space check → MySQL dumps (in
/// parallel across databases) → ClickHouse tables → Kafka offsets → file
/// folders (the mover: skip-existing, resumable) → sealed config → metadata
/// and manifest. Each finished part is recorded in `.ferry-export-state.json`
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
    struct State: Codable {
        var appVersion: String
        var startedAt: String
        var done: [String]
        var manifest: PackageManifest
    }

    public let config: ExportConfig
    public let secrets: Secrets
    public let progress: ExportProgress

    public init(config: ExportConfig, secrets: Secrets, progress: ExportProgress = ExportProgress()) {
        self.config = config
        self.secrets = secrets
        self.progress = progress
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
        var state = try loadState()
        let resumed = state.done.count
        if resumed > 0 { progress.say("continuing the export in \(output): \(resumed) parts already done (\(state.done.joined(separator: ", ")))") }

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
        let pendingDatabases = databases.filter { !state.done.contains("mysql/\($0)") }
        let pendingTables = tables.filter { !state.done.contains("clickhouse/\($0)") }
        let pendingFolders = folders.filter { !state.done.contains("files/\($0.name)") }

        // Free space: at least minFreePercent free, and room for what is still to write.
        var estimate: Int64 = 0
        if let mysql { estimate += try await ProcessSpawn.onThread { try mysql.dataBytes(pendingDatabases) } }
        if let clickhouse {
            for t in pendingTables {
                let (db, name) = try ClickHouseRestore.split(t)
                let text = (try? await clickhouse.query("SELECT sum(data_uncompressed_bytes) FROM system.parts WHERE active AND database = '\(db)' AND table = '\(name)' FORMAT TabSeparated")) ?? "0"
                estimate += Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
        }
        for f in pendingFolders where f.manifestOnly != true {
            let control = MoverControl()
            try Self.requireFolder(f)
            FileMover.countTotals([RawPath(f.path)], control: control)
            let p = control.progress()
            estimate += max(0, p.bytesTotal - Self.bytesAlreadyIn(output + "/" + f.name))
        }
        try Self.checkSpace(output, needed: estimate, minFreePercent: config.minFreePercent ?? 20)

        // MySQL.
        if let mysql, !databases.isEmpty {
            progress.begin("mysql", total: databases.count, unit: "databases")
            for db in databases where state.done.contains("mysql/\(db)") { progress.step("\(db) (done before)") }
            try FileManager.default.createDirectory(atPath: output + "/mysql", withIntermediateDirectories: true)
            let stateBox = Locked(state)
            let parallelism = max(1, config.mysql?.parallelism ?? 2)
            try await Self.parallel(pendingDatabases, width: parallelism) { db in
                let rel = "mysql/\(db).sql"
                try mysql.dump(database: db, to: output + "/" + rel)
                let entry = try ManifestBuilder.mysqlEntry(dumpPath: output + "/" + rel, relativePath: rel)
                let sum = try ManifestBuilder.sha256(of: output + "/" + rel)
                let size = Self.fileSize(output + "/" + rel)
                let saved: Error? = stateBox.withLock { s in
                    s.manifest.mysql[db] = entry
                    s.manifest.sha256[rel] = sum
                    s.done.append("mysql/\(db)")
                    do { try saveState(s); return nil } catch { return error }
                }
                if let saved { throw saved }
                progress.step("\(db) \(Self.human(size)), \(entry.tables.count) tables")
            }
            state = stateBox.withLock { $0 }
            progress.end()
        }

        // ClickHouse.
        if let clickhouse, !tables.isEmpty {
            progress.begin("clickhouse", total: tables.count, unit: "tables")
            for t in tables {
                if state.done.contains("clickhouse/\(t)") { progress.step("\(t) (done before)"); continue }
                let (entry, sum) = try await ClickHouseExport.exportTable(t, client: clickhouse, packageRoot: output)
                state.manifest.clickhouse[t] = entry
                state.manifest.sha256[entry.data] = sum
                state.manifest.sha256[entry.schema] = try ManifestBuilder.sha256(of: output + "/" + entry.schema)
                state.done.append("clickhouse/\(t)")
                try saveState(state)
                progress.step("\(t) \(entry.rows) rows\(entry.partitions.map { ", \($0.count) partitions" } ?? "")")
            }
            progress.end()
        }

        // Kafka.
        var kafkaGroups = 0
        if let k = config.kafka {
            progress.begin("kafka", total: 1, unit: "offsets file")
            let rel = "kafka/offsets.json"
            if !state.done.contains("kafka") {
                let client = try KafkaClient(bootstrap: k.bootstrap, security: secrets.kafka)
                let file: KafkaOffsetsFile
                do {
                    file = try await KafkaExport.run(client, groups: k.groups)
                    await client.close()
                } catch {
                    await client.close()
                    throw error
                }
                try FileManager.default.createDirectory(atPath: output + "/kafka", withIntermediateDirectories: true)
                try ManifestBuilder.writeJSON(file, to: output + "/" + rel)
                state.manifest.kafkaOffsets = rel
                state.manifest.sha256[rel] = try ManifestBuilder.sha256(of: output + "/" + rel)
                state.done.append("kafka")
                try saveState(state)
            }
            if let data = FileManager.default.contents(atPath: output + "/" + rel), let file = try? JSONDecoder().decode(KafkaOffsetsFile.self, from: data) {
                kafkaGroups = file.groups.count
            }
            progress.step("\(kafkaGroups) groups")
            progress.end()
        }

        // Files.
        if !folders.isEmpty {
            progress.begin("files", total: folders.count, unit: "folders")
            for f in folders {
                if state.done.contains("files/\(f.name)") { progress.step("\(f.name) (done before)"); continue }
                try Self.requireFolder(f)
                let entry: PackageManifest.FileFolder
                if f.manifestOnly == true {
                    let rel = "files-manifest/\(f.name).tsv"
                    try FileManager.default.createDirectory(atPath: output + "/files-manifest", withIntermediateDirectories: true)
                    let (files, bytes) = try Self.writeListing(of: f.path, to: output + "/" + rel)
                    entry = .init(files: files, bytes: bytes, listing: rel)
                    state.manifest.sha256[rel] = try ManifestBuilder.sha256(of: output + "/" + rel)
                } else {
                    let control = MoverControl()
                    let mover = FileMover(options: .init(source: f.path, target: output + "/" + f.name), control: control, say: { _ in })
                    let result = try await ProcessSpawn.onThread { try mover.run() }
                    guard result.errors.isEmpty, result.verify.differing == 0 else {
                        throw StepError.io("files \(f.name): \(result.errors.count) files could not be copied, \(result.verify.differing) differ after the copy (\(result.errors.prefix(3).joined(separator: "; "))); fix them and run the export again: only what is missing is copied")
                    }
                    entry = .init(files: Int(result.filesTotal), bytes: result.bytesTotal)
                }
                state.manifest.files[f.name] = entry
                state.done.append("files/\(f.name)")
                try saveState(state)
                progress.step("\(f.name) \(entry.files) files, \(Self.human(entry.bytes))\(f.manifestOnly == true ? " (listing only)" : "")")
            }
            progress.end()
        }

        // Config.
        var configFiles = 0
        if let c = config.config {
            progress.begin("config", total: 1, unit: "sealed bundle")
            let rel = "config/config.sealed"
            if !state.done.contains("config") {
                let key = try ConfigSeal.key(fromBase64: secrets.configKey ?? "", source: c.keyFile ?? "FERRY_CONFIG_KEY")
                var contents: [String: Data] = [:]
                for path in c.files {
                    guard let data = FileManager.default.contents(atPath: path) else { throw StepError.configuration("config.files: \(path) is not readable") }
                    contents[(path as NSString).lastPathComponent] = data
                }
                try FileManager.default.createDirectory(atPath: output + "/config", withIntermediateDirectories: true)
                try ConfigSeal.seal(contents, key: key).write(to: URL(fileURLWithPath: output + "/" + rel), options: .atomic)
                state.manifest.config = .init(sealed: rel, files: contents.keys.sorted())
                state.manifest.sha256[rel] = try ManifestBuilder.sha256(of: output + "/" + rel)
                state.done.append("config")
                try saveState(state)
            }
            configFiles = state.manifest.config?.files.count ?? 0
            progress.step("\(configFiles) files")
            progress.end()
        }

        // Metadata and manifest last: now the package is whole.
        let metadata = PackageMetadata(appVersion: config.appVersion, createdAt: state.startedAt, sourceHost: config.sourceHost ?? ProcessInfo.processInfo.hostName,
                                       contents: .init(mysql: databases, clickhouse: tables, kafka: config.kafka != nil, redis: false,
                                                       files: folders.filter { $0.manifestOnly != true }.map(\.name)))
        try ManifestBuilder.writeJSON(metadata, to: output + "/" + PackageFiles.metadata)
        try ManifestBuilder.writeJSON(state.manifest, to: output + "/" + PackageFiles.manifest + ".tmp")
        guard rename(output + "/" + PackageFiles.manifest + ".tmp", output + "/" + PackageFiles.manifest) == 0 else {
            throw StepError.io("cannot write \(output)/\(PackageFiles.manifest): \(String(cString: strerror(errno)))")
        }
        unlink(output + "/" + Self.stateFile)
        let bytes = Self.bytesAlreadyIn(output)
        return Summary(output: output, parts: state.done.count, resumed: resumed, bytes: bytes, seconds: Date().timeIntervalSince(started),
                       mysql: databases, clickhouse: tables, files: folders.map(\.name), kafkaGroups: kafkaGroups, configFiles: configFiles)
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
        try saveState(s)
        return s
    }

    func saveState(_ s: State) throws {
        let path = output + "/" + Self.stateFile
        try ManifestBuilder.writeJSON(s, to: path + ".tmp")
        guard rename(path + ".tmp", path) == 0 else { throw StepError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    // MARK: - helpers

    static func requireFolder(_ f: ExportConfig.Folder) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: f.path, isDirectory: &isDir), isDir.boolValue else {
            throw StepError.configuration("files \(f.name): \(f.path) is not a folder")
        }
    }

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
            return "the output folder \(path) has \(human(free)) free but the package needs about \(human(needed)): free \(human(needed - free)) more or choose another output; nothing was written"
        }
        if percent < Double(minFreePercent) {
            let want = Int64(Double(total) * Double(minFreePercent) / 100) - free
            return "the output folder \(path) has only \(String(format: "%.1f", percent))% free (\(human(free))); at least \(minFreePercent)% is required: free \(human(want)) more or choose another output; nothing was written"
        }
        return nil
    }

    static func human(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
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

    /// Runs blocking `body` over `items`, `width` at a time on their own threads; the first error stops new starts and is thrown.
    static func parallel<T: Sendable>(_ items: [T], width: Int, _ body: @escaping @Sendable (T) throws -> Void) async throws {
        let queue = Locked(items[...])
        let failure = Locked<Error?>(nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(width, max(items.count, 1)) {
                group.addTask {
                    try await ProcessSpawn.onThread {
                        while failure.withLock({ $0 == nil }), let item = queue.withLock({ $0.popFirst() }) {
                            do { try body(item) } catch { failure.withLock { if $0 == nil { $0 = error } } }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        if let e = failure.withLock({ $0 }) { throw e }
    }
}
