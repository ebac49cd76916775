import FerryProtocol
@testable import FerrySteps
import Foundation
import KubeClient
import Testing
import TestSupport

/// The old tool's `clickhouse-backup/<db>.<table>.zst` against a real ClickHouse 18.16: Native
/// and TabSeparated dumps (made by the server itself, compressed by zstd) restored into the
/// existing table and counted; the hostile ones refused before the table is touched.
@Suite("the old tool's ClickHouse dumps (zstd, Native or TabSeparated)", .timeLimit(.minutes(4)))
struct LegacyClickHouseTests {
    typealias C = ClickHouseRestoreTests

    /// A legacy package with `db.events.zst` holding the source's rows in `format`.
    static func package(_ ch: ClickHouseClient, source: String, target: String, format: String, extra: [String: [UInt8]] = [:]) async throws -> String {
        let root = try makeTempDir("old-ch")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: root + "/info.json"))
        try FileManager.default.createDirectory(atPath: root + "/clickhouse-backup", withIntermediateDirectories: true)
        let raw = root + "/raw"
        try await ch.download("SELECT * FROM \(source).events FORMAT \(format)", to: raw)
        let z = try await runCommand("/usr/bin/zstd", ["-q", "--rm", raw, "-o", "\(root)/clickhouse-backup/\(target).events.zst"])
        #expect(z.status == 0, "\(z.combined)")
        for (name, bytes) in extra { try Data(bytes).write(to: URL(fileURLWithPath: root + "/clickhouse-backup/" + name)) }
        return root
    }

    static func zstd(_ bytes: [UInt8]) async throws -> [UInt8] {
        let dir = try makeTempDir("z")
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/in"))
        _ = try await runCommand("/usr/bin/zstd", ["-q", dir + "/in", "-o", dir + "/out"])
        return Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/out")))
    }

    @Test("Native and TabSeparated dumps restore into the existing table (emptied first): count and content equal the source; validate lists each with its format; the result says what was verified")
    func restores() async throws {
        let servers = try await TestServers.shared()
        let ch = try C.admin(servers)
        let source = C.unique("oldsrc")
        try await C.makeSource(ch, database: source, rows: 20_000)
        for format in ["Native", "TabSeparated"] {
            let target = C.unique("olddst")
            try await ch.query("CREATE DATABASE \(target)")
            try await ch.query("CREATE TABLE \(target).events (d Date, id UInt64, msg String, note Nullable(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
            try await ch.query("INSERT INTO \(target).events VALUES ('2020-01-01', 1, 'stale row the restore replaces', NULL)")
            let root = try await Self.package(ch, source: source, target: target, format: format)
            let v = try ValidateArguments(package: root, appVersion: "6.4.1", required: ["clickhouse"]).run(say: { _ in })
            #expect(v.package.clickhouse == ["\(target).events"], "\(format): \(v.package)")
            let part = v.parts?.first { $0.path == "clickhouse-backup/\(target).events.zst" }
            #expect(part?.verdict == "restored" && part?.reason?.contains(format) == true, "\(format): \(String(describing: part))")
            let (status, json, out) = try await C.restore(servers, package: root, table: "\(target).events")
            #expect(status == 0, "\(format): \(out)")
            #expect("\(json)".contains("count() equals the 20001 rows"), "\(json)")
            #expect(try await C.fingerprint(ch, "\(target).events") == (try await C.fingerprint(ch, "\(source).events")), "\(format): content equal, the stale row gone")
        }
    }

    @Test("refused before the table is touched, naming the file: a .zst that is not zstd, zstd of something neither format, a dump cut short, no table on the target; validate lists the unreadable ones as unknown")
    func refusals() async throws {
        let servers = try await TestServers.shared()
        let ch = try C.admin(servers)
        let source = C.unique("oldbad"), target = C.unique("oldbadt")
        try await C.makeSource(ch, database: source, rows: 5_000)
        try await ch.query("CREATE DATABASE \(target)")
        for t in ["events", "notzstd", "garbage", "cut"] {
            try await ch.query("CREATE TABLE \(target).\(t) (d Date, id UInt64, msg String, note Nullable(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
            try await ch.query("INSERT INTO \(target).\(t) VALUES ('2020-01-01', 7, 'kept', NULL)")
        }
        let rawNative = try makeTempDir("native") + "/events.native"
        try await ch.download("SELECT * FROM \(source).events FORMAT Native", to: rawNative)
        let native = Array(try Data(contentsOf: URL(fileURLWithPath: rawNative)))
        var binary = [UInt8](repeating: 0, count: 4096)
        for i in binary.indices { binary[i] = UInt8((i * 7919) & 0xff) }
        let cut = try await Self.zstd(Array(native.prefix(native.count / 2)))
        let root = try await Self.package(ch, source: source, target: "\(target)_gone", format: "Native", extra: [
            "\(target).notzstd.zst": Array("plain text, not zstd".utf8),
            "\(target).garbage.zst": try await Self.zstd(binary),
        ])
        // A dump cut short is found by validate, which reads every dump through before the app stops.
        let cutRoot = try await Self.package(ch, source: source, target: "\(target)_other", format: "Native", extra: ["\(target).cut.zst": cut])
        do {
            _ = try ValidateArguments(package: cutRoot, appVersion: "6.4.1", required: ["clickhouse"]).run(say: { _ in })
            Issue.record("validate passed a dump cut short")
        } catch {
            #expect("\(error)".contains("\(target).cut.zst") && "\(error)".contains("ends inside"), "\(error)")
        }
        let v = try ValidateArguments(package: root, appVersion: "6.4.1", required: ["clickhouse"]).run(say: { _ in })
        let parts = Dictionary(uniqueKeysWithValues: (v.parts ?? []).map { ($0.path, $0) })
        #expect(parts["clickhouse-backup/\(target).notzstd.zst"]?.verdict == "unknown" && parts["clickhouse-backup/\(target).notzstd.zst"]?.reason?.contains("not zstd") == true)
        #expect(parts["clickhouse-backup/\(target).garbage.zst"]?.verdict == "unknown" && parts["clickhouse-backup/\(target).garbage.zst"]?.reason?.contains("neither Native nor TabSeparated") == true)
        #expect(!v.package.clickhouse.contains("\(target).garbage") && !v.package.clickhouse.contains("\(target).notzstd"))
        #expect(v.notes.contains { $0.contains("\(target).garbage") && $0.contains("not restored") })
        // Named in spec.clickhouse.tables, an unreadable dump stops validate.
        #expect(throws: StepError.self) { try ValidateArguments(package: root, appVersion: "6.4.1", tables: ["\(target).garbage"], required: ["clickhouse"]).run(say: { _ in }) }

        for (pkg, table, words) in [(cutRoot, "\(target).cut", ["ends inside"]), (root, "\(target).garbage", ["neither Native nor TabSeparated"]), (root, "\(target)_gone.events", ["no table", "create it first"])] {
            let (status, _, out) = try await C.restore(servers, package: pkg, table: table)
            #expect(status != 0 && words.allSatisfy { out.contains($0) }, "\(table): \(out)")
        }
        for t in ["cut", "garbage"] {
            #expect(try await ch.query("SELECT msg FROM \(target).\(t)").contains("kept"), "\(t): the table was not touched")
        }
    }

    @Test("Native row counting reads through each column type it knows, refuses the ones it does not by name, and never crashes on fuzzed bytes")
    func nativeFuzz() throws {
        // One block: 2 columns, 3 rows: a (UInt32), s (Array(Nullable(String))).
        var block: [UInt8] = [2, 3, 1, UInt8(ascii: "a")] + Array("\u{6}UInt32".utf8) + [UInt8](repeating: 1, count: 12)
        block += [1, UInt8(ascii: "s")] + [UInt8(Array("Array(Nullable(String))".utf8).count)] + Array("Array(Nullable(String))".utf8)
        block += [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0] // offsets 1, 1, 3
        block += [0, 1, 0] + [2, UInt8(ascii: "h"), UInt8(ascii: "i"), 0, 1, UInt8(ascii: "x")]
        var r = NativeReader(bytes: block + block)
        #expect(try NativeColumns.countRows(&r) == 6)
        #expect(LegacyClickHouseDump.detect(block) == .native)
        #expect(LegacyClickHouseDump.detect(Array("1\ta\n2\tb\n".utf8)) == .tabSeparated)
        #expect(LegacyClickHouseDump.detect([0, 1, 2, 0xff]) == nil)
        // A block header with no columns and 2^40 rows, repeated: refused, never summed past Int.
        var empty = NativeReader(bytes: block + Array(repeating: [0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40] as [UInt8], count: 10_000).flatMap { $0 })
        #expect(throws: NativeReader.Problem.self) { try NativeColumns.countRows(&empty) }
        var huge = NativeReader(bytes: Array(repeating: [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, UInt8(ascii: "n"), 7] + Array("Nothing".utf8), count: 3).flatMap { $0 })
        #expect(throws: NativeReader.Problem.self) { try NativeColumns.countRows(&huge) }
        var lc = NativeReader(bytes: [1, 1, 1, UInt8(ascii: "x")] + [UInt8(Array("LowCardinality(String)".utf8).count)] + Array("LowCardinality(String)".utf8) + [0, 0])
        #expect(throws: NativeReader.Problem.self) { try NativeColumns.countRows(&lc) }
        #expect(NativeColumns.readable("Tuple(a UInt8, b Nullable(String))") && NativeColumns.readable("DateTime('Europe/Berlin')") && NativeColumns.readable("Decimal(20, 4)"))
        #expect(!NativeColumns.readable("AggregateFunction(uniq, UInt64)") && !NativeColumns.readable(String(repeating: "Array(", count: 40) + "UInt8" + String(repeating: ")", count: 40)))
        var seed: UInt64 = 0xC11C_0019
        for _ in 0..<4000 {
            var bytes = block
            for _ in 0..<Int(seed % 6) {
                seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
                let at = Int(seed % UInt64(bytes.count))
                switch seed % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: seed >> 8)
                case 1: bytes.removeSubrange(at...)
                default: bytes.insert(UInt8(truncatingIfNeeded: seed >> 16), at: at)
                }
            }
            var f = NativeReader(bytes: bytes)
            _ = try? NativeColumns.countRows(&f)
            _ = LegacyClickHouseDump.detect(bytes)
        }
    }
}
