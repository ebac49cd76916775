/// `ferry clickhouse copy`: one live table copied from a source ClickHouse server partition by
/// partition with `remote()`, verified, differing partitions copied again. Credentials come
/// from files in the two folders (mounted Secrets), never from argv.
public struct ClickHouseCopyArguments: StepArguments {
    public static let command = ["clickhouse", "copy"]
    /// `db.table`.
    public var table: String
    /// The source's native addresses as the target reaches them, as `remote()` takes them:
    /// shards separated by `,`, replicas of a shard by `|` (`a:9000|b:9000,c:9000|d:9000`).
    public var source: String
    public var sourceCredentialsDir: String?
    /// The target's HTTP interface.
    public var url: String
    public var credentialsDir: String?
    /// Partitions copied at once.
    public var concurrency: Int
    /// Rounds of copying again what still differs.
    public var rounds: Int
    /// Partitions of at least `splitMinRows` rows copied in `splitPieces` pieces by `splitBy` (0: never).
    public var splitMinRows: Int
    public var splitPieces: Int
    public var splitBy: [String]
    public var resultFile: String

    public init(table: String, source: String, sourceCredentialsDir: String? = nil, url: String = "http://127.0.0.1:8123", credentialsDir: String? = nil,
                concurrency: Int = 2, rounds: Int = 3, splitMinRows: Int = 0, splitPieces: Int = 4, splitBy: [String] = [], resultFile: String = TerminationMessage.path) {
        self.splitMinRows = splitMinRows
        self.splitPieces = splitPieces
        self.splitBy = splitBy
        self.table = table
        self.source = source
        self.sourceCredentialsDir = sourceCredentialsDir
        self.url = url
        self.credentialsDir = credentialsDir
        self.concurrency = concurrency
        self.rounds = rounds
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("table", table)
        w.option("source", source)
        w.option("source-credentials-dir", sourceCredentialsDir)
        w.option("url", url)
        w.option("credentials-dir", credentialsDir)
        w.option("concurrency", concurrency)
        w.option("rounds", rounds)
        w.option("split-min-rows", splitMinRows)
        w.option("split-pieces", splitPieces)
        w.options("split-by", splitBy)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["table", "source", "source-credentials-dir", "url", "credentials-dir", "concurrency", "rounds", "split-min-rows", "split-pieces", "split-by", "result-file"])
        self.init(table: try r.required("table"), source: try r.required("source"), sourceCredentialsDir: try r.optional("source-credentials-dir"),
                  url: try r.optional("url") ?? "http://127.0.0.1:8123", credentialsDir: try r.optional("credentials-dir"), concurrency: try r.int("concurrency", default: 2),
                  rounds: try r.int("rounds", default: 3), splitMinRows: try r.int("split-min-rows", default: 0), splitPieces: try r.int("split-pieces", default: 4),
                  splitBy: r.list("split-by"), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
