/// What `clickhouse copy` reports for the tables of one `spec.clickhouse.copy.tables` entry
/// (a table, or a pattern): their partitions copied from the live source with `remote()`,
/// verified, re-copied where they differed.
public struct ClickHouseCopyResult: Codable, Sendable, Equatable {
    /// The entry: `db.table` or `db.prefix*`.
    public var table: String
    /// Tables copied (a pattern's matches).
    public var tables: Int
    public var partitions: Int
    /// Partitions copied by this run (dropped first on the target, never doubled).
    public var copied: Int
    /// Partitions already equal on the target (an earlier run, or the sync, copied them).
    public var skipped: Int
    /// One line per partition copied again because it still differed, e.g. `db.t 201802: source 1000 rows, target 998; copied again (round 2)` (the first 20).
    public var rounds: [String]
    public var rows: Int
    public var seconds: Double
    public var rowsPerSecond: Int
    public var verified: String
    /// Distributed tables the pattern matched: their schema is made by clickhouse-schema, their data lives in the local tables.
    public var schemaOnly: [String]?

    public init(table: String, tables: Int = 1, partitions: Int, copied: Int, skipped: Int, rounds: [String], rows: Int, seconds: Double, rowsPerSecond: Int, verified: String,
                schemaOnly: [String]? = nil) {
        self.table = table
        self.tables = tables
        self.partitions = partitions
        self.copied = copied
        self.skipped = skipped
        self.rounds = rounds
        self.rows = rows
        self.seconds = seconds
        self.rowsPerSecond = rowsPerSecond
        self.verified = verified
        self.schemaOnly = schemaOnly
    }
}

extension ClickHouseCopyResult: StepResult {
    public var summary: String {
        "\(table): \(tables > 1 ? "\(tables) tables, " : "")\(partitions) partitions (\(copied) copied, \(skipped) already there), rows \(rows), \(rowsPerSecond) rows/s; \(verified)"
    }
}

/// What `clickhouse schema` reports: each table's source and target CREATE TABLE side by side.
public struct ClickHouseSchemaResult: Codable, Sendable, Equatable {
    public struct Table: Codable, Sendable, Equatable {
        public var table: String
        public var sourceEngine: String
        public var targetEngine: String
        /// `created`, or `kept` (it was there with the same columns).
        public var action: String
        /// The statements, while they fit in the report (all of them are in the step's log).
        public var source: String?
        public var target: String?
        public init(table: String, sourceEngine: String, targetEngine: String, action: String, source: String? = nil, target: String? = nil) {
            self.table = table
            self.sourceEngine = sourceEngine
            self.targetEngine = targetEngine
            self.action = action
            self.source = source
            self.target = target
        }
    }
    public var tables: [Table]
    /// The DDL ran `ON CLUSTER` this cluster (every replica got the tables).
    public var cluster: String?
    public init(tables: [Table], cluster: String? = nil) {
        self.tables = tables
        self.cluster = cluster
    }
}

extension ClickHouseSchemaResult: StepResult {
    public var summary: String {
        let created = tables.filter { $0.action == "created" }.count
        let rewritten = tables.filter { $0.sourceEngine != $0.targetEngine }.map { "\($0.sourceEngine) → \($0.targetEngine)" }
        return "\(tables.count) tables (\(created) created, \(tables.count - created) kept)\(cluster.map { " on cluster \($0)" } ?? "")"
            + (rewritten.isEmpty ? "" : "; engines: " + Set(rewritten).sorted().joined(separator: ", "))
    }
}
