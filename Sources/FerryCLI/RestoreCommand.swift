import ArgumentParser
import FerryProtocol
import FerrySteps
import Foundation

/// `ferry restore ...`: the data-plane steps, each run by the controller in a Job. Each command
/// reads its options into the step's argument struct (FerryProtocol, the same one the controller
/// writes) and runs it (FerrySteps); the CLI adds help and test-only knobs, nothing else.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore one part of a backup package (run by the controller in a Job).",
        subcommands: [RestoreValidate.self, RestoreMySQL.self, RestoreClickHouse.self, RestoreKafka.self, RestoreConfig.self, RestoreCache.self])
}

struct RestoreMySQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql",
        abstract: "Drop, create, import (in parallel) and verify one MySQL database from the package.",
        discussion: "Credentials: FERRY_MYSQL_USERNAME / FERRY_MYSQL_PASSWORD, or files username/password in --credentials-dir (a mounted Secret). Never on the command line.")

    @OptionGroup var package: PackageOption
    @Option(help: "The database in the package.")
    var database: String
    @Option(help: "Database name on the target (default: the same).")
    var targetDatabase: String?
    @Option(help: "MySQL/MariaDB host.")
    var host: String = "127.0.0.1"
    @Option(help: "MySQL/MariaDB port.")
    var port: Int = 3306
    @OptionGroup var credentials: CredentialsOption
    @Option(help: "Connections used for the import: a number, or auto.")
    var parallelism = Connections(2)
    @Option(help: ArgumentHelp("Bytes of INSERT statements per connection run.", visibility: .hidden))
    var chunkBytes: Int = 16 << 20
    @Flag(help: ArgumentHelp("Send rows as the dump's INSERT statements, not LOAD DATA LOCAL.", visibility: .hidden))
    var insertStatements = false
    @OptionGroup var result: ResultOptions

    var arguments: MySQLArguments {
        MySQLArguments(package: package.package, database: database, targetDatabase: targetDatabase, host: host, port: port,
                       credentialsDir: credentials.credentialsDir, parallelism: parallelism.count, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run(chunkBytes: chunkBytes, loadData: !insertStatements) }
    }
}

struct RestoreClickHouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse",
        abstract: "Create, insert (over HTTP) and verify ClickHouse tables from the package.",
        discussion: "Credentials: FERRY_CLICKHOUSE_USERNAME / FERRY_CLICKHOUSE_PASSWORD, or files username/password in --credentials-dir. Never on the command line. On a memory-limit error the table is recreated and sent again with half the block size.")

    @OptionGroup var package: PackageOption
    @Option(name: .customLong("table"), help: "db.table to restore (repeatable; default: every table in the package).")
    var tables: [String] = []
    @Option(help: "ClickHouse HTTP URL.")
    var url: String = "http://127.0.0.1:8123"
    @OptionGroup var credentials: CredentialsOption
    @Option(help: "Rows per INSERT request (and max_insert_block_size).")
    var maxInsertBlockSize: Int = 1_048_576
    @Option(help: "INSERT requests in flight at once.")
    var parallelism: Int = 2
    @OptionGroup var result: ResultOptions

    var arguments: ClickHouseArguments {
        ClickHouseArguments(package: package.package, tables: tables, url: url, credentialsDir: credentials.credentialsDir,
                            maxInsertBlockSize: maxInsertBlockSize, parallelism: parallelism, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { OneOrMany(try await arguments.run()) }
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
    @OptionGroup var credentials: CredentialsOption
    @OptionGroup var result: ResultOptions

    var arguments: CacheArguments {
        CacheArguments(host: host, port: port, database: database, credentialsDir: credentials.credentialsDir, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}

struct RestoreValidate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the package, its version, the target endpoints and volumes before anything is stopped.",
        discussion: "Prints what the package holds as JSON; the controller plans one step per database and table from it.")

    @OptionGroup var package: PackageOption
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
    @Option(help: "spec.mysql.external: the external database's address (empty: the one the package names).")
    var externalHost: String?
    @Option(help: "Its port (default: the package's, else 3306).")
    var externalPort: Int?
    @Option(help: "Folder holding its username and password as files; given, the external database is checked where it is, never restored.")
    var externalCredentials: String?
    @Option(help: "A package folder (repeatable) whose .tar.gz archives are unpacked before the copy (spec.files[].unpack): each is read through, and a link, device or entry leaving its folder refused.")
    var unpack: [String] = []
    @OptionGroup var result: ResultOptions

    func arguments() throws -> ValidateArguments {
        do {
            var arguments = ValidateArguments(package: package.package, appVersion: appVersion, allowVersionMismatch: allowVersionMismatch, databases: databases, tables: tables,
                                     folders: folders, required: required, endpoints: try endpoints.map(ValidateArguments.Endpoint.init(text:)),
                                     volumes: try volumes.map(ValidateArguments.Volume.init(text:)),
                                     external: externalCredentials.map { .init(host: externalHost ?? "", port: externalPort, credentialsDir: $0) }, resultFile: result.resultFile)
            arguments.unpack = unpack
            return arguments
        } catch let e as ArgvError {
            throw StepError.configuration(e.description)
        }
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try arguments().run(minFreePercent: minFreePercent) }
    }
}

struct RestoreConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Decrypt the package's sealed config with the export's key and store it in a Secret (one key per file).",
        discussion: "The key is the file key in --key-dir (the mounted spec.config.keySecret); the old tool's conf/latest_config.json and conf/options.json need none. The Secret is written through the API as the pod's service account (or --kubeconfig). Values are never printed.")

    @OptionGroup var package: PackageOption
    @Option(help: "Folder holding the key Secret's keys as files (key: base64 of 32 bytes).")
    var keyDir: String?
    @Option(help: "The Secret to create or update.")
    var secret: String
    @Option(help: "Its namespace (default: the service account's or kubeconfig's).")
    var namespace: String?
    @Option(help: "A kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster).")
    var kubeconfig: String?
    @OptionGroup var result: ResultOptions

    var arguments: ConfigArguments {
        ConfigArguments(package: package.package, keyDir: keyDir, secret: secret, namespace: namespace, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run(kubeconfig: kubeconfig) }
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

    var arguments: KafkaArguments {
        KafkaArguments(package: package, bootstrap: kafka.bootstrap, mode: mode, groups: groups, timestamp: timestamp, tls: kafka.tls,
                       tlsServerName: kafka.tlsServerName, tlsInsecureSkipVerify: kafka.tlsInsecureSkipVerify, credentialsDir: kafka.credentialsDir,
                       resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run(security: try kafka.security(), memberWait: memberWait, dryRun: dryRun) }
    }
}
