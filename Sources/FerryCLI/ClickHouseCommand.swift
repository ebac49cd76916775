import ArgumentParser
import FerryProtocol
import FerrySteps

/// `ferry clickhouse ...`: ClickHouse moved live, between servers.
struct ClickHouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse", abstract: "Move ClickHouse tables live: partition by partition from the source server, verified.",
        subcommands: [ClickHouseCopy.self])
}

struct ClickHouseCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy one MergeTree table from a running source server, partition by partition (INSERT … SELECT FROM remote() on the target), then verify and copy again what differs.",
        discussion: "Each partition is dropped on the target before it is copied, so a run cut off half-way and run again never doubles a row; partitions already equal are skipped. Credentials: files username/password in --source-credentials-dir and --credentials-dir, or FERRY_CLICKHOUSE_SOURCE_* / FERRY_CLICKHOUSE_*. Never on the command line.")

    @Option(help: "db.table to copy.")
    var table: String
    @Option(help: "The source's native addresses as the target reaches them: host:port, replicas of a shard joined by |, shards by , (a:9000|b:9000,c:9000).")
    var source: String
    @Option(help: "Folder with the source Secret's keys as files (username, password).")
    var sourceCredentialsDir: String?
    @Option(help: "The target's HTTP URL.")
    var url: String = "http://127.0.0.1:8123"
    @OptionGroup var credentials: CredentialsOption
    @Option(help: "Partitions copied at once.")
    var concurrency: Int = 2
    @Option(help: "Rounds of copying again what still differs.")
    var rounds: Int = 3
    @Option(help: "Partitions of at least this many rows are copied in pieces at once (0: never).")
    var splitMinRows: Int = 0
    @Option(help: "Pieces per big partition.")
    var splitPieces: Int = 4
    @Option(help: "A column the pieces are cut by (cityHash64 of the columns; repeat).")
    var splitBy: [String] = []
    @OptionGroup var result: ResultOptions

    var arguments: ClickHouseCopyArguments {
        ClickHouseCopyArguments(table: table, source: source, sourceCredentialsDir: sourceCredentialsDir, url: url,
                                credentialsDir: credentials.credentialsDir, concurrency: concurrency, rounds: rounds,
                                splitMinRows: splitMinRows, splitPieces: splitPieces, splitBy: splitBy, resultFile: result.resultFile)
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments.run() }
    }
}
