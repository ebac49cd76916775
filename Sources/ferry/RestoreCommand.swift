import ArgumentParser
import Foundation
import FerrySteps
import KubeClient
import AsyncHTTPClient

/// `ferry restore ...`: the data-plane steps, each run by the controller in a Job.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore one part of a backup package (run by the controller in a Job).",
        subcommands: [RestoreValidate.self, RestoreMySQL.self, RestoreClickHouse.self, RestoreKafka.self, RestoreConfig.self, RestoreCache.self])
}

/// Where the step's JSON result goes.
struct ResultOptions: ParsableArguments {
    @Option(help: "File for the JSON result (the container's termination message).")
    var resultFile: String = StepReport.defaultPath
}

/// Reads a credential from the environment or a mounted Secret folder.
struct RestoreMySQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql",
        abstract: "Drop, create, import (in parallel) and verify one MySQL database from the package.",
        discussion: "Credentials: FERRY_MYSQL_USERNAME / FERRY_MYSQL_PASSWORD, or files username/password in --credentials-dir (a mounted Secret). Never on the command line.")

    @Option(help: "The backup package's top folder.")
    var package: String
    @Option(help: "The database in the package.")
    var database: String
    @Option(help: "Database name on the target (default: the same).")
    var targetDatabase: String?
    @Option(help: "MySQL/MariaDB host.")
    var host: String = "127.0.0.1"
    @Option(help: "MySQL/MariaDB port.")
    var port: Int = 3306
    @Option(help: "Folder with the credentials Secret's keys as files.")
    var credentialsDir: String?
    @Option(help: "Connections used for the import.")
    var parallelism: Int = 2
    @Option(help: ArgumentHelp("Bytes of INSERT statements per connection run.", visibility: .hidden))
    var chunkBytes: Int = 16 << 20
    @Flag(help: ArgumentHelp("Send rows as the dump's INSERT statements, not LOAD DATA LOCAL.", visibility: .hidden))
    var insertStatements = false
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) {
            guard parallelism >= 1 && parallelism <= 64 else {
                throw StepError.configuration("--parallelism must be between 1 and 64 (spec.mysql.parallelism)")
            }
            let pkg = try BackupPackage.open(package)
            let source = try pkg.mysql(database)
            let (user, password) = try Credentials.login(userEnv: "FERRY_MYSQL_USERNAME", passwordEnv: "FERRY_MYSQL_PASSWORD", directory: credentialsDir, defaultUser: "root")
            let client = try MySQLClient(MySQLEndpoint(host: host, port: port, user: user, password: password))
            var options = MySQLRestore.Options(
                dumpPath: source.dumpPath, database: targetDatabase ?? database, parallelism: parallelism,
                expectedTables: source.expectedTables, expectedSHA256: source.sha256, chunkBytes: chunkBytes, loadData: !insertStatements)
            options.packageDatabase = database
            let restore = MySQLRestore(client: client, options: options)
            return try await restore.run()
        }
    }
}

/// One result as an object (a step restores one table), several as a list.
struct OneOrMany<T: Encodable>: Encodable {
    var items: [T]
    init(_ items: [T]) { self.items = items }
    func encode(to encoder: Encoder) throws {
        if items.count == 1 { try items[0].encode(to: encoder) } else { try items.encode(to: encoder) }
    }
}

/// Runs a step body and turns its outcome into the step report and exit code.
func reportStep<R: Encodable>(_ resultFile: String, _ body: () async throws -> R) async throws {
    // Progress lines reach the pod log (and kubectl logs) as they are printed.
    lineBufferedOutput()
    do {
        let outcome = try await body()
        StepReport.write(StepReport.success(outcome), to: resultFile)
    } catch {
        let stepError = error as? StepError
        StepReport.write(StepReport.failure("\(error)", retryable: stepError?.isRetryable ?? true, changed: !(stepError?.changedNothing ?? false)), to: resultFile)
        throw ExitCode(1)
    }
}

struct RestoreClickHouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse",
        abstract: "Create, insert (over HTTP) and verify ClickHouse tables from the package.",
        discussion: "Credentials: FERRY_CLICKHOUSE_USERNAME / FERRY_CLICKHOUSE_PASSWORD, or files username/password in --credentials-dir. Never on the command line. On a memory-limit error the table is recreated and sent again with half the block size.")

    @Option(help: "The backup package's top folder.")
    var package: String
    @Option(name: .customLong("table"), help: "db.table to restore (repeatable; default: every table in the package).")
    var tables: [String] = []
    @Option(help: "ClickHouse HTTP URL.")
    var url: String = "http://127.0.0.1:8123"
    @Option(help: "Folder with the credentials Secret's keys as files.")
    var credentialsDir: String?
    @Option(help: "Rows per INSERT request (and max_insert_block_size).")
    var maxInsertBlockSize: Int = 1_048_576
    @Option(help: "INSERT requests in flight at once.")
    var parallelism: Int = 2
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) { () async throws -> OneOrMany<ClickHouseRestore.Result> in
            guard parallelism >= 1 && parallelism <= 64 else {
                throw StepError.configuration("--parallelism must be between 1 and 64 (spec.clickhouse.parallelism)")
            }
            guard maxInsertBlockSize >= 1000 else {
                throw StepError.configuration("--max-insert-block-size must be at least 1000 rows (spec.clickhouse.maxInsertBlockSize)")
            }
            let pkg = try BackupPackage.open(package)
            let (user, password) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_PASSWORD", directory: credentialsDir, defaultUser: "default")
            let client = try ClickHouseClient(ClickHouseEndpoint(url: url, user: user, password: password))
            var results: [ClickHouseRestore.Result] = []
            let wanted = tables.isEmpty ? pkg.metadata.contents.clickhouse : tables
            if wanted.isEmpty {
                throw StepError.badPackage("the package holds no ClickHouse tables: nothing to restore. Name tables with --table, or export them with ferry export")
            }
            for table in wanted {
                let source = try pkg.clickhouse(table)
                let restore = ClickHouseRestore(client: client, options: .init(
                    table: table, schemaPath: source.schemaPath, dataPath: source.dataPath, expected: source.entry,
                    expectedSHA256: source.sha256, blockSize: maxInsertBlockSize, parallelism: parallelism))
                results.append(try await restore.run())
            }
            return OneOrMany(results)
        }
    }
}

struct RestoreCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Flush the Redis cache (FLUSHALL, or FLUSHDB of one database) and check it is empty.",
        discussion: "Password: FERRY_REDIS_PASSWORD or file password in --credentials-dir (username optional, for Redis ACL users). Never on the command line.")

    @Option(help: "Redis host.")
    var host: String = "127.0.0.1"
    @Option(help: "Redis port.")
    var port: Int = 6379
    @Option(help: "Flush only this database (default: all).")
    var database: Int?
    @Option(help: "Folder with the credentials Secret's keys as files.")
    var credentialsDir: String?
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) {
            if let dir = credentialsDir, Credentials.optional(env: "FERRY_REDIS_PASSWORD", file: "password", directory: dir) == nil {
                throw StepError.configuration(Credentials.missingKeys(["password"], in: dir))
            }
            let endpoint = RedisEndpoint(
                host: host, port: port,
                username: Credentials.optional(env: "FERRY_REDIS_USERNAME", file: "username", directory: credentialsDir),
                password: Credentials.optional(env: "FERRY_REDIS_PASSWORD", file: "password", directory: credentialsDir))
            return try await RedisFlush(endpoint: endpoint, database: database).run()
        }
    }
}

struct RestoreValidate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the package, its version, the target endpoints and volumes before anything is stopped.",
        discussion: "Prints what the package holds as JSON; the controller plans one step per database and table from it.")

    @Option(help: "The backup package's top folder.")
    var package: String
    @Option(help: "The version the spec expects (spec.appVersion).")
    var appVersion: String
    @Flag(help: "Restore a package of another version (spec.allowVersionMismatch).")
    var allowVersionMismatch = false
    @Option(name: .customLong("database"), help: "A database the spec restores (repeatable; default: all in the package).")
    var databases: [String] = []
    @Option(name: .customLong("table"), help: "A ClickHouse db.table the spec restores (repeatable; default: all).")
    var tables: [String] = []
    @Option(name: .customLong("folder"), help: "A package folder the spec copies (repeatable).")
    var folders: [String] = []
    @Option(name: .customLong("endpoint"), help: "name=host:port of a target to reach (repeatable).")
    var endpoints: [String] = []
    @Option(name: .customLong("volume"), help: "name=path of a mounted target volume (repeatable).")
    var volumes: [String] = []
    @Option(help: "Least free space on each target volume, in percent.")
    var minFreePercent: Double = 20
    @Option(name: .customLong("require"), help: "A kind the spec restores (mysql, clickhouse, kafka, config; repeatable): a package without it is refused.")
    var required: [String] = []
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) {
            let parsedEndpoints = try endpoints.map { text -> PackageValidation.Endpoint in
                guard let eq = text.firstIndex(of: "="), let colon = text.lastIndex(of: ":"), colon > eq, let port = Int(text[text.index(after: colon)...]) else {
                    throw StepError.configuration("--endpoint \(text) must be name=host:port")
                }
                return .init(name: String(text[..<eq]), host: String(text[text.index(after: eq)..<colon]), port: port)
            }
            let parsedVolumes = try volumes.map { text -> PackageValidation.Volume in
                guard let eq = text.firstIndex(of: "=") else { throw StepError.configuration("--volume \(text) must be name=path") }
                return .init(path: String(text[text.index(after: eq)...]), name: String(text[..<eq]))
            }
            return try PackageValidation(.init(
                packagePath: package, appVersion: appVersion, allowVersionMismatch: allowVersionMismatch,
                mysqlDatabases: databases.isEmpty ? nil : databases, clickhouseTables: tables.isEmpty ? nil : tables,
                fileFolders: folders, endpoints: parsedEndpoints, volumes: parsedVolumes, minFreePercent: minFreePercent, required: Set(required))).run()
        }
    }
}

/// Makes stdout line-buffered (it is fully buffered when it is a pipe or a file).
func lineBufferedOutput() {
    // glibc's `stdout` variable, looked up (Swift 6 refuses the mutable C global).
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "stdout") else { return }
    let file = symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee
    setvbuf(file, nil, _IOLBF, 0)
}

struct RestoreConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Decrypt the package's sealed config with the export's key and store it in a Secret (one key per file).",
        discussion: "The key is the file key in --key-dir (the mounted spec.config.keySecret). The Secret is written through the API as the pod's service account (or --kubeconfig). Values are never printed.")

    @Option(help: "The backup package's top folder.")
    var package: String
    @Option(help: "Folder holding the key Secret's keys as files (key: base64 of 32 bytes).")
    var keyDir: String
    @Option(help: "The Secret to create or update.")
    var secret: String
    @Option(help: "Its namespace (default: the service account's or kubeconfig's).")
    var namespace: String?
    @Option(help: "A kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster).")
    var kubeconfig: String?
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) {
            let files = try ConfigRestore.decrypt(packageRoot: package, keyDirectory: keyDir)
            let config: ClientConfig
            do {
                config = try KubeConfigLoader.load(path: kubeconfig)
            } catch {
                throw StepError.configuration("no API access to write the Secret: \(error)")
            }
            let client = KubeClient(config: config, httpClient: HTTPClient.shared)
            return try await ConfigRestore.store(files, secret: secret, namespace: namespace ?? config.namespace, client: client)
        }
    }
}

/// How to reach the brokers, shared by `restore kafka` and `export kafka`.
struct KafkaConnectionOptions: ParsableArguments {
    @Option(help: "Brokers, host:port[,host:port…].")
    var bootstrap: String
    @Flag(help: "Reach the brokers over TLS (trusts ca.crt from --credentials-dir or --ca-file, else the system's roots).")
    var tls = false
    @Option(help: "PEM CA file to trust (implies --tls).")
    var caFile: String?
    @Option(help: "PEM client certificate, with --key-file (implies --tls).")
    var certFile: String?
    @Option(help: "PEM key of the client certificate.")
    var keyFile: String?
    @Option(help: "Name to check the brokers' certificates against (default: the host reached).")
    var tlsServerName: String?
    @Flag(help: "Do not check the brokers' certificates (tests only).")
    var tlsInsecureSkipVerify = false
    @Option(help: "Folder with the credentials Secret's keys as files: username, password, mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; default SCRAM-SHA-512), ca.crt, tls.crt, tls.key. Or FERRY_KAFKA_USERNAME / FERRY_KAFKA_PASSWORD / FERRY_KAFKA_MECHANISM. Never on the command line.")
    var credentialsDir: String?

    func security() throws -> KafkaSecurity {
        let wantsTLS = tls || caFile != nil || certFile != nil || tlsServerName != nil || tlsInsecureSkipVerify
        let t = wantsTLS ? KafkaSecurity.TLS(caFile: caFile, certFile: certFile, keyFile: keyFile, serverName: tlsServerName, insecureSkipVerify: tlsInsecureSkipVerify) : nil
        return try KafkaSecurity.load(tls: t, directory: credentialsDir)
    }

    func client() throws -> KafkaClient {
        try KafkaClient(bootstrap: bootstrap, security: try security())
    }
}

struct RestoreKafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Set consumer-group offsets (saved, earliest, latest or by time), clamped to each partition's range, and read them back.",
        discussion: "Each group must have no active members (waits --member-wait seconds, then fails naming them). --dry-run prints the plan without committing.")

    @Option(help: "The backup package's top folder (for the saved offsets).")
    var package: String
    @OptionGroup var kafka: KafkaConnectionOptions
    @Option(name: .customLong("group"), help: "A group to set (repeatable; default: every group in the package).")
    var groups: [String] = []
    @Option(help: "package, earliest, latest or timestamp.")
    var mode: String = "package"
    @Option(help: "RFC 3339 time for --mode timestamp.")
    var timestamp: String?
    @Option(help: "Seconds to wait for a group's members to leave.")
    var memberWait: Double = 30
    @Flag(help: "Print what would be set; commit nothing.")
    var dryRun = false
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) {
            guard let m = KafkaOffsetsRestore.Mode(rawValue: mode) else {
                throw StepError.configuration("--mode \(mode) must be one of package, earliest, latest, timestamp (spec.kafka.mode)")
            }
            var ms: Int64?
            if let timestamp {
                guard let date = Timestamps.parse(timestamp) else { throw StepError.configuration("--timestamp \(timestamp) is not RFC 3339 (spec.kafka.timestamp), e.g. 2026-11-20T10:00:00Z") }
                ms = Int64(date.timeIntervalSince1970 * 1000)
            }
            let pkg = try BackupPackage.open(package)
            guard let rel = pkg.manifest?.kafkaOffsets else { throw StepError.badPackage("the package has no saved Kafka offsets (manifest.json: kafkaOffsets)") }
            let path = try pkg.resolve(rel)
            guard let data = FileManager.default.contents(atPath: path), let file = try? JSONDecoder().decode(KafkaOffsetsFile.self, from: data) else {
                throw StepError.badPackage("\(path) is not a Kafka offsets file; export it again")
            }
            let client = try kafka.client()
            defer { Task { await client.close() } }
            return try await KafkaOffsetsRestore(client: client, file: file, options: .init(
                groups: groups.isEmpty ? nil : groups, mode: m, timestamp: ms, memberWait: memberWait, dryRun: dryRun)).run()
        }
    }
}

/// `ferry export ...`: the source-host side.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a backup package on the source host (or one part of it).",
        subcommands: [ExportPackage.self, ExportKafka.self], defaultSubcommand: ExportPackage.self)
}

struct ExportPackage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Export MySQL, ClickHouse, Kafka offsets, file folders and sealed config into a package; or --verify one.",
        discussion: """
            The config file (YAML) names the sources; flags override it. Secrets never go in it: \
            passwordFile / keyFile, or FERRY_MYSQL_PASSWORD, FERRY_CLICKHOUSE_PASSWORD, FERRY_CONFIG_KEY, FERRY_KAFKA_*. \
            Rerunning after an interruption continues after the last finished part.
            """)

    @Option(help: "Export config (YAML): output, appVersion, mysql, clickhouse, kafka, files, config.")
    var config: String?
    @Option(help: "The package folder (overrides output).")
    var output: String?
    @Option(help: "The application version (overrides appVersion).")
    var appVersion: String?
    @Option(help: "MySQL host (overrides mysql.host).")
    var mysqlHost: String?
    @Option(help: "MySQL port.")
    var mysqlPort: Int?
    @Option(name: .customLong("database"), help: "A MySQL database (repeatable; default: all but the system ones).")
    var databases: [String] = []
    @Option(name: .customLong("files"), help: "A folder as NAME=PATH (repeatable).")
    var folders: [String] = []
    @Option(help: "Re-read the package at this path and check it against its manifest; export nothing.")
    var verify: String?
    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        if let verify {
            let report = PackageVerifier.verify(verify)
            if json { try printJSON(report) } else {
                for p in report.problems { print("✗ \(p)") }
                print(report.ok ? "✓ \(verify): \(report.checked) files and items match the manifest" : "\(report.problems.count) problems in \(verify)")
            }
            if !report.ok { throw ExitCode(1) }
            return
        }
        var cfg: ExportConfig
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("--config \(config) is not readable") }
            cfg = try ExportConfig.parse(yaml: String(decoding: data, as: UTF8.self), path: config)
        } else {
            guard let output, let appVersion else { throw ValidationError("give --config FILE, or at least --output and --app-version") }
            cfg = ExportConfig(output: output, appVersion: appVersion)
        }
        if let output { cfg.output = output }
        if let appVersion { cfg.appVersion = appVersion }
        if let mysqlHost { cfg.mysql = cfg.mysql ?? ExportConfig.MySQL(host: mysqlHost); cfg.mysql?.host = mysqlHost }
        if let mysqlPort { cfg.mysql?.port = mysqlPort }
        if !databases.isEmpty { cfg.mysql?.databases = databases }
        for f in folders {
            guard let eq = f.firstIndex(of: "=") else { throw ValidationError("--files \(f) must be NAME=PATH") }
            cfg.files = (cfg.files ?? []) + [ExportConfig.Folder(name: String(f[..<eq]), path: String(f[f.index(after: eq)...]))]
        }
        do {
            let exporter = PackageExporter(config: cfg, secrets: try .load(cfg))
            let summary = try await exporter.run()
            if json { try printJSON(summary) } else {
                print("✓ package \(summary.output): \(summary.mysql.count) databases, \(summary.clickhouse.count) ClickHouse tables, \(summary.kafkaGroups) Kafka groups, \(summary.files.count) folders, \(summary.configFiles) config files; \(summary.bytes) bytes in \(String(format: "%.1f", summary.seconds)) s\(summary.resumed > 0 ? " (\(summary.resumed) parts from an earlier run)" : "")")
            }
        } catch let e as StepError {
            FileHandle.standardError.write(Data("ferry export: \(e)\n".utf8))
            throw ExitCode(1)
        }
    }

    func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

struct ExportKafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka", abstract: "Save consumer-group offsets (and each partition's range) as JSON.")

    @OptionGroup var kafka: KafkaConnectionOptions
    @Option(name: .customLong("group"), help: "A group to save (repeatable; default: all groups).")
    var groups: [String] = []
    @Option(help: "Where to write the JSON (e.g. PACKAGE/kafka/offsets.json).")
    var output: String

    func run() async throws {
        let client = try kafka.client()
        let file = try await KafkaExport.run(client, groups: groups.isEmpty ? nil : groups)
        await client.close()
        try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try ManifestBuilder.writeJSON(file, to: output)
        print("saved \(file.groups.count) groups, \(file.partitions.values.map(\.count).reduce(0, +)) partitions to \(output)")
    }
}
