import ArgumentParser
import FerryProtocol
import FerrySteps

/// `ferry clickhouse ...`: ClickHouse moved live, between servers.
struct ClickHouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse", abstract: "Move ClickHouse tables live: the schema reshaped, then partition by partition from the source servers, verified.",
        subcommands: [ClickHouseSchemaCommand.self, ClickHouseCopy.self])
}

/// The source and target options both subcommands share.
struct ClickHouseServersOptions: ParsableArguments {
    @Option(name: .customLong("table"), help: "db.table, or db.* / db.prefix* (matched on the source; repeat).")
    var tables: [String] = []
    @Option(help: "The source's native addresses as the target reaches them: host:port, replicas of a shard joined by |, shards by , (a:9000|b:9000,c:9000).")
    var source: String
    @Option(help: "Folder with the source Secret's keys as files (username, password).")
    var sourceCredentialsDir: String?
    @Option(help: "The target's HTTP URL.")
    var url: String = "http://127.0.0.1:8123"
}

struct ClickHouseSchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Create the source's tables on the target: each CREATE TABLE read through remote(), its engine rewritten, ORDER BY / PARTITION BY / TTL / SETTINGS kept.",
        discussion: "Everything is checked before the first statement: engines Ferry does not move, Distributed tables whose local table differs, Replicated engines on a target without ZooKeeper or the macros they name, ZooKeeper paths other replicas use, target tables with other columns.")

    @OptionGroup var servers: ClickHouseServersOptions
    @OptionGroup var credentials: CredentialsOption
    @Option(help: "From=To, or From=ReplicatedFrom@zookeeperPath@replica (repeat).")
    var engineMap: [String] = []
    @Option(help: "The target's cluster: Distributed tables point at it and the DDL runs ON CLUSTER it.")
    var cluster: String?
    @Option(help: "The sharding key of a Distributed table that has none.")
    var shardingKeyDefault: String = "rand()"
    @OptionGroup var result: ResultOptions

    var arguments: ClickHouseSchemaArguments {
        ClickHouseSchemaArguments(tables: servers.tables, source: servers.source, sourceCredentialsDir: servers.sourceCredentialsDir, url: servers.url,
                                  credentialsDir: credentials.credentialsDir, engineMap: engineMap, cluster: cluster, shardingKeyDefault: shardingKeyDefault,
                                  resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}

struct ClickHouseCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy MergeTree tables from running source servers, partition by partition (INSERT … SELECT FROM remote() on the target), then verify and copy again what differs.",
        discussion: "Each partition is dropped on the target before it is copied, so a run cut off half-way and run again never doubles a row; partitions already equal are skipped. With --sync-last, the newest partitions are compared again every --sync-every seconds until the process is stopped. Credentials: files username/password in --source-credentials-dir and --credentials-dir, or FERRY_CLICKHOUSE_SOURCE_* / FERRY_CLICKHOUSE_*. Never on the command line.")

    @OptionGroup var servers: ClickHouseServersOptions
    @OptionGroup var credentials: CredentialsOption
    @Option(help: "Partitions copied at once (when --concurrency-file does not say).")
    var concurrency: Int = 2
    @Option(help: "A concurrency schedule as JSON ({\"default\":2,\"timeZone\":\"UTC\",\"schedule\":[{\"days\":[\"Sat\"],\"from\":\"00:00\",\"to\":\"00:00\",\"value\":8}]}), read again while copying.")
    var concurrencyFile: String?
    @Option(help: "Rounds of copying again what still differs.")
    var rounds: Int = 3
    @Option(help: "Partitions of at least this many rows are copied in pieces at once (0: never).")
    var splitMinRows: Int = 0
    @Option(help: "Pieces per big partition.")
    var splitPieces: Int = 4
    @Option(help: "A column the pieces are cut by (cityHash64 of the columns; repeat).")
    var splitBy: [String] = []
    @Option(help: "count, distinct (the sorting key) or distinct(col, …); default: by engine.")
    var verify: String?
    @Option(help: "Keep syncing after the copy: each table's newest N partitions compared again (0: end after the copy).")
    var syncLast: Int = 0
    @Option(help: "Seconds between sync rounds.")
    var syncEvery: Int = 60
    @OptionGroup var result: ResultOptions

    var arguments: ClickHouseCopyArguments {
        ClickHouseCopyArguments(tables: servers.tables, source: servers.source, sourceCredentialsDir: servers.sourceCredentialsDir, url: servers.url,
                                credentialsDir: credentials.credentialsDir, concurrency: concurrency, concurrencyFile: concurrencyFile, rounds: rounds,
                                splitMinRows: splitMinRows, splitPieces: splitPieces, splitBy: splitBy, verify: verify, syncLast: syncLast, syncEvery: syncEvery,
                                resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}
