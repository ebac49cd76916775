@testable import FerrySteps
import FerryProtocol
import Foundation
import ProcessSpawn
import TestSupport
import Testing

/// Verify while running (``ReplicationVerifier``) against two real MariaDB servers replicating,
/// with the application writing on the source.
@Suite("MySQL verify while running (two real MariaDB servers)", .serialized, .takingTurns)
struct MySQLVerifyTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    /// A replicating pair: `db` with `t` (rows) and tables whose keys are hard to chunk, snapshot
    /// taken by `ferry mysql snapshot`; the verifier logged in as root on both sides.
    func setUp(rows: Int = 3000) async throws -> (ReplicationPair, String, ReplicationVerifier) {
        let pair = try await ReplicationPair.shared()
        try await pair.reset()
        let db = "shop_\(UUID().uuidString.prefix(6).lowercased())"
        try await pair.makeSource(db, rows: rows)
        try await pair.sql(pair.sourcePort, """
            SET NAMES utf8mb4;
            CREATE TABLE \(db).`we``ird tab` (`a b` INT, `c'd` VARCHAR(30) COLLATE utf8mb4_general_ci, payload TEXT, PRIMARY KEY (`a b`, `c'd`)) ENGINE=InnoDB;
            INSERT INTO \(db).`we``ird tab` SELECT seq % 7, CONCAT(ELT(1 + seq % 6, 'a', 'B', 'o''brien', 'back\\\\slash', 'ünï', '😀'), seq), IF(seq % 5 = 0, NULL, '') FROM \(db).seq_1_to_700;
            CREATE TABLE \(db).bin (k VARBINARY(16) PRIMARY KEY, v INT) ENGINE=InnoDB;
            INSERT INTO \(db).bin SELECT UNHEX(LPAD(HEX(seq * 2654435761 % 4294967291), 8, '0')), seq FROM \(db).seq_1_to_500;
            INSERT INTO \(db).bin VALUES (X'00', -1), (X'0A0D09275C', -2);
            CREATE TABLE \(db).days (d DATE PRIMARY KEY, n INT) ENGINE=InnoDB;
            INSERT INTO \(db).days SELECT '2020-01-01' + INTERVAL seq DAY, seq FROM \(db).seq_1_to_400;
            CREATE TABLE \(db).nokey (x INT, y VARCHAR(10)) ENGINE=InnoDB;
            INSERT INTO \(db).nokey SELECT seq, 'n' FROM \(db).seq_1_to_50;
            CREATE TABLE \(db).stamps (at TIMESTAMP(3) PRIMARY KEY, a VARCHAR(10), b VARCHAR(10)) ENGINE=InnoDB;
            INSERT INTO \(db).stamps SELECT '2026-03-29 00:00:00' + INTERVAL (seq * 7) MINUTE, 'a#', 'b' FROM \(db).seq_1_to_300;
            INSERT INTO \(db).nokey VALUES (999, 'd'), (999, 'd');
            CREATE TABLE \(db).tokens (token VARCHAR(64) PRIMARY KEY, owner INT) ENGINE=InnoDB;
            INSERT INTO \(db).tokens SELECT CONCAT('secret-session-', MD5(seq)), seq FROM \(db).seq_1_to_300;
            CREATE TABLE \(db).legacy (id INT PRIMARY KEY) ENGINE=MyISAM;
            INSERT INTO \(db).legacy VALUES (1), (2);
            """)
        let source = try makeTempDir("verify-source"), target = try makeTempDir("verify-target")
        try Data("repl".utf8).write(to: URL(fileURLWithPath: source + "/username"))
        try Data("repl pass".utf8).write(to: URL(fileURLWithPath: source + "/password"))
        try Data("root".utf8).write(to: URL(fileURLWithPath: target + "/username"))
        try Data("".utf8).write(to: URL(fileURLWithPath: target + "/password"))
        let servers = MySQLServers(sourceHost: "127.0.0.1", sourcePort: pair.sourcePort, sourceCredentialsDir: source, host: "127.0.0.1", port: pair.targetPort, credentialsDir: target)
        let snap = try await runCommand(Self.ferry, MySQLSnapshotArguments(servers: servers, databases: [db], resultFile: "").argv, timeout: 180)
        #expect(snap.status == 0, "\(snap.stdout) \(snap.stderr)")
        return (pair, db, ReplicationVerifier(replication: try servers.replication(), chunkRows: 100))
    }

    func compare(_ v: ReplicationVerifier, _ table: String, _ db: String) async throws -> ReplicationVerifier.Outcome {
        try await ProcessSpawn.onThread { try v.compareOne(.init(database: db, table: table), databases: [db]) }
    }

    @Test("while the app writes, every table compares equal at one GTID position (odd keys: composite with a case-insensitive collation, quotes, emoji, binary, dates, none); MyISAM is named as not comparable; replication keeps running")
    func equalUnderWrites() async throws {
        try await ReplicationPair.exclusive { _ in
            let (pair, db, v) = try await setUp()
            // Far more statements than the comparisons take to run, however slow the machine: it is stopped after them.
            let writer = try SQLWriter.start(port: pair.sourcePort, db: db, statements: 30_000, pauseSeconds: 0.002)
            defer { writer.stop() }
            #expect(try await eventually(timeout: 60) { writer.acknowledged.count > 100 }, "the writer is writing")
            // Read on the source itself (the writer's output may reach its file in blocks).
            func lastID() async throws -> Int { Int(try await pair.sql(pair.sourcePort, "SELECT MAX(id) FROM \(db).t")) ?? 0 }
            var writtenDuring: [Int] = []
            for round in 0..<4 {
                let before = try await lastID()
                let o = try await compare(v, "t", db)
                writtenDuring.append(try await lastID() - before)
                #expect(o == .equal, "round \(round): \(o) with \(writer.acknowledged.count) writes acknowledged")
            }
            #expect(writtenDuring.allSatisfy { $0 > 0 }, "every comparison ran while the writer was writing (rows inserted during each: \(writtenDuring))")
            writer.stop()
            // The servers' own time zones differ (TIMESTAMP values print differently unless both sides read in one zone).
            try await pair.sql(pair.targetPort, "SET GLOBAL time_zone='+05:30'")
            for table in ["we`ird tab", "bin", "days", "nokey", "stamps", "tokens"] {
                let o = try await compare(v, "\(table)", db)
                #expect(o == .equal, "\(table): \(o)")
            }
            try await pair.sql(pair.targetPort, "SET GLOBAL time_zone=SYSTEM")
            guard case .unverifiable(let why) = try await compare(v, "legacy", db) else { Issue.record("MyISAM was compared"); return }
            #expect(why.contains("MyISAM"), "\(why)")
            await writer.wait()
            #expect(try await eventually(timeout: 30) {
                let running = try await pair.sql(pair.targetPort, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Slave_SQL'")
                let there = try await pair.sql(pair.targetPort, "SELECT COUNT(*) FROM \(db).t"), here = try await pair.sql(pair.sourcePort, "SELECT COUNT(*) FROM \(db).t")
                return running != "0" && there == here
            }, "replication runs on after the comparisons and catches up")
        }
    }

    @Test("rows changed, removed or added on the target behind replication's back, a table dropped or made there: each named with the first differing key range; once fixed, equal again")
    func mismatches() async throws {
        try await ReplicationPair.exclusive { _ in
            let (pair, db, v) = try await setUp()
            // Behind replication's back: root on the target, outside the binary log.
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).t SET v = 'tampered' WHERE id = 1550")
            guard case .differs(let m) = try await compare(v, "t", db) else { Issue.record("a changed row was not found"); return }
            #expect(m.detail.contains("different values"), "\(m.text)")
            let bounds = m.range.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            #expect(bounds.count == 2 && bounds[0] <= 1550 && 1550 < bounds[1] && bounds[1] - bounds[0] == 100, "the range holds the row: \(m.range)")
            #expect(m.position.hasPrefix("0-1-"), "the position both sides were read at: \(m.position)")

            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; DELETE FROM \(db).`we``ird tab` WHERE `c'd` = 'o''brien2'")
            guard case .differs(let w) = try await compare(v, "we`ird tab", db) else { Issue.record("a removed row was not found"); return }
            #expect(w.detail.contains("target") && w.detail.contains("rows") && !w.detail.contains("different values"), "\(w.text)")

            // Values that only differ in where a separator falls; two identical rows traded for two others (a XOR alone cancels them out).
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).stamps SET a = 'a', b = '#b' WHERE at = '2026-03-29 00:07:00'")
            guard case .differs(let sep) = try await compare(v, "stamps", db) else { Issue.record("('a#','b') and ('a','#b') compared equal"); return }
            #expect(sep.detail.contains("different values"))
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).nokey SET x = 998, y = 'e' WHERE x = 999")
            guard case .differs(let dup) = try await compare(v, "nokey", db) else { Issue.record("two identical rows traded for two others compared equal"); return }
            #expect(dup.detail.contains("different values") && dup.range == "the whole table", "\(dup.text)")
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).nokey SET x = 999, y = 'd' WHERE x = 998; INSERT INTO \(db).nokey VALUES (999, 'extra')")
            guard case .differs(let n) = try await compare(v, "nokey", db) else { Issue.record("an added row was not found"); return }
            #expect(n.detail.contains("source 52 rows, target 53 rows"), "\(n.text)")
            // A key may be a secret: status shows its length and a hash, never the value.
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).tokens SET owner = -1 WHERE owner = 150")
            guard case .differs(let tok) = try await compare(v, "tokens", db) else { Issue.record("a changed row was not found"); return }
            #expect(!tok.range.contains("secret") && tok.range.contains("bytes, hash"), "\(tok.range)")
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; DROP TABLE \(db).days; CREATE TABLE \(db).mine (x INT)")
            #expect(try await compare(v, "days", db) == .differs(TableMismatch(table: "\(db).days", range: "the whole table", detail: "missing on the target", position: "")))
            guard case .differs(let extra) = try await compare(v, "mine", db) else { Issue.record("a table made on the target was not found"); return }
            #expect(extra.detail.contains("target only"))

            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).t SET v = (SELECT 'row 1550') WHERE id = 1550")
            let now = try await compare(v, "t", db)
            #expect(now == .equal, "fixed on the target, equal again: \(now)")
        }
    }

    @Test("passes as the monitor runs them: verifying, then mismatch naming the table; fixed on the target, the next pass clears it; a row changed later, the next pass finds it; a monitor that ended holding replication is undone by the next")
    func pass() async throws {
        try await ReplicationPair.exclusive { _ in
            let (pair, db, v) = try await setUp(rows: 500)
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).t SET v = 'tampered' WHERE id = 7")
            let state = Locked(ReplicationVerification())
            let stop = Locked(false), finished = Locked(false)
            defer { stop.withLock { $0 = true } }
            Thread.detachNewThread {
                v.run(state: state, healthy: { true }, minRestSeconds: 1, stop: { stop.withLock { $0 } })
                finished.withLock { $0 = true }
            }
            #expect(try await eventually(timeout: 90) { state.withLock { $0.state == .mismatch && $0.passes == 1 } }, "\(state.withLock { $0 })")
            let s = state.withLock { $0 }
            #expect(s.tables == 8 && s.checked == 8, "\(s)")
            #expect(s.mismatches.map(\.table) == ["\(db).t"], "\(s.mismatches)")
            #expect(s.unverified.count == 1 && s.unverified[0].hasPrefix("\(db).legacy:"), "\(s.unverified)")
            #expect(s.short == "1 table differs")
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).t SET v = 'row 7' WHERE id = 7")
            #expect(try await eventually(timeout: 60) { state.withLock { $0.state == .verified && $0.mismatches.isEmpty } }, "\(state.withLock { $0 })")
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; DELETE FROM \(db).bin WHERE v = 77")
            #expect(try await eventually(timeout: 60) { state.withLock { $0.state == .mismatch && $0.mismatches.map(\.table) == ["\(db).bin"] } }, "\(state.withLock { $0 })")
            stop.withLock { $0 = true }
            #expect(try await eventually(timeout: 60) { finished.withLock { $0 } }, "the verifier stops when told")

            try await pair.sql(pair.targetPort, "STOP SLAVE")
            #expect(try await ProcessSpawn.onThread { try v.replication.resumeIfHeld() })
            #expect(try await eventually(timeout: 20) { try await pair.sql(pair.targetPort, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Slave_SQL'") != "0" })
            try await pair.sql(pair.targetPort, "STOP SLAVE SQL_THREAD")
            try await pair.sql(pair.sourcePort, "INSERT INTO \(db).t VALUES (9001, 'x')", user: "app", password: "app")
            #expect(try await ProcessSpawn.onThread { try v.replication.resumeIfHeld() } == false, "one thread stopped by someone else is left alone")
            try await pair.sql(pair.targetPort, "START SLAVE")
        }
    }
}
