import Foundation
@testable import FerrySteps
import KubeClient
import Testing
import TestSupport

/// A big partitioned ClickHouse table exported one file per partition (`ClickHouseSplit`):
/// the plan's decisions, then `ferry export` and `ferry restore clickhouse` against a real
/// ClickHouse 18.16, with damaged packages and a table written to during the export.
@Suite("ClickHouse tables exported partition by partition", .timeLimit(.minutes(5)))
struct ClickHouseSplitExportTests {
    typealias P = ClickHousePartitions.Partition
    static let ferry = ClickHouseRestoreTests.ferry

    static func partitions(_ n: Int, bytes: Int64 = 10 << 20) -> [String: P] {
        Dictionary(uniqueKeysWithValues: (0..<n).map { ("2024\(String(format: "%02d", $0 + 1))", P(value: "2024\(String(format: "%02d", $0 + 1))", rows: 100 + $0, bytes: bytes, version: Int64(10 + $0))) })
    }

    @Test("the plan: split a MergeTree-family table with PARTITION BY and 2…1024 partitions above the size; not other engines, one partition, 'all', unplain IDs or a small table")
    func plan() {
        let ps = Self.partitions(3)
        let split = ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "toYYYYMM(d)", keyType: "UInt32", partitions: ps, splitAbove: 16 << 20)
        #expect(split?.partitions.map(\.id) == ["202401", "202402", "202403"])
        #expect(split?.rowsFixed == true)
        #expect(split?.file(split!.partitions[0]) == "clickhouse/a.t/202401.tsv")
        #expect(split?.condition(split!.partitions[1]) == "(toYYYYMM(d)) = 202402")
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "ReplicatedMergeTree", key: "d", keyType: "Date", partitions: ps, splitAbove: 0)?.rowsFixed == true)
        let replacing = ClickHouseSplit.plan(table: "a.t", engine: "ReplacingMergeTree", key: "d", keyType: "Date", partitions: ps, splitAbove: 0)
        #expect(replacing?.rowsFixed == false, "merges drop rows: the file is the count")
        #expect(replacing?.condition(replacing!.partitions[0]) == "(d) = '202401'")
        // Not split:
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: ps, splitAbove: 64 << 20) == nil, "30 MiB is under 64 MiB")
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: ps, splitAbove: 0) != nil, "0 splits every partitioned table")
        for engine in ["Log", "TinyLog", "Memory", "Distributed", "View", "MaterializedView", ""] {
            #expect(ClickHouseSplit.plan(table: "a.t", engine: engine, key: "d", keyType: "Date", partitions: ps, splitAbove: 0) == nil, "\(engine)")
        }
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: " ", keyType: "Date", partitions: ps, splitAbove: 0) == nil)
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "", partitions: ps, splitAbove: 0) == nil)
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: Self.partitions(1), splitAbove: 0) == nil)
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: Self.partitions(1025, bytes: 1), splitAbove: 0) == nil)
        #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: Self.partitions(4, bytes: Int64.max / 2), splitAbove: 1) != nil, "sizes that overflow a sum do not trap")
        for bad in ["../x", "a/b", ".", "..", "", "a.b", "a b", "é", String(repeating: "a", count: 129), "a\u{0}b", "a\nb"] {
            var hostile = ps
            hostile[bad] = P(value: "1", rows: 1, bytes: 1)
            #expect(ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: hostile, splitAbove: 0) == nil, "partition ID \(bad.debugDescription) makes no plain file name")
        }
        // Generated IDs: a plan is made only when every ID is a plain name.
        for _ in 0..<500 {
            let id = String((0..<Int.random(in: 1...12)).map { _ in "aZ09_-./ \\é\u{0}".randomElement()! })
            var generated = ps
            generated[id] = P(value: "1", rows: 1, bytes: 1)
            let made = ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: generated, splitAbove: 0)
            let plain = id.allSatisfy { "aZ09_-".contains($0) }
            #expect((made != nil) == plain, "\(id.debugDescription)")
            if let made { #expect(made.partitions.allSatisfy { !$0.id.contains("/") && !$0.id.hasPrefix(".") }) }
        }
    }

    @Test("the checks: each partition's key selects its rows (the probe); a partition's rows against system.parts (plain MergeTree); partitions created, dropped or changed (a new version: an insert or a mutation) since, named; stale parts of an earlier run; the parts a manifest may hold; the totals")
    func checks() throws {
        let split = ClickHouseSplit.plan(table: "a.t", engine: "MergeTree", key: "d", keyType: "Date", partitions: Self.partitions(3), splitAbove: 0)!
        #expect(split.probeProblems(counted: ["202401": 100, "202402": 101, "202403": 102]).isEmpty)
        #expect(split.probeProblems(counted: ["202401": 0, "202402": 101]) == ["202401 (0 rows by its key, 100 in system.parts)", "202403 (? rows by its key, 102 in system.parts)"])
        let p = split.partitions[0]
        #expect(split.rowsProblem(p, written: p.rows) == nil)
        #expect(split.rowsProblem(p, written: p.rows - 1)?.contains("partition 202401: 99 rows written, 100 in system.parts") == true)
        var replacing = split
        replacing.rowsFixed = false
        #expect(replacing.rowsProblem(p, written: 1) == nil)

        let written = split.partitions.map { PackageManifest.ClickHousePart(file: split.file($0), partition: $0.id, rows: $0.rows, version: $0.version) }
        var now = Self.partitions(3)
        #expect(split.changedProblem(now: now, written: written) == nil)
        now["202401"]!.rows = 90  // a merge in a replacing table: fewer rows, the same version
        #expect(replacing.changedProblem(now: now, written: written) == nil, "a replacing merge drops rows and keeps the version")
        #expect(split.changedProblem(now: now, written: written)?.contains("202401 changed") == true)
        now["202401"]!.rows = 100
        now["202404"] = P(value: "202404", rows: 5, bytes: 1, version: 40)
        now["202402"]!.version = 99  // an insert or a mutation
        now["202403"] = nil
        for s in [split, replacing] {
            let problem = s.changedProblem(now: now, written: written) ?? ""
            #expect(problem.contains("202404 created") && problem.contains("202403 dropped") && problem.contains("202402 changed") && !problem.contains("202401"), "\(problem)")
        }

        var recorded = written
        recorded[1].version = 7
        recorded.append(.init(file: "clickhouse/a.t/202312.tsv", partition: "202312", rows: 3, version: 1))
        recorded[0].rows = 1
        #expect(split.stale(recorded) == ["202401", "202402", "202312"])
        #expect(replacing.stale(recorded) == ["202402", "202312"], "other rows at the same version: a merge")
        #expect(split.stale(written.map { var w = $0; w.version = nil; return w }).count == 3, "parts of a Ferry that recorded no version are written again")

        var manifest = PackageManifest(clickhouse: ["a.t": .init(schema: "clickhouse/a.t.sql", data: split.folder, rows: 0, parts: written)])
        try split.finish(now: Self.partitions(3), manifest: &manifest)
        let entry = manifest.clickhouse["a.t"]!
        #expect(entry.rows == 303)
        #expect(entry.partitions == ["202401": 100, "202402": 101, "202403": 102])
        #expect(throws: StepError.self) { try split.finish(now: now, manifest: &manifest) }

        let sums = Dictionary(uniqueKeysWithValues: written.map { ($0.file, "ab") })
        #expect(ClickHouseSplit.partsProblems(entry, table: "a.t", sha256: sums).isEmpty)
        var bad = entry
        bad.parts![0].file = "clickhouse/a.t/../b.t/x.tsv"
        bad.parts![1].partition = bad.parts![2].partition
        bad.rows = 1
        let problems = ClickHouseSplit.partsProblems(bad, table: "a.t", sha256: [:])
        #expect(problems.contains("clickhouse/a.t/../b.t/x.tsv is not a file of clickhouse/a.t/") && problems.contains("clickhouse/a.t/202402.tsv has no sha256 in the manifest")
                && problems.contains("partition 202403 has 2 files") && problems.contains("the parts hold 303 rows, the manifest's table 1")
                && problems.contains("the parts' partitions differ from the manifest's partitions of a.t"), "\(problems)")
        for folder in ["clickhouse/a.t/", "clickhouse/a.tx/y.tsv", "clickhouse/a.t", "a.t/y.tsv"] {
            var one = entry
            one.parts![0].file = folder
            #expect(ClickHouseSplit.partsProblems(one, table: "a.t", sha256: [folder: "ab"]).contains("\(folder) is not a file of clickhouse/a.t/"), "\(folder)")
        }
    }

    // MARK: - real server

    /// `db.events` (3 monthly partitions, awkward strings) and `db.small` (unpartitioned), and an export config for both.
    static func source(_ servers: TestServers, parallelism: Int) async throws -> (db: String, config: String, output: String) {
        let ch = try ClickHouseRestoreTests.admin(servers)
        let db = ClickHouseRestoreTests.unique("chsplit")
        try await ClickHouseRestoreTests.makeSource(ch, database: db, rows: 30_000)
        try await ch.query("CREATE TABLE \(db).small (id UInt64, s String) ENGINE = MergeTree ORDER BY id")
        try await ch.query("INSERT INTO \(db).small SELECT number, toString(number) FROM system.numbers LIMIT 100")
        let dir = try makeTempDir("chsplit")
        try "s3cret pass".write(toFile: dir + "/pw", atomically: true, encoding: .utf8)
        let output = dir + "/package"
        let yaml = """
            output: \(output)
            appVersion: "6.4.1"
            clickhouse: {url: "\(servers.clickhouseURL)", user: ferry, passwordFile: "\(dir)/pw", tables: ["\(db).*"], parallelism: \(parallelism), splitAboveBytes: 0}
            """
        try yaml.write(toFile: dir + "/export.yaml", atomically: true, encoding: .utf8)
        return (db, dir + "/export.yaml", output)
    }

    static func manifest(_ package: String) throws -> PackageManifest {
        try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: package + "/manifest.json")))
    }

    /// The package's `db.events` moved to `target.events`: schema, folder, part paths and sums (the test restores beside the source).
    static func retarget(_ package: String, from db: String, to target: String) throws -> String {
        var m = try manifest(package)
        let old = "\(db).events", new = "\(target).events"
        var entry = m.clickhouse.removeValue(forKey: old)!
        let schema = try String(contentsOfFile: package + "/" + entry.schema, encoding: .utf8).replacingOccurrences(of: "CREATE TABLE \(old)", with: "CREATE TABLE \(new)")
        entry.schema = "clickhouse/\(new).sql"
        try Data(schema.utf8).write(to: URL(fileURLWithPath: package + "/" + entry.schema))
        try FileManager.default.moveItem(atPath: package + "/clickhouse/\(old)", toPath: package + "/clickhouse/\(new)")
        entry.data = "clickhouse/\(new)"
        entry.parts = entry.parts?.map { p in
            var q = p
            q.file = p.file.replacingOccurrences(of: "clickhouse/\(old)/", with: "clickhouse/\(new)/")
            m.sha256[q.file] = m.sha256.removeValue(forKey: p.file)
            return q
        }
        m.clickhouse[new] = entry
        m.clickhouse["\(db).small"] = nil
        try ManifestBuilder.writeJSON(m, to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(clickhouse: [new])), to: package + "/ferry-package.json")
        return new
    }

    @Test("ferry export writes each partition of a big table to its own file, 3 at once, rows counted per partition; --verify and validate pass; ferry restore clickhouse loads every part and the table equals the source; damaged parts are refused by name before the target is touched")
    func exportAndRestore() async throws {
        let servers = try await TestServers.shared()
        let ch = try ClickHouseRestoreTests.admin(servers)
        let (db, config, output) = try await Self.source(servers, parallelism: 3)
        let export = try await runCommand(Self.ferry, ["export", "--config", config], timeout: 120)
        #expect(export.status == 0, "\(export.combined)")
        let m = try Self.manifest(output)
        let events = try #require(m.clickhouse["\(db).events"])
        let ids = try await ch.query("SELECT DISTINCT partition_id FROM system.parts WHERE active AND database = '\(db)' AND table = 'events' ORDER BY partition_id FORMAT TabSeparated")
            .split(separator: "\n").map(String.init)
        #expect(ids.count == 3)
        #expect(events.parts?.map(\.partition) == ids, "one part per partition")
        #expect(events.parts?.allSatisfy { $0.file == "clickhouse/\(db).events/\($0.partition).tsv" && m.sha256[$0.file] != nil } == true)
        #expect(events.rows == 30_001 && events.parts?.reduce(0, { $0 + $1.rows }) == 30_001)
        for part in events.parts ?? [] {
            let counted = try await ch.query("SELECT count() FROM \(db).events WHERE toYYYYMM(d) = \(part.partition) FORMAT TabSeparated").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(String(part.rows) == counted, "\(part.partition)")
            #expect(events.partitions?[part.partition] == part.rows)
        }
        #expect(m.clickhouse["\(db).small"]?.parts == nil && m.clickhouse["\(db).small"]?.rows == 100, "an unpartitioned table stays one file")
        let verify = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verify.status == 0, "\(verify.combined)")
        let validate = try await runCommand(Self.ferry, ["restore", "validate", "--package", output, "--app-version", "6.4.1"], timeout: 60)
        #expect(validate.status == 0, "\(validate.combined)")

        // Restored beside the source: every part in, content equal.
        let target = ClickHouseRestoreTests.unique("chsplitdst")
        let table = try Self.retarget(output, from: db, to: target)
        let (status, json, out) = try await ClickHouseRestoreTests.restore(servers, package: output, table: table, extra: ["--max-insert-block-size", "4000"])
        #expect(status == 0, "\(out)")
        #expect(json["result"]?["rows"]?.intValue == 30_001 && json["result"]?["partitions"]?.intValue == 3, "\(json)")
        #expect(try await ClickHouseRestoreTests.fingerprint(ch, table) == (try await ClickHouseRestoreTests.fingerprint(ch, "\(db).events")))

        // Damaged packages: refused naming the file, the restored table left as it is.
        try await ch.query("INSERT INTO \(table) VALUES ('2030-01-01', 1, 'sentinel', NULL)")
        let before = try await ClickHouseRestoreTests.fingerprint(ch, table)
        let pristine = try Self.manifest(output)
        let part = try #require(pristine.clickhouse[table]?.parts?.first)
        let partPath = output + "/" + part.file
        let original = try Data(contentsOf: URL(fileURLWithPath: partPath))
        func attempt(_ expected: String, _ why: Comment) async throws {
            let (status, _, out) = try await ClickHouseRestoreTests.restore(servers, package: output, table: table)
            #expect(status != 0 && out.contains(expected), why)
            #expect(out.contains("Nothing was changed"), "\(out)")
            #expect(try await ClickHouseRestoreTests.fingerprint(ch, table) == before, "the target is untouched")
        }
        // A byte changed.
        var flipped = original
        flipped[flipped.count / 2] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: partPath))
        try await attempt("\(part.file) has sha256", "a changed byte")
        let verifyBad = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verifyBad.status != 0 && verifyBad.combined.contains(part.file), "\(verifyBad.combined)")
        // A row removed, its sha256 made to agree.
        let lines = original.split(separator: 0x0A, omittingEmptySubsequences: false)
        let shorter = Data(lines.dropFirst().joined(separator: [0x0A]))
        try shorter.write(to: URL(fileURLWithPath: partPath))
        var edited = pristine
        edited.sha256[part.file] = try ManifestBuilder.sha256(of: partPath)
        try ManifestBuilder.writeJSON(edited, to: output + "/manifest.json")
        try await attempt("\(part.file) holds \(part.rows - 1) rows, the manifest says \(part.rows)", "a row removed")
        let verifyShort = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verifyShort.status != 0 && verifyShort.combined.contains("\(part.file): \(part.rows - 1) rows"), "--verify counts each part's rows: \(verifyShort.combined)")
        try original.write(to: URL(fileURLWithPath: partPath))
        // A part naming a file outside the table's folder, and a partition twice.
        edited = pristine
        edited.clickhouse[table]?.parts?[0].file = "clickhouse/\(table).sql"
        edited.sha256["clickhouse/\(table).sql"] = try ManifestBuilder.sha256(of: output + "/clickhouse/\(table).sql")
        try ManifestBuilder.writeJSON(edited, to: output + "/manifest.json")
        try await attempt("is not a file of clickhouse/\(table)/", "a part outside its folder")
        edited = pristine
        edited.clickhouse[table]?.parts?[1].partition = part.partition
        try ManifestBuilder.writeJSON(edited, to: output + "/manifest.json")
        try await attempt("partition \(part.partition) has 2 files", "a partition twice")
        try ManifestBuilder.writeJSON(pristine, to: output + "/manifest.json")
        let (again, _, out2) = try await ClickHouseRestoreTests.restore(servers, package: output, table: table)
        #expect(again == 0, "the repaired package restores: \(out2)")
    }

    @Test("keys of every kind split and round-trip: a ReplacingMergeTree by a String (\\r, tab, quote, UTF-8), a tuple of a negative Int and a String, a Date; a Float key holding nan, which its condition cannot select, is written in one stream and says so; an empty table restores")
    func keyKinds() async throws {
        let servers = try await TestServers.shared()
        let ch = try ClickHouseRestoreTests.admin(servers)
        let db = ClickHouseRestoreTests.unique("chkeys")
        try await ch.query("CREATE DATABASE \(db)")
        try await ch.query("CREATE TABLE \(db).rep (k String, v UInt64, s String) ENGINE = ReplacingMergeTree ORDER BY v PARTITION BY k")
        try await ch.query("INSERT INTO \(db).rep SELECT ['a\\rb', 'tab\\there', 'it''s', 'plain', '日本', 'back\\\\slash'][number % 6 + 1], number, toString(number) FROM system.numbers LIMIT 6000")
        try await ch.query("CREATE TABLE \(db).tup (n Int32, k String, v UInt64) ENGINE = MergeTree ORDER BY v PARTITION BY (n, k)")
        try await ch.query("INSERT INTO \(db).tup SELECT -1 - toInt32(number % 3), ['x', 'y''z'][number % 2 + 1], number FROM system.numbers LIMIT 3000")
        try await ch.query("CREATE TABLE \(db).dates (d Date, v UInt64) ENGINE = MergeTree ORDER BY v PARTITION BY d")
        try await ch.query("INSERT INTO \(db).dates SELECT toDate('2024-02-27') + number % 4, number FROM system.numbers LIMIT 2000")
        try await ch.query("CREATE TABLE \(db).floats (f Float64, v UInt64) ENGINE = MergeTree ORDER BY v PARTITION BY f")
        try await ch.query("INSERT INTO \(db).floats SELECT if(number % 2 = 0, nan, 1.5), number FROM system.numbers LIMIT 1000")
        try await ch.query("CREATE TABLE \(db).empty (d Date, v UInt64) ENGINE = MergeTree ORDER BY v PARTITION BY d")
        func fingerprint(_ t: String) async throws -> String { try await ch.query("SELECT count(), sum(cityHash64(*)) FROM \(db).\(t) FORMAT TabSeparated") }
        var before: [String: String] = [:]
        for t in ["rep", "tup", "dates", "floats", "empty"] { before[t] = try await fingerprint(t) }

        let dir = try makeTempDir("chkeys")
        try "s3cret pass".write(toFile: dir + "/pw", atomically: true, encoding: .utf8)
        try """
            output: \(dir)/package
            appVersion: "6.4.1"
            clickhouse: {url: "\(servers.clickhouseURL)", user: ferry, passwordFile: "\(dir)/pw", tables: ["\(db).*"], parallelism: 2, splitAboveBytes: 0}
            """.write(toFile: dir + "/export.yaml", atomically: true, encoding: .utf8)
        let export = try await runCommand(Self.ferry, ["export", "--config", dir + "/export.yaml"], timeout: 120)
        #expect(export.status == 0, "\(export.combined)")
        #expect(export.combined.contains("clickhouse \(db).floats: written in one stream, not per partition"), "\(export.combined)")
        let m = try Self.manifest(dir + "/package")
        #expect(m.clickhouse["\(db).rep"]?.parts?.count == 6)
        #expect(m.clickhouse["\(db).tup"]?.parts?.count == 6)
        #expect(m.clickhouse["\(db).dates"]?.parts?.count == 4)
        #expect(m.clickhouse["\(db).floats"]?.parts == nil && m.clickhouse["\(db).floats"]?.rows == 1000)
        #expect(m.clickhouse["\(db).empty"]?.rows == 0)
        let verify = try await runCommand(Self.ferry, ["export", "--verify", dir + "/package"])
        #expect(verify.status == 0, "\(verify.combined)")
        // Restored over the (scratch) source tables: the same rows.
        for t in ["rep", "tup", "dates", "floats", "empty"] {
            let (status, _, out) = try await ClickHouseRestoreTests.restore(servers, package: dir + "/package", table: "\(db).\(t)")
            #expect(status == 0, "\(t): \(out)")
            #expect(try await fingerprint(t) == before[t], "\(t)")
        }
    }

    @Test("a partition created and one written to during the export: refused naming both; the rerun writes those two again, skips the rest, and the package holds the new rows")
    func changedDuringExport() async throws {
        let servers = try await TestServers.shared()
        let ch = try ClickHouseRestoreTests.admin(servers)
        let (db, config, output) = try await Self.source(servers, parallelism: 1)
        let flags = try makeTempDir("chsplit-fp")
        let environment = ["FERRY_TEST_FAILPOINT": "clickhouse-partition-written:pause:\(flags)"]
        async let first = runCommand(Self.ferry, ["export", "--config", config], environment: environment, timeout: 120)
        _ = try await eventually(timeout: 60, interval: 0.05) { FileManager.default.fileExists(atPath: flags + "/clickhouse-partition-written.reached") }
        // The first partition (202401) is written, not yet recorded: a row into it, and a partition of its own.
        try await ch.query("INSERT INTO \(db).events VALUES ('2024-01-15', 70000001, 'late', NULL), ('2025-06-01', 70000002, 'new month', 'x')")
        FileManager.default.createFile(atPath: flags + "/clickhouse-partition-written.release", contents: nil)
        let refused = try await first
        #expect(refused.status != 0, "\(refused.combined)")
        #expect(refused.combined.contains("changed during the export") && refused.combined.contains("202506 created") && refused.combined.contains("202401 changed"), "\(refused.combined)")
        #expect(FileManager.default.fileExists(atPath: output + "/" + PackageExporter.stateFile), "the state is kept for the rerun")

        let rerun = try await runCommand(Self.ferry, ["export", "--config", config, "--json"], environment: environment, timeout: 120)
        #expect(rerun.status == 0, "\(rerun.combined)")
        let summary = try JSONWire.parse(Array(rerun.stdout.utf8))
        #expect(summary["resumed"]?.intValue == 4, "the schema of events, two untouched partitions and small were done before: \(rerun.stdout)")
        let m = try Self.manifest(output)
        let events = try #require(m.clickhouse["\(db).events"])
        #expect(events.rows == 30_003)
        #expect(events.parts?.map(\.partition) == ["202401", "202402", "202403", "202506"])
        let january = try await ch.query("SELECT count() FROM \(db).events WHERE toYYYYMM(d) = 202401").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(events.partitions?["202401"].map(String.init) == january)
        let text = try String(contentsOfFile: output + "/clickhouse/\(db).events/202401.tsv", encoding: .utf8)
        #expect(text.contains("70000001\tlate"), "the partition written to was written again")
        let verify = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verify.status == 0, "\(verify.combined)")
    }
}
