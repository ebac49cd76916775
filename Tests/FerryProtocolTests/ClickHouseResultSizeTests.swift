import FerryProtocol
import Foundation
import Testing

/// The ClickHouse copy's results at the scale of a big estate (500 tables × 1,000 partitions),
/// with names, partition values and statements as hostile as a source server can make them:
/// the step's report still fits the 4 KiB termination message, and the counts stay whole.
@Suite("ClickHouse results fit the report at 500 tables")
struct ClickHouseResultSizeTests {
    /// Seeded, so a failure is reproduced by its trial number.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Text a server may hand back: quotes, backslashes, control bytes (6 bytes each in JSON), non-ASCII.
    static func hostile(_ n: Int, _ rng: inout Seeded) -> String {
        let alphabet: [Character] = ["a", "z", "_", "\"", "\\", "\u{01}", "\u{1F}", "\n", "\t", "é", "日", "🦀", "'", " "]
        return String((0..<n).map { _ in alphabet.randomElement(using: &rng)! })
    }

    @Test("clickhouse-schema for up to 700 tables, hostile names and statements: the report as encoded fits, the counts cover every table, the first tables listed in order, the rest counted", arguments: 0..<12)
    func schema(trial: UInt64) throws {
        var rng = Seeded(state: trial)
        let n = trial == 0 ? 500 : Int.random(in: 0...700, using: &rng)
        let tables = (0..<n).map { i in
            let name = "db.t\(i)_" + Self.hostile(Int.random(in: 0...300, using: &rng), &rng)
            let ddl = "CREATE TABLE x (d Date DEFAULT '" + Self.hostile(Int.random(in: 0...2_000, using: &rng), &rng) + "') ENGINE = MergeTree PARTITION BY d ORDER BY d"
            return ClickHouseSchemaResult.Table(table: name, sourceEngine: "MergeTree", targetEngine: Self.hostile(Int.random(in: 0...150, using: &rng), &rng), action: i % 3 == 0 ? "kept" : "created",
                                                source: ddl, target: ddl + Self.hostile(20, &rng))
        }
        let r = ClickHouseSchemaResult(tables: tables, cluster: "main").compacted()
        #expect(ReportSize.of(r) <= 4_000, "\(n) tables: \(ReportSize.of(r)) bytes")
        #expect(r.created + r.kept == n && r.kept == tables.filter { $0.action == "kept" }.count)
        #expect(r.tables.count + (r.unlisted ?? 0) == n)
        #expect(zip(r.tables, tables).allSatisfy { $0.table == ReportSize.cut($1.table, 200) }, "the listed tables are the first ones, in order")
        #expect(n == 0 || !r.tables.isEmpty, "\(r.tables.count) of \(n) listed")
        #expect(r.summary.hasPrefix("\(n) tables (\(n - r.kept) created, \(r.kept) kept) on cluster main"), "\(r.summary)")
        let decoded = try JSONDecoder().decode(ClickHouseSchemaResult.self, from: Data(StepReport.success(r).dropFirst(#"{"ok":true,"result":"#.count).dropLast().utf8))
        #expect(decoded == r, "the report reads back")
    }

    @Test("a small schema result is left whole; one written before the counts were kept still reads, counted from its tables")
    func schemaSmallAndOld() throws {
        let few = ClickHouseSchemaResult(tables: [.init(table: "a.b", sourceEngine: "MergeTree", targetEngine: "MergeTree", action: "created", source: "CREATE TABLE a.b", target: "CREATE TABLE a.b")])
        #expect(few.compacted() == few)
        let old = #"{"tables":[{"table":"a.b","sourceEngine":"MergeTree","targetEngine":"MergeTree","action":"created"},{"table":"a.c","sourceEngine":"Log","targetEngine":"Log","action":"kept"}]}"#
        let r = try JSONDecoder().decode(ClickHouseSchemaResult.self, from: Data(old.utf8))
        #expect(r.created == 1 && r.kept == 1 && r.summary.hasPrefix("2 tables (1 created, 1 kept)"))
    }

    @Test("clickhouse-copy over 500 tables × 1,000 partitions, thousands of re-copied partitions with hostile values, Distributed tables, one verify mode per table: the report as encoded fits, the counts whole, the lines cut and counted", arguments: 0..<12)
    func copy(trial: UInt64) {
        var rng = Seeded(state: 1_000 + trial)
        let rounds = (0..<Int.random(in: 0...5_000, using: &rng)).map { i in
            "db.table_\(i % 500) \(Self.hostile(Int.random(in: 0...400, using: &rng), &rng)): source 1000 rows, target 998; copied again (round 2)"
        }
        let distributed = (0..<Int.random(in: 0...500, using: &rng)).map { "db.dist_\($0)_" + Self.hostile(Int.random(in: 0...50, using: &rng), &rng) }
        let modes = (0..<Int.random(in: 1...500, using: &rng)).map { "uniqExact(k\($0), " + Self.hostile(Int.random(in: 0...40, using: &rng), &rng) + ")" }
        let r = ClickHouseCopyResult(table: trial == 0 ? String(repeating: "db.t*", count: 200) : "db.*", tables: 500, partitions: 500_000, copied: 499_000, skipped: 1_000, rounds: rounds,
                                     rows: 9_000_000_000, seconds: 86_400, rowsPerSecond: 104_166, verified: modes.joined(separator: " / ") + " of each table and of each of its 500000 partitions equal on both sides",
                                     schemaOnly: distributed.isEmpty ? nil : distributed).compacted()
        #expect(ReportSize.of(r) <= 4_000, "\(rounds.count) round lines, \(distributed.count) Distributed, \(modes.count) modes: \(ReportSize.of(r)) bytes")
        #expect(r.partitions == 500_000 && r.copied == 499_000 && r.tables == 500 && r.rows == 9_000_000_000)
        if rounds.isEmpty { #expect(r.rounds.isEmpty) } else {
            let listed = r.rounds.count - (r.rounds.last?.hasPrefix("… and ") == true ? 1 : 0)
            #expect(zip(r.rounds.prefix(listed), rounds).allSatisfy { $0 == ReportSize.cut($1, 200) }, "the first lines, each cut to 200 characters")
            #expect(listed == rounds.count || r.rounds.last == "… and \(rounds.count - listed) more (the step's log has them all)", "\(r.rounds.last ?? "")")
        }
        if !distributed.isEmpty {
            let listed = (r.schemaOnly ?? []).filter { !$0.hasPrefix("… and ") }.count
            #expect(listed == distributed.count || r.schemaOnly?.last == "… and \(distributed.count - listed) more Distributed tables")
        }
    }

    @Test("a failure's message, however hostile, is cut until the report line fits", arguments: 0..<10)
    func failure(trial: UInt64) throws {
        var rng = Seeded(state: 2_000 + trial)
        let message = "db.t: partitions still differ (" + Self.hostile(Int.random(in: 0...20_000, using: &rng), &rng) + ")"
        let line = StepReport.failure(message)
        #expect(line.utf8.count <= 4_000, "\(line.utf8.count) bytes")
        let report = try JSONDecoder().decode(StepReport.self, from: Data(line.utf8))
        #expect(report.ok == false && (report.error ?? "").hasPrefix(String(message.prefix(20))))
    }
}
