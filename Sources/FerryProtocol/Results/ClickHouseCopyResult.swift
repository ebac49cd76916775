/// What `clickhouse copy` reports for one table: its partitions copied from the live source
/// with `remote()`, verified by row counts, re-copied where they differed.
public struct ClickHouseCopyResult: Codable, Sendable, Equatable {
    public var table: String
    public var partitions: Int
    /// Partitions copied by this run (dropped first on the target, never doubled).
    public var copied: Int
    /// Partitions already equal on the target (an earlier run copied them).
    public var skipped: Int
    /// One line per partition copied again because it still differed, e.g. `201802: source 1000 rows, target 998; copied again (round 2)`.
    public var rounds: [String]
    public var rows: Int
    public var seconds: Double
    public var rowsPerSecond: Int
    public var verified: String

    public init(table: String, partitions: Int, copied: Int, skipped: Int, rounds: [String], rows: Int, seconds: Double, rowsPerSecond: Int, verified: String) {
        self.table = table
        self.partitions = partitions
        self.copied = copied
        self.skipped = skipped
        self.rounds = rounds
        self.rows = rows
        self.seconds = seconds
        self.rowsPerSecond = rowsPerSecond
        self.verified = verified
    }
}

extension ClickHouseCopyResult: StepResult {
    public var summary: String { "\(table): \(partitions) partitions (\(copied) copied, \(skipped) already there), rows \(rows), \(rowsPerSecond) rows/s; \(verified)" }
}
