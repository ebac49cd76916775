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

extension ClickHouseCopyResult {
    /// The result cut to fit the 4 KiB termination message however many tables, partitions and
    /// rounds there were (the step's log has every line): round lines and Distributed names kept
    /// while they fit, each cut to 200 characters, then `… and N more`. Pure.
    public func compacted() -> ClickHouseCopyResult {
        var r = self
        r.table = Self.cut(table, 200)
        r.rounds = Self.fit(rounds, budget: 1_200, noun: "more (the step's log has them all)")
        r.schemaOnly = schemaOnly.map { Self.fit($0, budget: 600, noun: "more Distributed tables") }
        return r
    }

    static func cut(_ s: String, _ n: Int) -> String { s.count > n ? String(s.prefix(n - 1)) + "…" : s }

    /// Lines while they fit in `budget` bytes, then one line counting the rest. Pure.
    static func fit(_ lines: [String], budget: Int, noun: String) -> [String] {
        var kept: [String] = [], used = 0
        for line in lines {
            let l = cut(line, 200)
            guard used + l.utf8.count + 3 <= budget else { break }
            kept.append(l)
            used += l.utf8.count + 3
        }
        return kept.count == lines.count ? kept : kept + ["… and \(lines.count - kept.count) \(noun)"]
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
    /// The tables, while they fit in the report (the step's log lists them all).
    public var tables: [Table]
    /// The DDL ran `ON CLUSTER` this cluster (every replica got the tables).
    public var cluster: String?
    /// Counts over every table, listed or not.
    public var created: Int
    public var kept: Int
    /// Tables left out of `tables` to fit the report.
    public var unlisted: Int?
    public init(tables: [Table], cluster: String? = nil) {
        self.tables = tables
        self.cluster = cluster
        self.created = tables.filter { $0.action == "created" }.count
        self.kept = tables.count - created
    }

    /// The result cut to fit the 4 KiB termination message however many tables there are: the
    /// statements side by side while they fit (2,400 bytes), then the tables without them, then
    /// only the counts. Pure.
    public func compacted() -> ClickHouseSchemaResult {
        var r = self
        var ddl = 2_400, list = 3_000
        r.tables = []
        for var t in tables {
            ddl -= (t.source?.utf8.count ?? 0) + (t.target?.utf8.count ?? 0)
            if ddl < 0 { t.source = nil; t.target = nil }
            list -= t.table.utf8.count + t.sourceEngine.utf8.count + t.targetEngine.utf8.count + 80 + (t.source?.utf8.count ?? 0) + (t.target?.utf8.count ?? 0)
            guard list >= 0 else { break }
            r.tables.append(t)
        }
        r.unlisted = r.tables.count < tables.count ? tables.count - r.tables.count : nil
        return r
    }
}

extension ClickHouseSchemaResult: StepResult {
    public var summary: String {
        let rewritten = tables.filter { $0.sourceEngine != $0.targetEngine }.map { "\($0.sourceEngine) → \($0.targetEngine)" }
        return "\(created + kept) tables (\(created) created, \(kept) kept)\(cluster.map { " on cluster \($0)" } ?? "")"
            + (rewritten.isEmpty ? "" : "; engines: " + Set(rewritten).sorted().joined(separator: ", "))
    }
}
