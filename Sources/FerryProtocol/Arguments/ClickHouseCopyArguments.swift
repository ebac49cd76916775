/// `ferry clickhouse copy`: live tables copied from source ClickHouse servers partition by
/// partition with `remote()`, verified, differing partitions copied again; with `syncLast`, kept
/// in step afterwards (the newest partitions compared again every `syncEvery` seconds) until
/// stopped. Credentials come from files in the two folders (mounted Secrets), never from argv.
public struct ClickHouseCopyArguments: StepArguments {
    public static let command = ["clickhouse", "copy"]
    /// `db.table` names or `db.prefix*` patterns (matched on the source).
    public var tables: [String]
    /// The source's native addresses as the target reaches them, as `remote()` takes them:
    /// shards separated by `,`, replicas of a shard by `|` (`a:9000|b:9000,c:9000|d:9000`).
    public var source: String
    public var sourceCredentialsDir: String?
    /// The target's HTTP interface.
    public var url: String
    public var credentialsDir: String?
    /// Partitions copied at once (when the schedule file does not say).
    public var concurrency: Int
    /// A ``ConcurrencySchedule`` as JSON, read again while copying (a mounted ConfigMap).
    public var concurrencyFile: String?
    /// Rounds of copying again what still differs.
    public var rounds: Int
    /// Partitions of at least `splitMinRows` rows copied in `splitPieces` pieces by `splitBy` (0: never).
    public var splitMinRows: Int
    public var splitPieces: Int
    public var splitBy: [String]
    /// `count`, `distinct` or `distinct(a, b)`; nil: by engine.
    public var verify: String?
    /// Keep syncing after the copy: each table's newest `syncLast` partitions compared (and
    /// copied again when they differ) every `syncEvery` seconds, until the process is stopped (0: end after the copy).
    public var syncLast: Int
    public var syncEvery: Int
    public var resultFile: String

    public init(tables: [String], source: String, sourceCredentialsDir: String? = nil, url: String = "http://127.0.0.1:8123", credentialsDir: String? = nil,
                concurrency: Int = 2, concurrencyFile: String? = nil, rounds: Int = 3, splitMinRows: Int = 0, splitPieces: Int = 4, splitBy: [String] = [],
                verify: String? = nil, syncLast: Int = 0, syncEvery: Int = 60, resultFile: String = TerminationMessage.path) {
        self.tables = tables
        self.source = source
        self.sourceCredentialsDir = sourceCredentialsDir
        self.url = url
        self.credentialsDir = credentialsDir
        self.concurrency = concurrency
        self.concurrencyFile = concurrencyFile
        self.rounds = rounds
        self.splitMinRows = splitMinRows
        self.splitPieces = splitPieces
        self.splitBy = splitBy
        self.verify = verify
        self.syncLast = syncLast
        self.syncEvery = syncEvery
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.options("table", tables)
        w.option("source", source)
        w.option("source-credentials-dir", sourceCredentialsDir)
        w.option("url", url)
        w.option("credentials-dir", credentialsDir)
        w.option("concurrency", concurrency)
        w.option("concurrency-file", concurrencyFile)
        w.option("rounds", rounds)
        w.option("split-min-rows", splitMinRows)
        w.option("split-pieces", splitPieces)
        w.options("split-by", splitBy)
        w.option("verify", verify)
        w.option("sync-last", syncLast)
        w.option("sync-every", syncEvery)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["table", "source", "source-credentials-dir", "url", "credentials-dir", "concurrency", "concurrency-file", "rounds",
                                                                      "split-min-rows", "split-pieces", "split-by", "verify", "sync-last", "sync-every", "result-file"])
        self.init(tables: r.list("table"), source: try r.required("source"), sourceCredentialsDir: try r.optional("source-credentials-dir"),
                  url: try r.optional("url") ?? "http://127.0.0.1:8123", credentialsDir: try r.optional("credentials-dir"), concurrency: try r.int("concurrency", default: 2),
                  concurrencyFile: try r.optional("concurrency-file"), rounds: try r.int("rounds", default: 3), splitMinRows: try r.int("split-min-rows", default: 0),
                  splitPieces: try r.int("split-pieces", default: 4), splitBy: r.list("split-by"), verify: try r.optional("verify"),
                  syncLast: try r.int("sync-last", default: 0), syncEvery: try r.int("sync-every", default: 60), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}

/// `ferry clickhouse schema`: each source table's CREATE TABLE read, its engine rewritten
/// (``engineMap``), and the table created on the target (ON CLUSTER the target's cluster).
public struct ClickHouseSchemaArguments: StepArguments {
    public static let command = ["clickhouse", "schema"]
    public var tables: [String]
    public var source: String
    public var sourceCredentialsDir: String?
    public var url: String
    public var credentialsDir: String?
    /// `From=To` or `From=To@zookeeperPath@replica` (a Replicated target engine).
    public var engineMap: [String]
    /// The target's cluster (Distributed tables, and DDL ON CLUSTER).
    public var cluster: String?
    public var shardingKeyDefault: String
    public var resultFile: String

    public init(tables: [String], source: String, sourceCredentialsDir: String? = nil, url: String = "http://127.0.0.1:8123", credentialsDir: String? = nil,
                engineMap: [String] = [], cluster: String? = nil, shardingKeyDefault: String = "rand()", resultFile: String = TerminationMessage.path) {
        self.tables = tables
        self.source = source
        self.sourceCredentialsDir = sourceCredentialsDir
        self.url = url
        self.credentialsDir = credentialsDir
        self.engineMap = engineMap
        self.cluster = cluster
        self.shardingKeyDefault = shardingKeyDefault
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.options("table", tables)
        w.option("source", source)
        w.option("source-credentials-dir", sourceCredentialsDir)
        w.option("url", url)
        w.option("credentials-dir", credentialsDir)
        w.options("engine-map", engineMap)
        w.option("cluster", cluster)
        w.option("sharding-key-default", shardingKeyDefault)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["table", "source", "source-credentials-dir", "url", "credentials-dir", "engine-map", "cluster",
                                                                      "sharding-key-default", "result-file"])
        self.init(tables: r.list("table"), source: try r.required("source"), sourceCredentialsDir: try r.optional("source-credentials-dir"),
                  url: try r.optional("url") ?? "http://127.0.0.1:8123", credentialsDir: try r.optional("credentials-dir"), engineMap: r.list("engine-map"),
                  cluster: try r.optional("cluster"), shardingKeyDefault: try r.optional("sharding-key-default") ?? "rand()",
                  resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
