import FerryAPI
import Foundation
import ProcessSpawn
import KubeClient
import TestSupport
import Testing

/// `spec.mysql.mode: replicate` through kubectl against KubeSim, the controller as its own
/// process, step Jobs as real `ferry mysql …` processes, two real MariaDB servers and the old
/// application writing to the source as a non-admin user the whole time.
@Suite("MySQL online end to end (kubectl, KubeSim, two MariaDB)", .serialized, .takingTurns)
struct MySQLOnlineEndToEndTests {
    static func migration(_ name: String, _ pair: ReplicationPair, db: String, package: String, verify: Bool = true, stopSource: String? = nil, reverse: Bool = false, snapshot: String = "live") -> String {
        """
        apiVersion: ferry.dev/v1alpha1
        kind: Migration
        metadata: {name: \(name), namespace: default}
        spec:
          package: {hostPath: \(package)}
          appVersion: "6.4.1"
          workloads:
            selector: {matchLabels: {app.kubernetes.io/part-of: online}}
          mysql:
            host: 127.0.0.1
            port: \(pair.targetPort)
            credentialsSecret: mysql-root
            parallelism: auto
            mode: replicate
            source: {host: 127.0.0.1, port: \(pair.sourcePort), credentialsSecret: mysql-repl, databases: [\(db)], snapshot: \(snapshot)}
            cutover:
              maxLagSeconds: 5
              timeoutSeconds: 30
              reverseReplication: \(reverse)
        \(stopSource.map { "      stopSource: {template: {template: {spec: {restartPolicy: Never, containers: [{name: stop, image: busybox, command: [/bin/sh, -c, \"\($0)\"]}]}}}}" } ?? "")
            verify: \(verify)
        """
    }

    /// The CRD, the application and the two Secrets (the target's root, the source's replication user).
    static func prepare(_ env: KubectlEnv) async throws {
        #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
        #expect(try await env.applyApp(partOf: "online").status == 0)
        let secrets = """
            apiVersion: v1
            kind: Secret
            metadata: {name: mysql-root}
            stringData: {username: root, password: ""}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: mysql-repl}
            stringData: {username: repl, password: repl pass}
            """
        #expect(try await env.kubectl("apply", "-f", "-", input: secrets).status == 0)
    }

    @Test("replicate: the copy is taken while the app writes, phase Replicating with the lag in the MySQL column; the controller killed mid-replication, its successor carries on; the tables verified while running, a row tampered on the target found, named and holding the cutover back until fixed; a lag held up by a locked table holds the cutover back; cutover on ferry.dev/cutover=now: every acknowledged write is on the target, none after read-only, CHECKSUM equal, the downtime in status, the workloads back")
    func online() async throws {
        try await ReplicationPair.exclusive { pair in
        let db = "online_\(UUID().uuidString.prefix(6).lowercased())"
        try await pair.makeSource(db, rows: 20_000)
        let package = try makeTempDir("online-package")
        try Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        try await KubectlEnv.with { env in
            try await Self.prepare(env)
            let steps = ["--step-command", repoRoot + "/.build/debug/ferry", "--step-image", "ferry:test", "--step-retry-delay", "0.3", "--step-poll", "0.3"]
            let first = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "online-\(UUID().uuidString.prefix(4))", extra: steps)
            defer { first.terminateNow() }
            // The old application writes before, during and after the copy.
            let writer = try SQLWriter.start(port: pair.sourcePort, db: db, statements: 30000, pauseSeconds: 0.004)
            defer { writer.stop() }
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("online", pair, db: db, package: package)).status == 0)

            let replicating = try await eventually(timeout: 120, interval: 0.3) {
                let phase = try await env.jsonpath("migration/online", ".status.phase")
                let lag = try await env.jsonpath("migration/online", ".status.mysql.summary")
                return phase == "Replicating" && lag.hasPrefix("lag ")
            }
            if !replicating {
                let yaml = try await env.kubectl("get", "migration/online", "-o", "yaml").stdout
                let pods = try await env.kubectl("get", "jobs,pods", "-o", "wide").combined
                let job = try await env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-replicate")].job"#)
                let pod = try await env.kubectl("get", "pods", "-l", "job-name=\(job)", "-o", "jsonpath={.items[0].metadata.name}").stdout
                let logs = try await env.kubectl("logs", "pod/\(pod)").combined + (try await env.kubectl("get", "pod/\(pod)", "-o", "yaml").stdout)
                Issue.record("not Replicating with a lag:\n\(yaml)\n\(pods)\n\(logs)\n\(first.log.suffix(3000))")
                return
            }
            #expect(try await env.jsonpath("migration/online", ".status.mysql.transactionsBehind") != "")
            let table = try await env.kubectl("get", "migrations")
            #expect(table.stdout.contains("Replicating") && table.stdout.contains("lag "), "\(table.stdout)")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "0", "the new app stays stopped while the target replicates")
            #expect(writer.acknowledged.count > 50, "the old app is still writing")

            // The controller killed while replicating: the next one carries on with the same monitor.
            let monitor = try await env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-replicate")].job"#)
            first.kill9()
            let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "online-\(UUID().uuidString.prefix(4))", metricsPort: 0, extra: steps)
            defer { controller.terminateNow() }
            let observed = try await env.jsonpath("migration/online", ".status.mysql.observedAt")
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/online", ".status.mysql.observedAt") != observed },
                    "the new controller reads replication again")
            #expect(try await env.jsonpath("migration/online", ".status.phase") == "Replicating")
            #expect(try await env.kubectl("get", "jobs", "-l", "ferry.dev/step=mysql-replicate", "-o", "name").stdout == "job.batch/\(monitor)\n", "one monitor, not two")

            // Verify while running: the tables compare equal at one GTID position; a row changed on
            // the target behind replication's back is found, named with its key range, and holds the
            // cutover back until it is fixed.
            let verified = try await eventually(timeout: 180, interval: 0.5) { try await env.jsonpath("migration/online", ".status.mysql.verification.state") == "verified" }
            let yamlNow = try await env.kubectl("get", "migration/online", "-o", "yaml").stdout
            #expect(verified, "\(yamlNow)")
            #expect(try await env.kubectl("get", "migrations").stdout.contains("verified"))
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).t SET v = 'tampered' WHERE id = 5")
            let found = try await eventually(timeout: 180, interval: 0.5) {
                try await env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-replicate")].message"#).contains("1 table differs: \(db).t key [")
            }
            let yamlFound = try await env.kubectl("get", "migration/online", "-o", "yaml").stdout
            #expect(found, "\(yamlFound)")
            #expect(try await env.jsonpath("migration/online", ".status.mysql.verification.mismatches[0].detail").contains("different values"))
            #expect(try await env.kubectl("get", "migrations").stdout.contains("1 table differs"))
            try await pair.sql(pair.targetPort, "SET sql_log_bin=0; UPDATE \(db).t SET v = 'row 5' WHERE id = 5")
            #expect(try await eventually(timeout: 180, interval: 0.5) { try await env.jsonpath("migration/online", ".status.mysql.verification.state") == "verified" },
                    "fixed on the target, the next pass clears it")

            // A table locked on the target holds the lag up: the cutover is asked for but waits, saying why.
            let dir = try makeTempDir("online-lock")
            try Data("LOCK TABLES \(db).t WRITE; SELECT SLEEP(120);\n".utf8).write(to: URL(fileURLWithPath: dir + "/lock.sql"))
            let locker = try ProcessSpawn.spawn("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(pair.targetPort)", "-uroot"], environment: ["PATH": "/usr/bin:/bin"],
                                                fileActions: [.open(0, path: dir + "/lock.sql", flags: O_RDONLY, mode: 0), .open(1, path: "/dev/null", flags: O_WRONLY, mode: 0)])
            defer { kill(locker, SIGKILL); _ = ProcessSpawn.waitStatus(locker) }
            let behind = try await eventually(timeout: 60, interval: 0.3) { (Int(try await env.jsonpath("migration/online", ".status.mysql.lagSeconds")) ?? 0) > 5 }
            #expect(behind, "the lag shows in status while the table is locked")
            #expect(try await env.kubectl("annotate", "migration/online", "ferry.dev/cutover=now").status == 0)
            let held = try await eventually(timeout: 60, interval: 0.3) {
                try await env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-replicate")].message"#).contains("waiting for the lag to come under 5 s")
            }
            let waiting = try await env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-replicate")].message"#)
            #expect(held, "\(waiting)")
            #expect(try await env.jsonpath("migration/online", ".status.phase") == "Replicating", "no cutover while the target is behind")
            #expect(try await pair.sql(pair.sourcePort, "SELECT @@read_only") == "0", "the source still serves")
            kill(locker, SIGKILL)
            let done = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/online", ".status.phase") == "Succeeded" }
            let after = try await env.kubectl("get", "migration/online", "-o", "yaml").stdout
            #expect(done, "\(after)")
            #expect(try await eventually(timeout: 30) { writer.errors.contains("1290") }, "the old app was still writing at the cutover, and the read-only source refused it")
            writer.stop()
            await writer.wait()

            let onTarget = Set(try await pair.sql(pair.targetPort, "SELECT id FROM \(db).t WHERE id > 100000").split(separator: "\n").map(String.init))
            let lost = writer.inserted.filter { !onTarget.contains($0) && !writer.deleted.contains($0) }
            #expect(!writer.inserted.isEmpty && lost.isEmpty, "acknowledged writes missing on the target: \(lost.prefix(10))")
            #expect(try await pair.checksum(pair.targetPort, db) == pair.checksum(pair.sourcePort, db), "nothing was acknowledged by the source after it became read-only")
            #expect(try await pair.sql(pair.sourcePort, "SELECT @@read_only") == "1")
            #expect(try await pair.sql(pair.targetPort, "SELECT @@read_only") == "0")
            let seconds = Double(try await env.jsonpath("migration/online", ".status.downtime.seconds")) ?? -1
            #expect(seconds >= 0 && seconds < 60, "the downtime is in status: \(seconds)")
            print("replicate-mode downtime in this run: \(seconds) s")
            let port = controller.log.split(separator: "\n").first { $0.contains("health and metrics listening") }
                .flatMap { line in line.range(of: "\"port\":\"").map { Int(line[$0.upperBound...].prefix { $0.isNumber }) ?? 0 } } ?? 0
            let metrics = try await httpGet("http://127.0.0.1:\(port)/metrics").body
            #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("ferry_migration_downtime_seconds") && $0.contains("migration=\"online\"") }, "the downtime is a metric")
            #expect(try await env.jsonpath("migration/online", ".status.downtime.from") == env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-cutover")].result.readOnlyAt"#))
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "1", "the workloads are back")
            #expect(try await env.jsonpath("migration/online", #".status.steps[*].name"#) == "validate quiesce mysql-snapshot mysql-replicate mysql-cutover resume")
            // parallelism: auto, for a small database: one connection.
            #expect(try await env.jsonpath("migration/online", #".status.steps[?(@.name=="mysql-snapshot")].result.databases[*].parallelism"#) == "1")
        }
        }
    }

    @Test("stopSource stops the old application first; then the controller killed while the cutover Job holds the source read-only, and the Job's pod killed after it stopped the replica: the next controller runs the cutover again, which carries on; never both writable, every acknowledged write on the target, the downtime counted from the stop; the first copy from a package that recorded its GTID position; reverse replication set up, and ferry.dev/cutover=reverse goes back: the workloads stop, the old server takes over with every write made on the new one")
    func cutoverCrash() async throws {
        try await ReplicationPair.exclusive { pair in
        let db = "crash_\(UUID().uuidString.prefix(6).lowercased())"
        try await pair.makeSource(db, rows: 2000, grants: "REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD, BINLOG MONITOR")
        // The first copy comes from a package exported with its GTID position; replication catches up from there.
        let exportDir = try makeTempDir("crash-export")
        let package = exportDir + "/package"
        try Data("output: \(package)\nappVersion: '6.4.1'\nmysql: {host: 127.0.0.1, port: \(pair.sourcePort), user: root, databases: [\(db)], gtid: true}\n".utf8)
            .write(to: URL(fileURLWithPath: exportDir + "/export.yaml"))
        let exported = try await runCommand(repoRoot + "/.build/debug/ferry", ["export", "--config", exportDir + "/export.yaml"], timeout: 180)
        #expect(exported.status == 0, "\(exported.stdout) \(exported.stderr)")
        let marks = try makeTempDir("crash-marks")
        let wrapper = marks + "/ferry-step"
        try Data("#!/bin/sh\nFERRY_TEST_FAILPOINT=cutover-after-read-only:pause:\(marks),cutover-after-stop-replica:kill:\(marks) exec \(repoRoot)/.build/debug/ferry \"$@\"\n".utf8)
            .write(to: URL(fileURLWithPath: wrapper))
        chmod(wrapper, 0o755)
        try await KubectlEnv.with { env in
            try await Self.prepare(env)
            let steps = ["--step-command", wrapper, "--step-image", "ferry:test", "--step-retry-delay", "0.3", "--step-poll", "0.3"]
            let first = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "crash-\(UUID().uuidString.prefix(4))", extra: steps)
            defer { first.terminateNow() }
            let writer = try SQLWriter.start(port: pair.sourcePort, db: db, statements: 30000, pauseSeconds: 0.004)
            defer { writer.stop() }
            // The old application's stop: the user's Job kills the writer.
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("crash", pair, db: db, package: package, verify: false, stopSource: "kill -9 \(writer.pid)", reverse: true,
                                                                                              snapshot: "package")).status == 0)
            #expect(try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/crash", ".status.phase") == "Replicating" })
            #expect(try await env.kubectl("annotate", "migration/crash", "ferry.dev/cutover=now").status == 0)
            let paused = try await eventually(timeout: 120, interval: 0.2) { FileManager.default.fileExists(atPath: marks + "/cutover-after-read-only.reached") }
            #expect(paused, "the cutover Job reached the source read-only")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-stop-source")].state"#) == "Succeeded")
            await writer.wait()
            #expect(!writer.errors.contains("1290"), "the old application was stopped before the source went read-only: none of its writes was refused")
            first.kill9()
            #expect(try await pair.sql(pair.sourcePort, "SELECT @@read_only") == "1")
            #expect(try await pair.sql(pair.targetPort, "SELECT @@read_only") == "1", "mid-cutover: the target is not writable beside the source")

            let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "crash-\(UUID().uuidString.prefix(4))", extra: steps)
            defer { controller.terminateNow() }
            FileManager.default.createFile(atPath: marks + "/cutover-after-read-only.release", contents: nil)
            let done = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/crash", ".status.phase") == "Succeeded" }
            let yaml = try await env.kubectl("get", "migration/crash", "-o", "yaml").stdout
            #expect(done, "\(yaml)\n\(controller.log.suffix(3000))")
            #expect(FileManager.default.fileExists(atPath: marks + "/cutover-after-stop-replica.fired"), "the first cutover Job was killed after it stopped the replica")
            #expect((Int(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-cutover")].attempts"#)) ?? 0) >= 2, "the cutover ran again")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-cutover")].result.resumed"#) == "true", "\(yaml)")
            #expect(try await pair.sql(pair.sourcePort, "SELECT @@read_only") == "1")
            #expect(try await pair.sql(pair.targetPort, "SELECT @@read_only") == "0")
            let onTarget = Set(try await pair.sql(pair.targetPort, "SELECT id FROM \(db).t WHERE id > 100000").split(separator: "\n").map(String.init))
            let lost = writer.inserted.filter { !onTarget.contains($0) && !writer.deleted.contains($0) }
            #expect(!writer.inserted.isEmpty && lost.isEmpty, "acknowledged writes missing on the target: \(lost.prefix(10))")
            #expect(try await pair.checksum(pair.targetPort, db) == pair.checksum(pair.sourcePort, db))
            let from = try await env.jsonpath("migration/crash", ".status.downtime.from")
            let readOnlyAt = try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-cutover")].result.readOnlyAt"#)
            #expect(!from.isEmpty && from < readOnlyAt, "the downtime started with the first attempt (\(from)), before the run that finished (\(readOnlyAt))")
            #expect(from == (try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-stop-source")].startedAt"#)), "the downtime starts with the old application's stop")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[*].name"#) == "validate quiesce mysql-snapshot mysql-replicate mysql-stop-source mysql-cutover resume mysql-reverse mysql-cutback")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-reverse")].state"#) == "Succeeded")
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: package + "/manifest.json"))) as? [String: Any]
            let recorded = manifest?["mysqlGTIDPosition"] as? String
            let copiedAt = try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-snapshot")].result.gtidPosition"#)
            #expect(recorded != nil && copiedAt == recorded,
                    "the copy came from the package, at the position it recorded (\(recorded ?? "none")); the writes since came by replication")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-cutback")].state"#) == "Skipped")

            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "1", "the workloads are back")
            // The new application writes to the new server; the old server follows.
            try await pair.sql(pair.targetPort, "CREATE USER IF NOT EXISTS app@'%' IDENTIFIED BY 'app'; GRANT SELECT, INSERT, UPDATE, DELETE ON \(db).* TO app@'%'")
            let newApp = try SQLWriter.start(port: pair.targetPort, db: db, statements: 30000, pauseSeconds: 0.004, firstID: 500_000)
            defer { newApp.stop() }
            #expect(try await eventually(timeout: 60) { newApp.acknowledged.count > 50 })
            #expect(try await eventually(timeout: 30) { (try await pair.sql(pair.sourcePort, "SELECT COUNT(*) FROM \(db).t WHERE id > 500000")) != "0" }, "the old server follows the new one")
            #expect(try await env.kubectl("annotate", "--overwrite", "migration/crash", "ferry.dev/cutover=reverse").status == 0)
            let back = try await eventually(timeout: 120, interval: 0.3) {
                try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql-cutback")].state"#) == "Succeeded"
            }
            let afterBack = try await env.kubectl("get", "migration/crash", "-o", "yaml").stdout
            #expect(back, "\(afterBack)")
            #expect(try await env.jsonpath("migration/crash", ".status.phase") == "Succeeded")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "0", "the new application stays stopped: the app goes back to the old side")
            #expect(try await eventually(timeout: 30) { newApp.errors.contains("1290") }, "the new server refused writes once read-only")
            newApp.stop()
            await newApp.wait()
            #expect(try await pair.sql(pair.sourcePort, "SELECT @@read_only") == "0", "the old server takes writes again")
            #expect(try await pair.sql(pair.targetPort, "SELECT @@read_only") == "1")
            let onOld = Set(try await pair.sql(pair.sourcePort, "SELECT id FROM \(db).t WHERE id > 500000").split(separator: "\n").map(String.init))
            let lostBack = newApp.inserted.filter { !onOld.contains($0) && !newApp.deleted.contains($0) }
            #expect(!newApp.inserted.isEmpty && lostBack.isEmpty, "writes acknowledged by the new server missing on the old one: \(lostBack.prefix(10))")
            #expect(try await pair.checksum(pair.targetPort, db) == pair.checksum(pair.sourcePort, db))
        }
        }
    }
}
