/// What `restore clickhouse` reports for one table (a list when it restored several).
public struct ClickHouseResult: Codable, Sendable, Equatable {
    public var table: String
    public var rows: Int
    public var bytes: Int
    /// Partitions whose row counts were verified (0 when unpartitioned).
    public var partitions: Int
    public var seconds: Double
    public var rowsPerSecond: Int
    /// The block size that worked.
    public var blockSize: Int
    public var parallelism: Int
    public var verified: String
    /// One line per out-of-memory retry, e.g. "memory limit at 1048576 rows per block; retried with 524288".
    public var retries: [String]

    public init(table: String, rows: Int, bytes: Int, partitions: Int, seconds: Double, rowsPerSecond: Int, blockSize: Int, parallelism: Int, verified: String, retries: [String]) {
        self.table = table
        self.rows = rows
        self.bytes = bytes
        self.partitions = partitions
        self.seconds = seconds
        self.rowsPerSecond = rowsPerSecond
        self.blockSize = blockSize
        self.parallelism = parallelism
        self.verified = verified
        self.retries = retries
    }
}


extension ClickHouseResult: StepResult {
    public var summary: String { "\(table): rows \(rows), partitions \(partitions)" }
    public static func summary(of results: [ClickHouseResult]) -> String {
        "\(results.count) tables: rows \(results.map(\.rows).reduce(0, +)), partitions \(results.map(\.partitions).reduce(0, +))"
    }
}
