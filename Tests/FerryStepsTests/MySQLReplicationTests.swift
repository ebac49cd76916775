import Foundation
import ProcessSpawn
import TestSupport
import Testing

/// `ferry mysql snapshot | status | cutover` against two real MariaDB servers with GTID
/// replication, with a non-admin writer on the source.
@Suite("MySQL by replication (two real MariaDB servers)", .serialized, .takingTurns)
struct MySQLReplicationTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    struct Setup {
        let pair: ReplicationPair
        let db: String
        let sourceCredentials: String
        let targetCredentials: String

        var servers: [String] {
            ["--source-host", "127.0.0.1", "--source-port", "\(pair.sourcePort)", "--source-credentials-dir", sourceCredentials,
             "--port", "\(pair.targetPort)", "--credentials-dir", targetCredentials]
        }
    }

    /// A blank pair, a database of `rows` rows on the source, a replication user and a non-admin
    /// application user `app` on it.
    func setUp(rows: Int = 2000, grants: String = "REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN") async throws -> Setup {
        let pair = try await ReplicationPair.shared()
        try await pair.reset()
        let db = "shop_\(UUID().uuidString.prefix(6).lowercased())"
        try await pair.makeSource(db, rows: rows, grants: grants)
        let source = try makeTempDir("repl-source"), target = try makeTempDir("repl-target")
        try Data("repl".utf8).write(to: URL(fileURLWithPath: source + "/username"))
        try Data("repl pass".utf8).write(to: URL(fileURLWithPath: source + "/password"))
        try Data("root".utf8).write(to: URL(fileURLWithPath: target + "/username"))
        try Data("".utf8).write(to: URL(fileURLWithPath: target + "/password"))
        return Setup(pair: pair, db: db, sourceCredentials: source, targetCredentials: target)
    }

    /// Runs `ferry mysql …`; the exit status and the report's JSON text.
    func ferry(_ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, report: String, output: String) {
        let r = try await runCommand(Self.ferry, ["mysql"] + args + ["--result-file", ""], environment: environment, timeout: 180)
        let report = r.stdout.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
        return (r.status, report, r.stdout + r.stderr)
    }

    func checksum(_ s: Setup, _ port: Int) async throws -> String { try await s.pair.checksum(port, s.db) }

    @Test("snapshot, replicate, then cut over while a non-admin writer inserts, updates and deletes: every acknowledged write is on the target, none was acknowledged after read-only, CHECKSUM TABLE equal; a second cutover says it was done")
    func cutoverUnderWrites() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp()
            let snap = try await ferry(["snapshot"] + s.servers + ["--database", s.db])
            #expect(snap.status == 0, "\(snap.output)")
            #expect(snap.report.contains("\"gtidPosition\":\"0-1-"), "\(snap.report)")
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT @@read_only") == "1", "the target is read-only while it replicates")
            #expect(try await checksum(s, s.pair.targetPort) == checksum(s, s.pair.sourcePort))

            let writer = try SQLWriter.start(port: s.pair.sourcePort, db: s.db)
            defer { writer.stop() }
            #expect(try await eventually(timeout: 60) { writer.acknowledged.count > 200 }, "the writer is writing")
            let cut = try await ferry(["cutover"] + s.servers + ["--timeout-seconds", "30"])
            #expect(cut.status == 0, "\(cut.output)")
            await writer.wait()
            #expect(writer.errors.contains("1290"), "writes after the cutover were refused by the read-only source: \(writer.errors.prefix(300))")
            let inserted = writer.inserted, deleted = writer.deleted
            #expect(inserted.count > 200 && inserted.count < 1500, "the cutover came in the middle of the writes (\(inserted.count) acknowledged inserts)")
            let onTarget = Set(try await s.pair.sql(s.pair.targetPort, "SELECT id FROM \(s.db).t WHERE id > 100000").split(separator: "\n").map(String.init))
            let lost = inserted.filter { !onTarget.contains($0) && !deleted.contains($0) }
            #expect(lost.isEmpty, "acknowledged inserts missing on the target: \(lost.prefix(10))")
            #expect(deleted.allSatisfy { !onTarget.contains($0) }, "an acknowledged delete is undone on the target")
            #expect(try await checksum(s, s.pair.targetPort) == checksum(s, s.pair.sourcePort), "nothing was acknowledged by the source after it became read-only, so both sides hold the same rows")
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT @@read_only") == "0")
            #expect(try await s.pair.sql(s.pair.targetPort, "SHOW SLAVE STATUS").isEmpty, "the target no longer replicates")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "1")

            let again = try await ferry(["cutover"] + s.servers)
            #expect(again.status == 0 && again.report.contains("\"alreadyPromoted\":true"), "\(again.output)")
        }
    }

    @Test("refused before anything changes, naming the server and the fix: a source without a binary log, a user without the rights, a target that already holds the database")
    func refusals() async throws {
        try await ReplicationPair.exclusive { _ in
            var s = try await setUp(rows: 10)
            // The shared test MariaDB runs without a binary log.
            let plain = try await TestServers.shared()
            var noBinlog = s.servers
            noBinlog[3] = "\(plain.mysqlPort)"
            noBinlog[5] = s.targetCredentials
            let r1 = try await ferry(["snapshot"] + noBinlog + ["--database", "mysql"])
            #expect(r1.status != 0 && r1.report.contains("log_bin=OFF") && r1.report.contains("\"changed\":false"), "\(r1.output)")

            s = try await setUp(rows: 10, grants: "SELECT")
            let r2 = try await ferry(["snapshot"] + s.servers + ["--database", s.db])
            #expect(r2.status != 0 && r2.report.contains("lacks REPLICATION SLAVE"), "\(r2.output)")
            #expect(try await s.pair.sql(s.pair.targetPort, "SHOW DATABASES LIKE '\(s.db)'").isEmpty, "nothing was written to the target")

            s = try await setUp(rows: 10)
            try await s.pair.sql(s.pair.targetPort, "CREATE DATABASE \(s.db); CREATE TABLE \(s.db).keep (x INT); INSERT INTO \(s.db).keep VALUES (42)")
            let r3 = try await ferry(["snapshot"] + s.servers + ["--database", s.db])
            #expect(r3.status != 0 && r3.report.contains("already holds \(s.db)"), "\(r3.output)")
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT x FROM \(s.db).keep") == "42", "the target's own data is untouched")
            #expect(try await s.pair.sql(s.pair.targetPort, "SHOW SLAVE STATUS").isEmpty, "no replication was set up")
        }
    }

    @Test("a row planted on the target breaks replication: status names the table and the error, and the cutover is refused with the source untouched")
    func brokenReplication() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 10)
            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            try await s.pair.sql(s.pair.targetPort, "INSERT INTO \(s.db).t VALUES (500, 'planted')")
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (500, 'from the app')", user: "app", password: "app")
            var status = ""
            #expect(try await eventually(timeout: 30) {
                status = try await ferry(["status"] + s.servers).report
                return status.contains("lastError")
            }, "\(status)")
            #expect(status.contains("\(s.db).t") || status.contains("table t"), "the error names the table: \(status)")
            #expect(status.contains("Duplicate"), "\(status)")
            let cut = try await ferry(["cutover"] + s.servers)
            #expect(cut.status != 0 && cut.report.contains("is broken"), "\(cut.output)")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "0", "the source still serves")
        }
    }

    @Test("the target cannot catch up in time (a table locked on it): a cutover with --max-lag-seconds refuses before touching the source; without, it gives up after the timeout, the source is writable again and the target still replicates; once unlocked it catches up")
    func cutoverTimeout() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 10)
            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            let dir = try makeTempDir("lock")
            try Data("LOCK TABLES \(s.db).t WRITE; SELECT SLEEP(60);\n".utf8).write(to: URL(fileURLWithPath: dir + "/lock.sql"))
            let locker = try ProcessSpawn.spawn("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(s.pair.targetPort)", "-uroot"], environment: ["PATH": "/usr/bin:/bin"],
                                                fileActions: [.open(0, path: dir + "/lock.sql", flags: O_RDONLY, mode: 0), .open(1, path: "/dev/null", flags: O_WRONLY, mode: 0)])
            defer { kill(locker, SIGKILL); _ = ProcessSpawn.waitStatus(locker) }
            #expect(try await eventually(timeout: 20) { try await s.pair.sql(s.pair.targetPort, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(60)%'") == "1" })
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (600, 'waits for the lock')", user: "app", password: "app")
            // A fresh look first: further behind than allowed, the source is not even touched.
            try await Task.sleep(for: .seconds(3))
            let early = try await ferry(["cutover"] + s.servers + ["--timeout-seconds", "2", "--max-lag-seconds", "1"])
            #expect(early.status != 0 && early.report.contains("s behind (more than 1 s") && early.report.contains("\"changed\":false"), "\(early.output)")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "0")
            let cut = try await ferry(["cutover"] + s.servers + ["--timeout-seconds", "2"])
            #expect(cut.status != 0, "\(cut.output)")
            #expect(cut.report.contains("within 2 s") && cut.report.contains("writable again"), "\(cut.report)")
            #expect(cut.report.contains("\"changed\":false"), "the report says nothing was changed: the source is back as it was")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "0", "the source takes writes again")
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (601, 'after the failed cutover')", user: "app", password: "app")
            #expect(!(try await s.pair.sql(s.pair.targetPort, "SHOW SLAVE STATUS")).isEmpty, "the target still replicates")
            kill(locker, SIGKILL)
            #expect(try await eventually(timeout: 30) { try await s.pair.sql(s.pair.targetPort, "SELECT COUNT(*) FROM \(s.db).t WHERE id IN (600, 601)") == "2" })
        }
    }

    @Test("the cutover killed (SIGKILL) after each of its steps: the source stays read-only and the target is never writable beside it; run again, the cutover carries on and finishes with every acknowledged write on the target",
          arguments: ["cutover-after-read-only", "cutover-after-writers", "cutover-after-caught-up", "cutover-after-stop-replica", "cutover-after-reset"])
    func killedMidCutover(point: String) async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 10)
            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            let writer = try SQLWriter.start(port: s.pair.sourcePort, db: s.db, statements: 600, pauseSeconds: 0.005)
            defer { writer.stop() }
            #expect(try await eventually(timeout: 60) { writer.acknowledged.count > 50 }, "the writer is writing")
            let marks = try makeTempDir("failpoint")
            let killed = try await ferry(["cutover"] + s.servers, environment: ["FERRY_TEST_FAILPOINT": "\(point):kill:\(marks)"])
            #expect(killed.status == 137, "killed at \(point): \(killed.output)")
            let sourceRO = try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only"), targetRO = try await s.pair.sql(s.pair.targetPort, "SELECT @@read_only")
            #expect(sourceRO == "1", "the source took no writes after \(point)")
            #expect(targetRO == "1", "the target is not writable beside the source after \(point)")

            let again = try await ferry(["cutover"] + s.servers, environment: ["FERRY_TEST_FAILPOINT": "\(point):kill:\(marks)"])
            #expect(again.status == 0 && again.report.contains("\"resumed\":true"), "\(point): \(again.output)")
            await writer.wait()
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT @@read_only") == "0")
            #expect(try await s.pair.sql(s.pair.targetPort, "SHOW SLAVE STATUS").isEmpty, "the target no longer replicates")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "1")
            let onTarget = Set(try await s.pair.sql(s.pair.targetPort, "SELECT id FROM \(s.db).t WHERE id > 100000").split(separator: "\n").map(String.init))
            let lost = writer.inserted.filter { !onTarget.contains($0) && !writer.deleted.contains($0) }
            #expect(lost.isEmpty, "acknowledged inserts missing on the target after \(point): \(lost.prefix(10))")
            #expect(try await checksum(s, s.pair.targetPort) == checksum(s, s.pair.sourcePort))
        }
    }

    @Test("killed after the source went read-only, then run again while the target cannot catch up: it gives up, the source is writable again (never left both read-only); a target made writable beside a writable source is refused, not taken for done")
    func killedThenGivesUp() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 10)
            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            let marks = try makeTempDir("failpoint")
            #expect(try await ferry(["cutover"] + s.servers, environment: ["FERRY_TEST_FAILPOINT": "cutover-after-read-only:kill:\(marks)"]).status == 137)
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "1")
            try await s.pair.sql(s.pair.targetPort, "STOP SLAVE SQL_THREAD")
            try await s.pair.sql(s.pair.sourcePort, "SET GLOBAL read_only=0; INSERT INTO \(s.db).t VALUES (700, 'late'); SET GLOBAL read_only=1")
            let again = try await ferry(["cutover"] + s.servers + ["--timeout-seconds", "2", "--max-lag-seconds", "0"])
            #expect(again.status != 0 && again.report.contains("writable again"), "\(again.output)")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "0", "the source serves again")
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT @@read_only") == "1")

            try await s.pair.sql(s.pair.targetPort, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0")
            let both = try await ferry(["cutover"] + s.servers)
            #expect(both.status != 0 && both.report.contains("takes writes too") && !both.report.contains("alreadyPromoted"), "\(both.output)")
        }
    }

    @Test("a way back: after the cutover the old server replicates the new one's writes (errant transactions and missing rights refused first); cutover --back makes the old server the primary again with every write, the new one read-only")
    func reverseAndBack() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 50, grants: "REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD")
            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            let cut = try await ferry(["cutover"] + s.servers)
            #expect(cut.status == 0, "\(cut.output)")
            let result = try JSONSerialization.jsonObject(with: Data(cut.report.utf8)) as? [String: Any]
            let promoted = (result?["result"] as? [String: Any])?["targetPosition"] as? String
            #expect(promoted != nil, "the cutover reports the new server's position at promotion: \(cut.report)")
            let reverse = ["reverse"] + s.servers + ["--from", promoted ?? "", "--database", s.db, "--reverse-host", "127.0.0.1", "--reverse-port", "\(s.pair.targetPort)"]

            // An admin wrote to the old server after it went read-only: going back would lose it.
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (9000, 'errant')")
            let errant = try await ferry(reverse)
            #expect(errant.status != 0 && errant.report.contains("never applied") && errant.report.contains("\"changed\":false"), "\(errant.output)")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SHOW SLAVE STATUS").isEmpty, "nothing was set up")
            try await s.pair.sql(s.pair.sourcePort, "SET sql_log_bin=0; DELETE FROM \(s.db).t WHERE id = 9000")
            // The errant transaction stays in the old server's binary log: start its history afresh, as an operator would after checking.
            try await s.pair.sql(s.pair.sourcePort, "RESET MASTER")

            let ok = try await ferry(reverse)
            #expect(ok.status == 0, "\(ok.output)")
            if ok.status != 0 { return }
            try await s.pair.sql(s.pair.targetPort, "CREATE USER IF NOT EXISTS app@'%' IDENTIFIED BY 'app'; GRANT SELECT, INSERT, UPDATE, DELETE ON \(s.db).* TO app@'%'")
            let writer = try SQLWriter.start(port: s.pair.targetPort, db: s.db, statements: 400, pauseSeconds: 0.004)
            defer { writer.stop() }
            #expect(try await eventually(timeout: 60) { writer.acknowledged.count > 100 }, "the new app writes to the new server")
            #expect(try await eventually(timeout: 30) { (try await s.pair.sql(s.pair.sourcePort, "SELECT COUNT(*) FROM \(s.db).t WHERE id > 100000")) != "0" },
                    "the old server follows the new one's writes")

            let back = try await ferry(["cutover"] + s.servers + ["--back", "--reverse-host", "127.0.0.1", "--reverse-port", "\(s.pair.targetPort)"])
            #expect(back.status == 0, "\(back.output)")
            await writer.wait()
            #expect(writer.errors.contains("1290"), "the new server refused writes once read-only")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SELECT @@read_only") == "0", "the old server is the primary again")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SHOW SLAVE STATUS").isEmpty)
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT @@read_only") == "1")
            let onOld = Set(try await s.pair.sql(s.pair.sourcePort, "SELECT id FROM \(s.db).t WHERE id > 100000").split(separator: "\n").map(String.init))
            let lost = writer.inserted.filter { !onOld.contains($0) && !writer.deleted.contains($0) }
            #expect(!writer.inserted.isEmpty && lost.isEmpty, "acknowledged writes on the new server missing on the old one: \(lost.prefix(10))")
            #expect(try await checksum(s, s.pair.targetPort) == checksum(s, s.pair.sourcePort))
        }
    }

    @Test("reverse replication refused before anything changes: a source user that may not configure replication")
    func reverseRights() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 5)
            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            #expect(try await ferry(["cutover"] + s.servers).status == 0)
            let r = try await ferry(["reverse"] + s.servers + ["--database", s.db, "--reverse-host", "127.0.0.1", "--reverse-port", "\(s.pair.targetPort)"])
            #expect(r.status != 0 && r.report.contains("REPLICATION SLAVE ADMIN") && r.report.contains("\"changed\":false"), "\(r.output)")
            #expect(try await s.pair.sql(s.pair.sourcePort, "SHOW SLAVE STATUS").isEmpty)
        }
    }

    @Test("from a package: ferry export with mysql.gtid records the position of one consistent dump; the snapshot restores the package and replicates from there, so writes made after the export arrive; refused, touching nothing, without a position or when the source's binary logs no longer reach back")
    func fromPackage() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 300, grants: "REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN, BINLOG MONITOR")
            let dir = try makeTempDir("gtid-package")
            func export(_ name: String, gtid: Bool) async throws -> String {
                let config = dir + "/\(name).yaml"
                try Data("output: \(dir)/\(name)\nappVersion: '1'\nmysql: {host: 127.0.0.1, port: \(s.pair.sourcePort), user: root, databases: [\(s.db)], gtid: \(gtid)}\n".utf8)
                    .write(to: URL(fileURLWithPath: config))
                let r = try await runCommand(Self.ferry, ["export", "--config", config], timeout: 180)
                #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
                return dir + "/" + name
            }
            let plain = try await export("plain", gtid: false)
            let refused = try await ferry(["snapshot"] + s.servers + ["--database", s.db, "--package", plain])
            #expect(refused.status != 0 && refused.report.contains("records no GTID position") && refused.report.contains("\"changed\":false"), "\(refused.output)")

            let old = try await export("old", gtid: true)
            let manifest = try String(contentsOfFile: old + "/manifest.json", encoding: .utf8)
            #expect(manifest.contains("\"mysqlGTIDPosition\" : \"0-1-"), "the manifest records the position")
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (7001, 'after the export')", user: "app", password: "app")
            let log = try await s.pair.sql(s.pair.sourcePort, "FLUSH BINARY LOGS; SHOW MASTER STATUS").split(separator: "\t").first.map(String.init) ?? ""
            // The server keeps a log until its binlog checkpoint moves past it: purge until it is gone.
            #expect(try await eventually(timeout: 30) {
                try await s.pair.sql(s.pair.sourcePort, "PURGE BINARY LOGS TO '\(log)'")
                return try await s.pair.sql(s.pair.sourcePort, "SHOW BINARY LOGS").split(separator: "\n").count == 1
            }, "the binary logs before the export are purged")
            let gone = try await ferry(["snapshot"] + s.servers + ["--database", s.db, "--package", old])
            #expect(gone.status != 0 && gone.report.contains("no longer there") && gone.report.contains("\"changed\":false"), "\(gone.output)")
            #expect(try await s.pair.sql(s.pair.targetPort, "SHOW DATABASES LIKE '\(s.db)'").isEmpty, "nothing was restored")

            let fresh = try await export("fresh", gtid: true)
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (7002, 'after the second export'); UPDATE \(s.db).t SET v = 'changed' WHERE id = 5",
                                 user: "app", password: "app")
            let ok = try await ferry(["snapshot"] + s.servers + ["--database", s.db, "--package", fresh])
            #expect(ok.status == 0, "\(ok.output)")
            #expect(try await eventually(timeout: 30) { try await s.pair.sql(s.pair.targetPort, "SELECT COUNT(*) FROM \(s.db).t WHERE id IN (7001, 7002)") == "2" },
                    "the writes made after the export arrive by replication")
            #expect(try await eventually(timeout: 30) { try await checksum(s, s.pair.targetPort) == checksum(s, s.pair.sourcePort) })
        }
    }

    @Test("hostile states: a read-only source (a replica, or in maintenance) is refused before anything changes; a target that forgot its replication filter or read-only (restarted) is reported broken; a START SLAVE UNTIL left in force does not hold the cutover")
    func hostileStates() async throws {
        try await ReplicationPair.exclusive { _ in
            let s = try await setUp(rows: 10)
            try await s.pair.sql(s.pair.sourcePort, "SET GLOBAL read_only=1")
            let ro = try await ferry(["snapshot"] + s.servers + ["--database", s.db])
            try await s.pair.sql(s.pair.sourcePort, "SET GLOBAL read_only=0")
            #expect(ro.status != 0 && ro.report.contains("is read-only") && ro.report.contains("\"changed\":false"), "\(ro.output)")
            #expect(try await s.pair.sql(s.pair.targetPort, "SHOW DATABASES LIKE '\(s.db)'").isEmpty)

            #expect(try await ferry(["snapshot"] + s.servers + ["--database", s.db]).status == 0)
            try await s.pair.sql(s.pair.targetPort, "STOP SLAVE; SET GLOBAL replicate_do_db=''; START SLAVE")
            let forgot = try await ferry(["watch"] + s.servers + ["--database", s.db, "--count", "1", "--interval-seconds", "1"])
            #expect(forgot.output.contains("replicates every database") && forgot.output.contains("restarted"), "\(forgot.output)")
            try await s.pair.sql(s.pair.targetPort, "STOP SLAVE; SET GLOBAL replicate_do_db='\(s.db)'; START SLAVE; SET GLOBAL read_only=0")
            let writable = try await ferry(["watch"] + s.servers + ["--database", s.db, "--count", "1", "--interval-seconds", "1"])
            #expect(writable.output.contains("is writable while it replicates"), "\(writable.output)")
            try await s.pair.sql(s.pair.targetPort, "SET GLOBAL read_only=1")

            // A comparison that died after START SLAVE UNTIL: replication would stop one transaction later.
            let now = try await s.pair.sql(s.pair.sourcePort, "SELECT @@gtid_binlog_pos")
            let seq = Int(now.split(separator: "-").last ?? "0") ?? 0
            try await s.pair.sql(s.pair.targetPort, "STOP SLAVE; START SLAVE UNTIL master_gtid_pos='0-1-\(seq + 1)'")
            try await s.pair.sql(s.pair.sourcePort, "INSERT INTO \(s.db).t VALUES (801, 'a'), (802, 'b'); INSERT INTO \(s.db).t VALUES (803, 'c'); INSERT INTO \(s.db).t VALUES (804, 'd')",
                                 user: "app", password: "app")
            let cut = try await ferry(["cutover"] + s.servers + ["--timeout-seconds", "10"])
            #expect(cut.status == 0, "\(cut.output)")
            #expect(try await s.pair.sql(s.pair.targetPort, "SELECT COUNT(*) FROM \(s.db).t WHERE id > 800") == "4")
        }
    }
}
