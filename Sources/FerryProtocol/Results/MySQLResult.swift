/// What `restore mysql` reports (into `status.steps[].result`).
public struct MySQLResult: Codable, Sendable, Equatable {
    public var database: String
    public var tables: Int
    public var rows: Int
    public var bytes: Int
    public var seconds: Double
    public var rowsPerSecond: Int
    public var parallelism: Int
    public var deferredIndexes: Int
    public var verified: String
    public var binlog: String
    /// How rows were sent: "LOAD DATA LOCAL" or "INSERT statements" (and why).
    public var method: String
    /// The database's character set and where it came from.
    public var databaseCharset: String
    /// What the dump held that was not run on purpose.
    public var notes: [String]?

    public init(database: String, tables: Int, rows: Int, bytes: Int, seconds: Double, rowsPerSecond: Int, parallelism: Int, deferredIndexes: Int, verified: String, binlog: String, method: String, databaseCharset: String, notes: [String]? = nil) {
        self.database = database
        self.tables = tables
        self.rows = rows
        self.bytes = bytes
        self.seconds = seconds
        self.rowsPerSecond = rowsPerSecond
        self.parallelism = parallelism
        self.deferredIndexes = deferredIndexes
        self.verified = verified
        self.binlog = binlog
        self.method = method
        self.databaseCharset = databaseCharset
        self.notes = notes
    }
}


extension MySQLResult: StepResult {
    public var summary: String { "\(database): rows \(rows), tables \(tables), verified \(verified)" }
}
