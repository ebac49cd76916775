import Foundation
import FerryProtocol

/// A big partitioned MergeTree table exported one file per partition
/// (`clickhouse/<db>.<table>/<partition ID>.tsv`), the partitions `clickhouse.parallelism` at a
/// time: one stream per table left a big table's export to one query's speed. Each partition is
/// read by its key (``condition(_:)``), and its rows are checked against `system.parts`. The
/// plan and its checks are pure; ``read(_:client:splitAbove:)`` is the I/O.
struct ClickHouseSplit: Sendable, Equatable {
    struct Partition: Sendable, Equatable {
        /// `system.parts.partition_id`: the file's name.
        var id: String
        /// `system.parts.partition`: the key's value, as the condition compares it.
        var value: String
        /// Rows when planned.
        var rows: Int
        /// ``ClickHousePartitions/Partition/version`` when planned.
        var version: Int64
    }

    /// `db.table`.
    var table: String
    /// The PARTITION BY expression and its type.
    var key: String
    var keyType: String
    /// A plain (or replicated) MergeTree: merges never change its rows, so what a partition's
    /// file holds must be what `system.parts` counts. Replacing, collapsing, summing and
    /// aggregating merges drop rows, so for those engines the file is the count.
    var rowsFixed: Bool
    var partitions: [Partition]

    /// Tables with less uncompressed data are written in one stream.
    static let defaultSplitAbove: Int64 = 64 << 20
    /// More partitions than this are written in one stream (two queries each would cost more than they gain).
    static let maxPartitions = 1024

    var folder: String { "clickhouse/\(table)" }
    /// The table's manifest entry before any part is recorded.
    var emptyEntry: PackageManifest.ClickHouseTable { .init(schema: "clickhouse/\(table).sql", data: folder, rows: 0, parts: []) }
    func file(_ p: Partition) -> String { "\(folder)/\(p.id).tsv" }
    /// The export state's key: the file (the schema's key, `<folder>/schema`, is never a file's).
    func partId(_ p: Partition) -> String { file(p) }
    /// Selects exactly the partition's rows, whatever parts a merge has made of it.
    func condition(_ p: Partition) -> String {
        PartitionCopy.condition(key: key, literal: PartitionCopy.literal(p.value, type: keyType))
    }

    /// The decision: split a MergeTree-family table with PARTITION BY, 2 to ``maxPartitions``
    /// partitions whose IDs make plain file names, and more than `splitAbove` bytes (0: any size).
    static func plan(table: String, engine: String, key: String, keyType: String, partitions: [String: ClickHousePartitions.Partition], splitAbove: Int64) -> ClickHouseSplit? {
        let family = engine.hasPrefix("Replicated") ? String(engine.dropFirst("Replicated".count)) : engine
        guard ClickHouseNames.mergeTrees.contains(family), !key.trimmingCharacters(in: .whitespaces).isEmpty, !keyType.isEmpty else { return nil }
        guard (2...maxPartitions).contains(partitions.count), partitions.keys.allSatisfy(plainName) else { return nil }
        let bytes = partitions.values.reduce(Int64(0)) { sum, p in
            let (total, overflow) = sum.addingReportingOverflow(max(0, p.bytes))
            return overflow ? .max : total
        }
        guard splitAbove == 0 || bytes > splitAbove else { return nil }
        return ClickHouseSplit(table: table, key: key, keyType: keyType, rowsFixed: family == "MergeTree",
                               partitions: partitions.map { Partition(id: $0.key, value: $0.value.value, rows: $0.value.rows, version: $0.value.version) }.sorted { $0.id < $1.id })
    }

    /// The partitions whose condition does not select exactly their rows (`counted`: what
    /// `count() … WHERE` gave for each): a NaN or NULL key, a value printed in a way SQL does not
    /// read back, rows deleted but still counted in `system.parts`. Any of them, and the table is
    /// written in one stream.
    func probeProblems(counted: [String: Int]) -> [String] {
        partitions.filter { counted[$0.id] != $0.rows }.map { "\($0.id) (\(counted[$0.id].map(String.init) ?? "?") rows by its key, \($0.rows) in system.parts)" }
    }

    /// What the manifest's parts of a split table must be, whatever the files hold: each inside
    /// the table's folder with a sha256, each partition once, adding up to the table's rows and
    /// partitions. Pure; the restore and `--verify` both apply it.
    static func partsProblems(_ entry: PackageManifest.ClickHouseTable, table: String, sha256: [String: String]) -> [String] {
        guard let parts = entry.parts else { return [] }
        var problems: [String] = []
        let prefix = "clickhouse/\(table)/"
        for p in parts {
            if !p.file.hasPrefix(prefix) || p.file.dropFirst(prefix.count).contains("/") || p.file.count == prefix.count {
                problems.append("\(p.file) is not a file of \(prefix)")
            } else if sha256[p.file] == nil {
                problems.append("\(p.file) has no sha256 in the manifest")
            }
        }
        let byPartition = Dictionary(grouping: parts, by: \.partition)
        for (id, list) in byPartition.sorted(by: { $0.key < $1.key }) where list.count > 1 { problems.append("partition \(id) has \(list.count) files") }
        let total = parts.reduce(0) { $0 &+ $1.rows }
        if total != entry.rows { problems.append("the parts hold \(total) rows, the manifest's table \(entry.rows)") }
        if let expected = entry.partitions, expected != byPartition.mapValues({ $0.reduce(0) { $0 &+ $1.rows } }) {
            problems.append("the parts' partitions differ from the manifest's partitions of \(table)")
        }
        return problems
    }

    /// Letters, digits, `_` and `-`, as ClickHouse makes partition IDs; never `.` or `/`.
    static func plainName(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 128 && id.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-" }
    }

    /// Why a partition's file cannot stand: its rows differ from what `system.parts` counted.
    func rowsProblem(_ p: Partition, written: Int) -> String? {
        guard rowsFixed, written != p.rows else { return nil }
        return "ClickHouse \(table) partition \(p.id): \(written) rows written, \(p.rows) in system.parts when the export planned it: "
            + "the table changed during the export, or the stream broke. Stop the application's writers and export again"
    }

    /// The partitions an earlier run wrote that no longer stand: gone from the plan, written at
    /// another version (an insert or a mutation since; a merge keeps it), or (plain MergeTree)
    /// holding other rows now. Their parts are written again.
    func stale(_ recorded: [PackageManifest.ClickHousePart]) -> [String] {
        let planned = Dictionary(partitions.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return recorded.filter { r in planned[r.partition].map { $0.version != r.version || (rowsFixed && $0.rows != r.rows) } ?? true }.map(\.partition)
    }

    /// The last look: the source holds exactly the partitions written, at the versions they were
    /// written at, with (plain MergeTree) their rows.
    func changedProblem(now: [String: ClickHousePartitions.Partition], written: [PackageManifest.ClickHousePart]) -> String? {
        let byId = Dictionary(written.map { ($0.partition, $0) }, uniquingKeysWith: { a, _ in a })
        let created = Set(now.keys).subtracting(byId.keys).sorted()
        let dropped = Set(byId.keys).subtracting(now.keys).sorted()
        let grown = byId.values.filter { w in now[w.partition].map { $0.version != w.version || (rowsFixed && $0.rows != w.rows) } ?? false }.map(\.partition).sorted()
        guard !(created.isEmpty && dropped.isEmpty && grown.isEmpty) else { return nil }
        func list(_ ids: [String]) -> String { ids.prefix(5).joined(separator: ", ") + (ids.count > 5 ? " and \(ids.count - 5) more" : "") }
        var what: [String] = []
        if !created.isEmpty { what.append("partition(s) \(list(created)) created") }
        if !dropped.isEmpty { what.append("partition(s) \(list(dropped)) dropped") }
        if !grown.isEmpty { what.append("partition(s) \(list(grown)) changed") }
        return "ClickHouse \(table) changed during the export: \(what.joined(separator: "; ")). Stop the application's writers and export again"
    }

    /// After every part: rows and partitions totalled from the parts, once the last look passes.
    func finish(now: [String: ClickHousePartitions.Partition], manifest: inout PackageManifest) throws {
        guard var entry = manifest.clickhouse[table], let parts = entry.parts, !entry.schema.isEmpty else {
            throw StepError.io("internal: \(table) has no parts or schema recorded")
        }
        if let problem = changedProblem(now: now, written: parts) { throw StepError.target(problem) }
        let written = Dictionary(parts.map { ($0.partition, $0.rows) }, uniquingKeysWith: &+)
        entry.rows = written.values.reduce(0, &+)
        entry.partitions = written
        manifest.clickhouse[table] = entry
    }

    /// Reads the table's engine, partition key and partitions, plans, and probes every
    /// partition's condition (``probeProblems(counted:)``). Nil, with the reason when there is one
    /// worth telling, for a table written in one stream. I/O.
    static func read(_ table: String, client: ClickHouseClient, splitAbove: Int64) async throws -> (ClickHouseSplit?, note: String?) {
        let (database, name) = try ClickHouseRestore.split(table)
        let row = try await client.query("SELECT engine, partition_key FROM system.tables WHERE database = '\(ClickHouseText.escape(database))' AND name = '\(ClickHouseText.escape(name))' FORMAT TabSeparated")
        let f = row.split(separator: "\n").first.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) } } ?? []
        guard f.count == 2, !f[1].trimmingCharacters(in: .whitespaces).isEmpty else { return (nil, nil) }
        let partitions = try await ClickHousePartitions.read(client, database: database, table: name)
        // Cheap refusals first: the type query reads a row, the probe every partition's keys.
        guard plan(table: table, engine: f[0], key: f[1], keyType: "?", partitions: partitions, splitAbove: splitAbove) != nil else { return (nil, nil) }
        let keyType = try await client.query("SELECT toTypeName((\(f[1]))) FROM \(table) LIMIT 1 FORMAT TabSeparated").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let split = plan(table: table, engine: f[0], key: f[1], keyType: keyType, partitions: partitions, splitAbove: splitAbove) else { return (nil, nil) }
        var counted: [String: Int] = [:]
        for p in split.partitions {
            do {
                counted[p.id] = Int(try await client.query("SELECT count() FROM \(table) WHERE \(split.condition(p)) FORMAT TabSeparated").trimmingCharacters(in: .whitespacesAndNewlines))
            } catch let e as ClickHouseServerError {
                return (nil, "clickhouse \(table): written in one stream, not per partition: the condition of partition \(p.id) fails (\(e.message.prefix(200)))")
            }
        }
        let problems = split.probeProblems(counted: counted)
        guard problems.isEmpty else {
            return (nil, "clickhouse \(table): written in one stream, not per partition: its key does not select exactly the rows of partition "
                + problems.prefix(3).joined(separator: ", ") + (problems.count > 3 ? " and \(problems.count - 3) more" : ""))
        }
        return (split, nil)
    }
}
