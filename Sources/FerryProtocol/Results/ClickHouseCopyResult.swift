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
    /// rounds there were, whatever their names (the step's log has every line): each text cut to
    /// 200 characters, then round lines and Distributed names dropped from the end (counted in a
    /// last `… and N more` line) until the report, as encoded, fits. The counts stay whole. Pure.
    public func compacted(limit: Int = ReportSize.limit) -> ClickHouseCopyResult {
        var r = self
        r.table = ReportSize.cut(table, 200)
        r.verified = ReportSize.cut(verified, 300)
        var rounds = self.rounds.map { ReportSize.cut($0, 200) }, distributed = (schemaOnly ?? []).map { ReportSize.cut($0, 200) }
        func assemble() {
            r.rounds = rounds.count == self.rounds.count ? rounds : rounds + ["… and \(self.rounds.count - rounds.count) more (the step's log has them all)"]
            r.schemaOnly = schemaOnly == nil ? nil : distributed.count == schemaOnly?.count ? distributed : distributed + ["… and \((schemaOnly?.count ?? 0) - distributed.count) more Distributed tables"]
        }
        assemble()
        while ReportSize.of(r) > limit, !rounds.isEmpty || !distributed.isEmpty {
            if rounds.count >= distributed.count { rounds.removeLast(max(1, rounds.count / 8)) } else { distributed.removeLast(max(1, distributed.count / 8)) }
            assemble()
        }
        return r
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

    /// The result cut to fit the 4 KiB termination message however many tables there are and
    /// whatever their names and statements: the statements side by side for the first tables
    /// (at most 2,400 bytes of them), then the tables without statements, dropped from the end
    /// until the report, as encoded, fits; only the counts cover them all. Pure.
    public func compacted(limit: Int = ReportSize.limit) -> ClickHouseSchemaResult {
        var r = self
        var ddl = 2_400
        r.tables = tables.map { t in
            var t = t
            t.table = ReportSize.cut(t.table, 200)
            t.sourceEngine = ReportSize.cut(t.sourceEngine, 100)
            t.targetEngine = ReportSize.cut(t.targetEngine, 100)
            ddl -= (t.source?.utf8.count ?? 0) + (t.target?.utf8.count ?? 0)
            if ddl < 0 { t.source = nil; t.target = nil }
            return t
        }
        while ReportSize.of(r) > limit, !r.tables.isEmpty {
            // Statements first, from the end; then whole entries.
            if let i = r.tables.lastIndex(where: { $0.source != nil || $0.target != nil }) {
                r.tables[i].source = nil
                r.tables[i].target = nil
            } else {
                r.tables.removeLast(max(1, r.tables.count / 8))
            }
            r.unlisted = r.tables.count < tables.count ? tables.count - r.tables.count : nil
        }
        return r
    }
}

extension ClickHouseSchemaResult {
    enum CodingKeys: String, CodingKey { case tables, cluster, created, kept, unlisted }

    /// A result written before the counts were kept: counted from its tables.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tables = try c.decode([Table].self, forKey: .tables)
        cluster = try c.decodeIfPresent(String.self, forKey: .cluster)
        created = try c.decodeIfPresent(Int.self, forKey: .created) ?? tables.filter { $0.action == "created" }.count
        kept = try c.decodeIfPresent(Int.self, forKey: .kept) ?? tables.filter { $0.action != "created" }.count
        unlisted = try c.decodeIfPresent(Int.self, forKey: .unlisted)
    }
}

extension ClickHouseSchemaResult: StepResult {
    public var summary: String {
        let rewritten = tables.filter { $0.sourceEngine != $0.targetEngine }.map { "\($0.sourceEngine) → \($0.targetEngine)" }
        return "\(created + kept) tables (\(created) created, \(kept) kept)\(cluster.map { " on cluster \($0)" } ?? "")"
            + (rewritten.isEmpty ? "" : "; engines: " + Set(rewritten).sorted().joined(separator: ", "))
    }
}
