import Foundation

/// Writes one ClickHouse table into a package (`clickhouse/<db>.<table>.sql`
/// and `.tsv`) and returns its manifest entry: row count and, for a
/// partitioned table, rows per partition ID as `system.parts` reports them
/// (the same numbers ``ClickHouseRestore`` verifies on the target).
public enum ClickHouseExport {
    public static func exportTable(_ table: String, client: ClickHouseClient, packageRoot: String) async throws -> (entry: PackageManifest.ClickHouseTable, sha256: String) {
        let (database, name) = try ClickHouseRestore.split(table)
        let dir = packageRoot + "/clickhouse"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let schemaPath = "clickhouse/\(table).sql"
        let dataPath = "clickhouse/\(table).tsv"
        try await writeSchema(table, client: client, to: packageRoot + "/" + schemaPath)
        // Rows counted and sha256 taken as the data is written, never by reading it back.
        let data = try await client.download("SELECT * FROM \(table) FORMAT TabSeparated", to: packageRoot + "/" + dataPath)
        let rows = data.lines
        let partitions = try await ClickHousePartitions.read(client, database: database, table: name).mapValues(\.rows)
        // An unpartitioned MergeTree has the one partition "all"; other engines have none.
        let partitioned = !(partitions.isEmpty || (partitions.count == 1 && partitions["all"] != nil))
        let entry = PackageManifest.ClickHouseTable(schema: schemaPath, data: dataPath, rows: rows, partitions: partitioned ? partitions : nil)
        return (entry, data.sha256)
    }

    static func writeSchema(_ table: String, client: ClickHouseClient, to path: String) async throws {
        let create = try await client.query("SHOW CREATE TABLE \(table) FORMAT TSVRaw")
        try Data((create.trimmingCharacters(in: .whitespacesAndNewlines) + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }
}

extension ClickHouseExport {
    /// A table's export parts: the whole table in one stream, or, for a split table
    /// (``ClickHouseSplit``), its schema and one part per partition.
    static func parts(_ table: String, split: ClickHouseSplit?, client: ClickHouseClient, packageRoot: String) -> [ExportPart] {
        guard let split else { return [part(table, client: client, packageRoot: packageRoot)] }
        return [schemaPart(split, client: client, packageRoot: packageRoot)] + split.partitions.map { partitionPart(split, $0, client: client, packageRoot: packageRoot) }
    }

    /// The export part of one table: its schema and TSV data, rows and partitions.
    static func part(_ table: String, client: ClickHouseClient, packageRoot: String) -> ExportPart {
        ExportPart(id: "clickhouse/\(table)", label: table) {
            let (entry, sum) = try await exportTable(table, client: client, packageRoot: packageRoot)
            let schemaSum = try ManifestBuilder.sha256(of: packageRoot + "/" + entry.schema)
            return .init(record: { m in
                m.clickhouse[table] = entry
                m.sha256[entry.data] = sum
                m.sha256[entry.schema] = schemaSum
            }, note: "\(table) \(entry.rows) rows\(entry.partitions.map { ", \($0.count) partitions" } ?? "")")
        }
    }

    static func schemaPart(_ split: ClickHouseSplit, client: ClickHouseClient, packageRoot: String) -> ExportPart {
        let table = split.table
        return ExportPart(id: "clickhouse/\(table)/schema", label: "\(table) schema") {
            let schema = split.emptyEntry.schema
            try FileManager.default.createDirectory(atPath: packageRoot + "/clickhouse", withIntermediateDirectories: true)
            try await writeSchema(table, client: client, to: packageRoot + "/" + schema)
            let sum = try ManifestBuilder.sha256(of: packageRoot + "/" + schema)
            return .init(record: { m in
                var entry = m.clickhouse[table] ?? split.emptyEntry
                entry.schema = schema
                m.clickhouse[table] = entry
                m.sha256[schema] = sum
            }, note: "\(table) schema, \(split.partitions.count) partitions to write")
        }
    }

    /// One partition, selected by its key (`WHERE (<key>) = <value>`, never by part names,
    /// which a merge replaces), rows counted and sha256 taken as it is written.
    static func partitionPart(_ split: ClickHouseSplit, _ p: ClickHouseSplit.Partition, client: ClickHouseClient, packageRoot: String) -> ExportPart {
        let table = split.table
        return ExportPart(id: split.partId(p), label: "\(table) partition \(p.id)") {
            let file = split.file(p)
            try FileManager.default.createDirectory(atPath: packageRoot + "/" + split.folder, withIntermediateDirectories: true)
            let data = try await client.download("SELECT * FROM \(table) WHERE \(split.condition(p)) FORMAT TabSeparated", to: packageRoot + "/" + file)
            if let problem = split.rowsProblem(p, written: data.lines) {
                unlink(packageRoot + "/" + file)
                throw StepError.target(problem)
            }
            Failpoint.hit("clickhouse-partition-written")
            return .init(record: { m in
                var entry = m.clickhouse[table] ?? split.emptyEntry
                var parts = entry.parts ?? []
                parts.removeAll { $0.partition == p.id }
                parts.append(.init(file: file, partition: p.id, rows: data.lines, version: p.version))
                entry.parts = parts.sorted { $0.partition < $1.partition }
                m.clickhouse[table] = entry
                m.sha256[file] = data.sha256
            }, note: "\(table) partition \(p.id): \(data.lines) rows, \(ManifestBuilder.human(Int64(data.bytes)))")
        }
    }
}

/// What `system.parts` says of a table's active partitions. I/O.
enum ClickHousePartitions {
    struct Partition: Equatable, Sendable {
        /// As `system.parts.partition` prints it (the key's value).
        var value: String
        var rows: Int
        var bytes: Int64
        /// The highest block number or mutation version of its active parts: an insert or a
        /// mutation raises it, a merge keeps it.
        var version: Int64 = 0
    }

    static func read(_ client: ClickHouseClient, database: String, table: String) async throws -> [String: Partition] {
        let text = try await client.query("SELECT partition_id, any(partition), sum(rows), sum(data_uncompressed_bytes), greatest(max(max_block_number), max(data_version)) "
            + "FROM system.parts WHERE active AND database = '\(ClickHouseText.escape(database))' AND table = '\(ClickHouseText.escape(table))' GROUP BY partition_id FORMAT TabSeparated")
        var out: [String: Partition] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) }
            guard f.count == 5, let rows = Int(f[2]), let bytes = Int64(f[3]), let version = Int64(f[4]) else {
                throw StepError.target("ClickHouse answered system.parts for \(database).\(table) with a line Ferry cannot read: \(line.prefix(200))")
            }
            out[f[0]] = Partition(value: f[1], rows: rows, bytes: bytes, version: version)
        }
        return out
    }
}
