import FerryProtocol
import Foundation
import Testing

/// The ClickHouse copy's results at the scale of a big estate (500 tables × 1,000 partitions):
/// the step's report still fits the 4 KiB termination message, and the counts stay whole.
@Suite("ClickHouse results fit the report at 500 tables")
struct ClickHouseResultSizeTests {
    /// The report line as the step writes it; Kubernetes keeps 4,096 bytes of it.
    func reportSize<R: Encodable>(_ r: R) -> Int { StepReport.success(r).utf8.count }

    @Test("clickhouse-schema for 500 tables with long statements: the report fits, the counts cover all 500, the statements side by side for the first tables, the rest counted as unlisted")
    func schema() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<20 {
            let n = trial == 0 ? 500 : Int.random(in: 0...700, using: &rng)
            let tables = (0..<n).map { i in
                let name = "db_\(trial).table_with_a_rather_long_name_\(i)" + String(repeating: "x", count: Int.random(in: 0...120, using: &rng))
                let ddl = "CREATE TABLE \(name) (d Date, id UInt64, s String" + String(repeating: ", c UInt8", count: Int.random(in: 0...200, using: &rng)) + ") ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, id)"
                return ClickHouseSchemaResult.Table(table: name, sourceEngine: "MergeTree", targetEngine: "ReplicatedMergeTree", action: i % 3 == 0 ? "kept" : "created",
                                                    source: ddl, target: ddl.replacingOccurrences(of: "MergeTree", with: "ReplicatedMergeTree('/clickhouse/{shard}/x', '{replica}')"))
            }
            let full = ClickHouseSchemaResult(tables: tables, cluster: "main")
            let r = full.compacted()
            #expect(reportSize(r) <= 4_000, "\(n) tables: \(reportSize(r)) bytes")
            #expect(r.created + r.kept == n && r.kept == tables.filter { $0.action == "kept" }.count)
            #expect(r.tables.count + (r.unlisted ?? 0) == n)
            #expect(r.tables.map(\.table) == tables.prefix(r.tables.count).map(\.table), "the listed tables are the first ones, in order")
            #expect(n == 0 || !r.tables.isEmpty, "\(r.tables.count) of \(n) listed")
            #expect(r.summary.hasPrefix("\(n) tables (\(n - r.kept) created, \(r.kept) kept) on cluster main"), "\(r.summary)")
            if n > 0 && tables[0].source!.utf8.count + tables[0].target!.utf8.count <= 2_400 {
                #expect(r.tables.first?.source == tables[0].source && r.tables.first?.target == tables[0].target, "the first statements side by side")
            }
        }
        let few = ClickHouseSchemaResult(tables: [.init(table: "a.b", sourceEngine: "MergeTree", targetEngine: "MergeTree", action: "created", source: "CREATE TABLE a.b", target: "CREATE TABLE a.b")])
        #expect(few.compacted() == few, "a small result is left whole")
    }

    @Test("clickhouse-copy over 500 tables × 1,000 partitions with thousands of re-copied partitions and Distributed tables: the report fits, the counts whole, the lines cut and counted")
    func copy() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<20 {
            let rounds = (0..<Int.random(in: 0...5_000, using: &rng)).map { i in
                "db.table_\(i % 500) ('\(String(repeating: "k", count: Int.random(in: 0...400, using: &rng)))', \(i)): source 1000 rows, target 998; copied again (round 2)"
            }
            let distributed = (0..<Int.random(in: 0...500, using: &rng)).map { "db.distributed_table_number_\($0)_all" }
            let r = ClickHouseCopyResult(table: trial == 0 ? String(repeating: "db.t*", count: 200) : "db.*", tables: 500, partitions: 500_000, copied: 499_000, skipped: 1_000, rounds: rounds,
                                         rows: 9_000_000_000, seconds: 86_400, rowsPerSecond: 104_166, verified: "count() / uniqExact(d, id) of each table and of each of its 500000 partitions equal on both sides",
                                         schemaOnly: distributed.isEmpty ? nil : distributed).compacted()
            #expect(reportSize(r) <= 4_000, "\(rounds.count) round lines, \(distributed.count) Distributed: \(reportSize(r)) bytes")
            #expect(r.partitions == 500_000 && r.copied == 499_000 && r.tables == 500)
            if rounds.isEmpty { #expect(r.rounds.isEmpty) } else {
                #expect(r.rounds.first?.hasPrefix(String(rounds[0].prefix(150))) == true)
                let listed = r.rounds.count - (r.rounds.last?.hasPrefix("… and ") == true ? 1 : 0)
                #expect(listed == rounds.count || r.rounds.last == "… and \(rounds.count - listed) more (the step's log has them all)", "\(r.rounds.last ?? "")")
                #expect(r.rounds.allSatisfy { $0.count <= 200 })
            }
        }
    }
}
