/// `ferry restore clickhouse`: create, insert over HTTP and verify tables from the package.
/// Credentials come from files in `credentialsDir`, never from argv.
public struct ClickHouseArguments: StepArguments {
    public static let command = ["restore", "clickhouse"]
    public var package: String
    /// `db.table`s (empty: every table in the package).
    public var tables: [String]
    public var url: String
    public var credentialsDir: String?
    /// Rows per INSERT request (and `max_insert_block_size`).
    public var maxInsertBlockSize: Int
    /// INSERT requests in flight at once.
    public var parallelism: Int
    public var resultFile: String

    public init(package: String, tables: [String] = [], url: String = "http://127.0.0.1:8123", credentialsDir: String? = nil,
                maxInsertBlockSize: Int = 1_048_576, parallelism: Int = 2, resultFile: String = TerminationMessage.path) {
        self.package = package
        self.tables = tables
        self.url = url
        self.credentialsDir = credentialsDir
        self.maxInsertBlockSize = maxInsertBlockSize
        self.parallelism = parallelism
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("package", package)
        w.options("table", tables)
        w.option("url", url)
        w.option("max-insert-block-size", maxInsertBlockSize)
        w.option("parallelism", parallelism)
        w.option("credentials-dir", credentialsDir)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["package", "table", "url", "max-insert-block-size", "parallelism", "credentials-dir", "result-file"])
        self.init(package: try r.required("package"), tables: r.list("table"), url: try r.optional("url") ?? "http://127.0.0.1:8123",
                  credentialsDir: try r.optional("credentials-dir"), maxInsertBlockSize: try r.int("max-insert-block-size", default: 1_048_576),
                  parallelism: try r.int("parallelism", default: 2), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
