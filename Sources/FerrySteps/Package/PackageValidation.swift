import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
import KubeClient
#endif

/// The `validate` step: everything that can be checked before the
/// application is stopped. The package opens and its metadata parses, the
/// version matches, every dump asked for is there and ends with mysqldump's
/// completion line, every file folder is readable, each target endpoint
/// accepts a TCP connection, and each target volume has enough free space.
public struct PackageValidation: Sendable {


    public struct Options: Sendable {
        public var packagePath: String
        public var appVersion: String
        public var allowVersionMismatch: Bool
        /// Databases the spec names (nil: all in the package).
        public var mysqlDatabases: [String]?
        public var clickhouseTables: [String]?
        /// Package folders the spec copies (`spec.files[].from`).
        public var fileFolders: [String]
        public var endpoints: [ValidateArguments.Endpoint]
        public var volumes: [ValidateArguments.Volume]
        public var minFreePercent: Double
        /// What the spec asks to restore (`mysql`, `clickhouse`, `kafka`, `config`): a package
        /// without it is refused, naming what is missing.
        public var required: Set<String>
        /// `spec.mysql.external`: checked where it is; the package's dumps are not restored.
        public var external: ValidateArguments.External?
        /// Folders whose `.tar.gz` archives are unpacked before the copy: each read through, refusals first.
        public var unpack: [String]

        public init(packagePath: String, appVersion: String, allowVersionMismatch: Bool = false, mysqlDatabases: [String]? = nil, clickhouseTables: [String]? = nil, fileFolders: [String] = [], endpoints: [ValidateArguments.Endpoint] = [], volumes: [ValidateArguments.Volume] = [], minFreePercent: Double = 20, required: Set<String> = [], checksums: Bool = true, external: ValidateArguments.External? = nil, unpack: [String] = []) {
            self.unpack = unpack
            self.external = external
            self.required = required
            self.packagePath = packagePath
            self.appVersion = appVersion
            self.allowVersionMismatch = allowVersionMismatch
            self.mysqlDatabases = mysqlDatabases
            self.clickhouseTables = clickhouseTables
            self.fileFolders = fileFolders
            self.endpoints = endpoints
            self.volumes = volumes
            self.minFreePercent = minFreePercent
            self.checksums = checksums
        }
        /// Read every file the manifest lists against its sha256 (validate does; a plan from a laptop need not).
        public var checksums: Bool
    }


    public let options: Options

    public init(_ options: Options) {
        self.options = options
    }

    public func run() throws -> ValidateResult {
        let started = Date()
        let pkg = try BackupPackage.open(options.packagePath)
        let version = pkg.metadata.appVersion
        if version != options.appVersion && !options.allowVersionMismatch {
            throw StepError.configuration("the package was exported from version \(version) but spec.appVersion is \(options.appVersion); restore a package of \(options.appVersion), or set spec.allowVersionMismatch: true to restore it anyway. Nothing was changed and the workloads were not stopped")
        }
        try Self.checkNothingMissing(pkg, required: options.required)
        let databases = options.external != nil ? [] : options.mysqlDatabases ?? pkg.metadata.contents.mysql
        var notes = pkg.notes
        var external: ExternalMySQLCheck?
        if let x = options.external {
            let named = pkg.metadata.externalMySQL
            notes += ExternalDatabase.notes(x, package: named, dumps: pkg.metadata.contents.mysql)
            external = try ExternalDatabase.check(x, package: named, expected: ExternalDatabase.expected(spec: options.mysqlDatabases, package: named, dumps: pkg.metadata.contents.mysql))
        }
        for db in databases {
            let source = try pkg.mysql(db)
            try Self.checkCompletionLine(source.dumpPath)
            notes += try Self.checkConfined(source.dumpPath, database: db)
            if var parts = source.parts {
                // Every part read now (rows and sha256), so a damaged one stops the migration before the app does.
                let problems = PartsCheck.problems(&parts, tables: source.expectedTables ?? [:], width: 2)
                if !problems.isEmpty {
                    throw StepError.badPackage("the data parts of MySQL database \(db) do not match manifest.json: " + problems.joined(separator: "; ") + "; export it again")
                }
            }
        }
        var tables = options.clickhouseTables ?? pkg.metadata.contents.clickhouse
        if pkg.layout == .legacy {
            // The old tool's dumps: only those whose rows ClickHouse (and Ferry) can read are restored.
            var readable: [String] = []
            for table in tables {
                let path = try pkg.legacyClickHouse(table)
                try BackupPackage.refuseSpecialFile(path)
                if let format = try LegacyClickHouseDump.format(path) {
                    // Read through now, so a dump cut short or damaged stops the migration before the app does.
                    let rows = try LegacyClickHouseDump.countRows(path, format: format)
                    readable.append(table)
                    notes.append("ClickHouse table \(table): the old tool's \(format.rawValue) dump of \(rows) rows is restored into the existing table (the application's schema)")
                } else if options.clickhouseTables != nil {
                    throw StepError.badPackage("\(BackupPackage.legacyClickHouseFolder)/\(table).zst (spec.clickhouse.tables) is not a dump ClickHouse reads: \(try LegacyClickHouseDump.whyUnreadable(path)). Leave the table out of spec.clickhouse.tables, or export it again")
                } else {
                    notes.append("ClickHouse table \(table) is in the package but not restored: \(try LegacyClickHouseDump.whyUnreadable(path))")
                }
            }
            tables = readable
        }
        // Validate lists what it will not restore, and why.
        for db in pkg.metadata.contents.mysql where !databases.contains(db) && options.external == nil {
            notes.append("MySQL database \(db) is in the package but not restored: spec.mysql.databases does not name it")
        }
        for table in pkg.metadata.contents.clickhouse where !tables.contains(table) {
            notes.append("ClickHouse table \(table) is in the package but not restored: spec.clickhouse.tables does not name it")
        }
        for table in tables where pkg.layout != .legacy {
            let source = try pkg.clickhouse(table)
            for path in [source.schemaPath, source.dataPath] + (source.parts?.map(\.path) ?? []) where access(path, R_OK) != 0 {
                throw StepError.badPackage(MappedFile.unreadable(path, errno: errno))
            }
        }
        // Every file the manifest lists must be as exported: a corrupt dump is caught here, before the app stops.
        if options.checksums, let first = PackageVerifier.checksumProblems(pkg).first {
            throw StepError.badPackage(first.message)
        }
        for folder in options.fileFolders {
            let path = try pkg.resolve(folder)
            var isDir: ObjCBool = false
            if let at = pkg.manifest?.files[folder]?.published, !FileManager.default.fileExists(atPath: path) {
                throw StepError.badPackage("the export published \(folder) to a bucket, not into the package: copy it from there with spec.files[].from: {s3: {endpoint: \(at.endpoint), bucket: \(at.bucket), prefix: \(at.prefix), credentialsSecret: …}}")
            }
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                throw StepError.badPackage("the package has no folder \(folder) (spec.files[].from); it has: \(((try? FileManager.default.contentsOfDirectory(atPath: pkg.root)) ?? []).sorted().joined(separator: ", "))")
            }
            guard access(path, R_OK | X_OK) == 0 else {
                throw StepError.badPackage("the folder \(path) cannot be read (\(String(cString: strerror(errno)))); fix its permissions")
            }
            if options.unpack.contains(folder) {
                let checked = try ArchiveStaging.check(path)
                let archives = checked.archives
                notes.append(archives.isEmpty ? "\(folder): spec.files[].unpack is set but the folder holds no .tar.gz archive; its files are copied as they are"
                                              : "\(folder): \(archives.count) archives checked, each unpacked into its own folder before the copy (\(archives.prefix(5).joined(separator: ", "))\(archives.count > 5 ? ", …" : "")); "
                                                + "\(checked.bytes) bytes in all are staged on the transfer pod's node disk first")
            }
        }
        var reached: [String] = []
        for e in options.endpoints {
            try Self.checkReachable(e)
            reached.append("\(e.name) \(e.host):\(e.port)")
        }
        var spaces: [VolumeSpace] = []
        for v in options.volumes {
            let space = try Self.freeSpace(v)
            guard space.freePercent >= options.minFreePercent else {
                throw StepError.target("volume \(v.name) (\(v.path)) has \(String(format: "%.1f", space.freePercent))% free; at least \(Int(options.minFreePercent))% is needed — make room or use a bigger volume")
            }
            spaces.append(space)
        }
        return ValidateResult(
            packageVersion: version, appVersion: options.appVersion, layout: pkg.layout.rawValue, sourceHost: pkg.metadata.sourceHost,
            package: .init(mysql: databases, clickhouse: tables, kafka: pkg.metadata.contents.kafka, files: pkg.metadata.contents.files,
                           sizes: Self.sizes(pkg, databases: databases, tables: tables, folders: options.fileFolders)),
            notes: notes, endpoints: reached, volumes: spaces,
            parts: pkg.layout == .legacy ? PackageParts.list(pkg.root, restoring: .init(databases: databases, tables: tables, folders: options.fileFolders,
                                                                                          mysqlSet: options.required.contains("mysql"), kafkaSet: options.required.contains("kafka"),
                                                                                          mysqlExternal: options.external != nil,
                                                                                          configSet: options.required.contains("config") || options.required.contains("config-unsealed"),
                                                                                          clickhouseSet: options.required.contains("clickhouse"))) : nil,
            external: external, startedAt: Timestamps.formatMicro(started))
    }

    /// Bytes each step restores (the dumps' and data files' sizes, the folders' from the manifest),
    /// for the downtime estimate. What cannot be sized cheaply is left out.
    static func sizes(_ pkg: BackupPackage, databases: [String], tables: [String], folders: [String]) -> [String: Int64] {
        func size(_ path: String) -> Int64? { (try? FileManager.default.attributesOfItem(atPath: path))?[.size].flatMap { ($0 as? NSNumber)?.int64Value } }
        var out: [String: Int64] = [:]
        for db in databases {
            out["mysql/\(db)"] = (try? pkg.mysql(db)).flatMap { s in size(s.dumpPath).map { $0 + (s.parts ?? []).reduce(0) { $0 + (size($1.path) ?? 0) } } }
        }
        for t in tables { out["clickhouse/\(t)"] = pkg.layout == .legacy ? (try? pkg.legacyClickHouse(t)).flatMap(size) : (try? pkg.clickhouse(t)).flatMap { s in s.parts.map { $0.reduce(0) { $0 + (size($1.path) ?? 0) } } ?? size(s.dataPath) } }
        for f in folders { out["files/\(f)"] = pkg.manifest?.files[f]?.bytes }
        return out
    }

    /// A spec section with nothing in the package to restore is a failure, not an empty success.
    static func checkNothingMissing(_ pkg: BackupPackage, required: Set<String>) throws {
        var missing: [String] = []
        let legacyNote = { (folder: String) -> String in
            pkg.layout == .legacy && FileManager.default.fileExists(atPath: pkg.root + "/" + folder) ? " (its \(folder)/ folder is in a format Ferry does not read)" : ""
        }
        if required.contains("mysql") && pkg.metadata.contents.mysql.isEmpty {
            missing.append("spec.mysql is set but the package holds no MySQL dump")
        }
        if required.contains("clickhouse") && pkg.metadata.contents.clickhouse.isEmpty {
            missing.append("spec.clickhouse is set but the package holds no ClickHouse table\(pkg.layout == .legacy ? " (the old tool's dumps are clickhouse-backup/<db>.<table>.zst)" : "")")
        }
        if required.contains("kafka") && pkg.manifest?.kafkaOffsets == nil {
            missing.append("spec.kafka is set but the package holds no Kafka offsets\(legacyNote("kafka-backup"))")
        }
        let unsealed = pkg.manifest?.config == nil ? LegacyConfig.present(pkg) : []
        if required.contains("config") && pkg.manifest?.config == nil && unsealed.isEmpty {
            missing.append("spec.config is set but the package holds no sealed config (nor the old tool's conf/latest_config.json or conf/options.json)")
        }
        if required.contains("config-unsealed") && pkg.manifest?.config != nil {
            throw StepError.configuration("the package's config is sealed (ferry export): set spec.config.keySecret to the Secret holding the export's key. Nothing was stopped or changed")
        }
        if required.contains("config-unsealed") && unsealed.isEmpty {
            missing.append("spec.config is set but the package holds neither the old tool's conf/latest_config.json or conf/options.json nor a sealed config")
        }
        // Decoded now, so a damaged file stops the migration before the app does.
        if required.contains("config") || required.contains("config-unsealed"), !unsealed.isEmpty { _ = try LegacyConfig.read(pkg) }
        guard missing.isEmpty else {
            throw StepError.badPackage(missing.joined(separator: "; ") + ". Remove the section from the spec, or export a package that holds it (ferry export). Nothing was stopped or changed")
        }
    }

    /// Every statement of a dump stays inside its database (see ``DumpStatementPolicy``):
    /// refused here, before the app is stopped, naming file, line and statement. Returns what
    /// the restore will leave out on purpose.
    static func checkConfined(_ path: String, database: String) throws -> [String] {
        let file = try MappedFile(path: path)
        return try withExtendedLifetime(file) {
            let plan = SQLDumpScanner.scan(file.bytes)
            let problems = SQLDumpScanner.confinementProblems(plan, database: database, bytes: file.bytes, path: path)
            guard problems.isEmpty else {
                throw StepError.badPackage("the dump of \(database) holds statements its restore may not run (nothing was stopped or changed): " + problems.joined(separator: "; "))
            }
            return plan.notes.map { "\(database): \($0)" }
        }
    }

    /// The last 4 KiB of a dump hold mysqldump's `-- Dump completed` line.
    static func checkCompletionLine(_ path: String) throws {
        try BackupPackage.refuseSpecialFile(path)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StepError.badPackage(MappedFile.unreadable(path, errno: errno))
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let tail = String(decoding: handle.readData(ofLength: 4096), as: UTF8.self)
        guard tail.contains("-- Dump completed") else {
            throw StepError.badPackage("\(path) does not end with mysqldump's \"-- Dump completed\" line: the dump is incomplete; export it again")
        }
    }

    /// One TCP connection, 5 s at most.
    static func checkReachable(_ e: ValidateArguments.Endpoint) throws {
        close(try TCPConnect.open(host: e.host, port: e.port, timeoutSeconds: 5, what: e.name))
    }

    static func freeSpace(_ v: ValidateArguments.Volume) throws -> VolumeSpace {
        var st = statvfs()
        guard statvfs(v.path, &st) == 0 else {
            throw StepError.target("volume \(v.name) is not mounted at \(v.path): \(String(cString: strerror(errno)))")
        }
        let total = Double(st.f_blocks) * Double(st.f_frsize)
        let free = Double(st.f_bavail) * Double(st.f_frsize)
        let percent = total > 0 ? (free / total * 1000).rounded() / 10 : 100
        return .init(name: v.name, freePercent: percent, freeBytes: Int64(free))
    }
}
