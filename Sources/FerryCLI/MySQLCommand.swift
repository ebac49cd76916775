import ArgumentParser
import FerryProtocol
import FerrySteps
import Foundation

/// `ferry mysql ...`: MySQL/MariaDB online, by replication from the old server.
struct MySQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql", abstract: "Move MySQL/MariaDB online: snapshot + replication from the old server, then a cutover in seconds.",
        subcommands: [MySQLSnapshot.self, MySQLStatus.self, MySQLWatch.self, MySQLCutover.self, MySQLReverse.self])
}

/// The two servers, shared by the `ferry mysql` commands.
struct MySQLServerOptions: ParsableArguments {
    @Option(help: "The old server (the replication source).")
    var sourceHost: String
    @Option(help: "Its port.")
    var sourcePort: Int = 3306
    @Option(help: "Folder with the source Secret's keys as files (username, password: a user with REPLICATION SLAVE, SELECT, READ_ONLY ADMIN). Or FERRY_MYSQL_SOURCE_USERNAME / FERRY_MYSQL_SOURCE_PASSWORD.")
    var sourceCredentialsDir: String?
    @Option(help: "The new server (the target).")
    var host: String = "127.0.0.1"
    @Option(help: "Its port.")
    var port: Int = 3306
    @OptionGroup var credentials: CredentialsOption

    var servers: MySQLServers {
        MySQLServers(sourceHost: sourceHost, sourcePort: sourcePort, sourceCredentialsDir: sourceCredentialsDir, host: host, port: port, credentialsDir: credentials.credentialsDir)
    }
}

struct MySQLSnapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Copy the source's databases into the target from one consistent snapshot, then make the target replicate from the snapshot's GTID position.",
        discussion: "Refused, before anything changes, when the source has no row-based binary log, its user lacks rights, or the target already holds one of the databases.")

    @OptionGroup var servers: MySQLServerOptions
    @Option(name: .customLong("database"), help: "A database to move (repeatable; default: every one on the source but the system ones).")
    var databases: [String] = []
    @Option(help: "Connections used for each database's import: a number, or auto.")
    var parallelism = Connections(2)
    @Option(help: "Where the dump is kept while it is restored (default: TMPDIR).")
    var workDir: String?
    @Flag(help: "Replace databases already on the target (those an earlier run of this step wrote).")
    var replaceExisting = false
    @Flag(help: "Also check that reverse replication can be set up after the cutover (mysql reverse): the source user's rights, the target's binary log.")
    var reversible = false
    @Option(help: "Restore this package's dumps (exported with mysql.gtid: true) and replicate from the position they recorded, instead of dumping the running source.")
    var package: String?
    @OptionGroup var result: ResultOptions

    var arguments: MySQLSnapshotArguments {
        MySQLSnapshotArguments(servers: servers.servers, databases: databases, parallelism: parallelism.count, workDir: workDir, replaceExisting: replaceExisting, reversible: reversible, package: package, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}

struct MySQLStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "How far the target's replication is behind the source (lag, transactions, errors).")

    @OptionGroup var servers: MySQLServerOptions
    @OptionGroup var result: ResultOptions

    var arguments: MySQLStatusArguments { MySQLStatusArguments(servers: servers.servers, resultFile: result.resultFile) }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}

struct MySQLCutover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cutover",
        abstract: "Set the source read-only, wait until the target has applied its last transaction, promote the target.",
        discussion: "On a timeout the source is made writable again and the target keeps replicating: nothing is lost. Run again after a crash: a target promoted earlier is reported as such.")

    @OptionGroup var servers: MySQLServerOptions
    @Option(help: "Seconds the target may take to apply the source's last transaction.")
    var timeoutSeconds: Int = 30
    @Option(help: "Refuse, before the source is touched, when the target is further behind than this many seconds.")
    var maxLagSeconds: Int?
    @Flag(help: "Kill the source connections that still hold write transactions once it is read-only.")
    var killWriters = false
    @Flag(help: "Go back: the new server (--host) read-only, the old one (--source-host), which replicates from it (mysql reverse), caught up and promoted.")
    var back = false
    @Option(help: "With --back: the address the old server replicates from (mysql reverse --reverse-host).")
    var reverseHost: String?
    @Option(help: "With --back: its port.")
    var reversePort: Int?
    @Option(name: .customLong("database"), help: "A migrated database, recorded for reverse replication (repeat).")
    var databases: [String] = []
    @OptionGroup var result: ResultOptions

    var arguments: MySQLCutoverArguments {
        MySQLCutoverArguments(servers: servers.servers, timeoutSeconds: timeoutSeconds, maxLagSeconds: maxLagSeconds, killWriters: killWriters, back: back,
                              reverseHost: reverseHost, reversePort: reversePort, databases: databases, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}

struct MySQLReverse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reverse",
        abstract: "After the cutover: make the old server (--source-host) a replica of the new one (--host), so going back is one cutover (mysql cutover --back).",
        discussion: "Refused when the old server holds transactions the new one never applied. The old server connects to the new one at --reverse-host:--reverse-port as a user Ferry creates there with only REPLICATION SLAVE.")

    @OptionGroup var servers: MySQLServerOptions
    @Option(help: "The new server's gtid_binlog_pos at its promotion (the cutover's targetPosition).")
    var from: String = ""
    @Option(name: .customLong("database"), help: "A database to replicate back (repeat).")
    var databases: [String] = []
    @Option(help: "The address at which the old server reaches the new one.")
    var reverseHost: String
    @Option(help: "Its port.")
    var reversePort: Int = 3306
    @OptionGroup var result: ResultOptions

    var arguments: MySQLReverseArguments {
        MySQLReverseArguments(servers: servers.servers, from: from, databases: databases, reverseHost: reverseHost, reversePort: reversePort, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}

struct MySQLWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Print a look at replication (lag, transactions behind, errors) every few seconds until stopped (the replication step's monitor).")

    @OptionGroup var servers: MySQLServerOptions
    @Option(help: "Seconds between looks.")
    var intervalSeconds: Int = 5
    @Flag(help: "Compare every replicated table on both sides in primary-key chunks, each at one GTID position; the looks carry the result.")
    var verify = false
    @Option(help: "Rows per compared chunk.")
    var chunkRows: Int = 10_000
    @Option(name: .customLong("database"), help: "A migrated database (repeat): the target's replication filter must be exactly these, and they are compared.")
    var databases: [String] = []
    @Option(help: ArgumentHelp("Stop after this many looks.", visibility: .hidden))
    var count: Int?
    @OptionGroup var result: ResultOptions

    var arguments: MySQLWatchArguments {
        MySQLWatchArguments(servers: servers.servers, intervalSeconds: intervalSeconds, verify: verify, chunkRows: chunkRows, databases: databases, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run(count: count) }
    }
}
