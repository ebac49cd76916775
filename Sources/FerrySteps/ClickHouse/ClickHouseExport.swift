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
        let create = try await client.query("SHOW CREATE TABLE \(table) FORMAT TSVRaw")
        try Data((create.trimmingCharacters(in: .whitespacesAndNewlines) + "\n").utf8).write(to: URL(fileURLWithPath: packageRoot + "/" + schemaPath))
        // Rows counted and sha256 taken as the data is written, never by reading it back.
        let data = try await client.download("SELECT * FROM \(table) FORMAT TabSeparated", to: packageRoot + "/" + dataPath)
        let rows = data.lines
        let parts = try await client.query(
            "SELECT partition_id, sum(rows) FROM system.parts WHERE database = '\(database)' AND table = '\(name)' AND active GROUP BY partition_id FORMAT TabSeparated")
        var partitions: [String: Int] = [:]
        for line in parts.split(separator: "\n") {
            let cols = line.split(separator: "\t")
            if cols.count == 2, let n = Int(cols[1]) { partitions[String(cols[0])] = n }
        }
        // An unpartitioned MergeTree has the one partition "all"; other engines have none.
        let partitioned = !(partitions.isEmpty || (partitions.count == 1 && partitions["all"] != nil))
        let entry = PackageManifest.ClickHouseTable(schema: schemaPath, data: dataPath, rows: rows, partitions: partitioned ? partitions : nil)
        return (entry, data.sha256)
    }
}

extension ClickHouseExport {
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
}
