import FerryAPI
import FerryEngine
import FerryOperator
import FerrySteps
import Foundation
import KubeClient
import TestSupport
import Testing

/// A whole restore through kubectl: KubeSim runs the step Jobs as local
/// `ferry restore …` processes against the real MariaDB, ClickHouse and
/// Redis; the controller runs as its own process.
@Suite("Restore end to end (kubectl, KubeSim pod runner, real servers)", .serialized, .timeLimit(.minutes(4)))
struct RestoreEndToEndTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func sql(_ servers: TestServers, _ statements: String) async throws -> String {
        let r = try await runCommand("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "-N", "-B"], input: statements)
        guard r.status == 0 else { throw Failure(description: "mariadb: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func checksum(_ servers: TestServers, _ db: String) async throws -> String {
        try await sql(servers, "CHECKSUM TABLE `\(db)`.items, `\(db)`.tags;").split(separator: "\n").map { $0.split(separator: "\t").dropFirst().joined() }.joined(separator: ",")
    }

    /// What the package was made from, to compare the target against.
    struct Source {
        var package: String
        var databases: [String]
        var checksums: [String: String]
        var table: String
        var clickhouseFingerprint: String
    }

    static func fingerprint(_ ch: ClickHouseClient, _ table: String) async throws -> String {
        try await ch.query("SELECT toYYYYMM(d) AS p, count(), sum(cityHash64(d, id, msg)) FROM \(table) GROUP BY p ORDER BY p")
    }

    /// Source databases and a partitioned ClickHouse table are exported into a Ferry-layout
    /// package, fingerprinted, then dropped: the restore must bring them back as they were.
    static func makePackage(_ servers: TestServers, rows: [Int], version: String = "6.4.1") async throws -> Source {
        let tag = UUID().uuidString.prefix(6).lowercased()
        let package = try makeTempDir("e2e-package")
        try FileManager.default.createDirectory(atPath: package + "/mysql", withIntermediateDirectories: true)
        var manifest = PackageManifest()
        var databases: [String] = []
        var checksums: [String: String] = [:]
        for (i, n) in rows.enumerated() {
            let db = "e2e_\(tag)_\(i == 0 ? "big" : "db\(i)")"
            _ = try await sql(servers, """
                CREATE DATABASE `\(db)`; USE `\(db)`;
                CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, note TEXT, KEY by_name (name)) ENGINE=InnoDB;
                INSERT INTO items SELECT seq, CONCAT('item ', seq), IF(seq % 3 = 0, NULL, CONCAT('it''s\\t', REPEAT('x', seq % 40))) FROM seq_1_to_\(n);
                CREATE TABLE tags (item_id INT NOT NULL, tag VARCHAR(20), CONSTRAINT fk_item FOREIGN KEY (item_id) REFERENCES items (id)) ENGINE=InnoDB;
                INSERT INTO tags SELECT seq, 'tag' FROM seq_1_to_\(min(n, 500));
                """)
            let rel = "mysql/\(db).sql"
            let dump = try await runCommand("/usr/bin/mysqldump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "--single-transaction", "--databases", db, "--result-file=\(package)/\(rel)"])
            guard dump.status == 0 else { throw Failure(description: "mysqldump: \(dump.stderr)") }
            manifest.mysql[db] = try ManifestBuilder.mysqlEntry(dumpPath: "\(package)/\(rel)", relativePath: rel)
            manifest.sha256[rel] = try ManifestBuilder.sha256(of: "\(package)/\(rel)")
            checksums[db] = try await checksum(servers, db)
            _ = try await sql(servers, "DROP DATABASE `\(db)`;")
            databases.append(db)
        }
        let ch = try ClickHouseClient(ClickHouseEndpoint(url: servers.clickhouseURL, user: "ferry", password: "s3cret pass"))
        let chdb = "e2e_\(tag)"
        let table = "\(chdb).events"
        try await ch.query("CREATE DATABASE \(chdb)")
        try await ch.query("CREATE TABLE \(table) (d Date, id UInt64, msg String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
        try await ch.query("INSERT INTO \(table) SELECT toDate('2024-01-01') + (number % 90), number, concat('event ', toString(number)) FROM system.numbers LIMIT 20000")
        let (entry, sha) = try await ClickHouseExport.exportTable(table, client: ch, packageRoot: package)
        manifest.clickhouse[table] = entry
        manifest.sha256[entry.data] = sha
        let fingerprint = try await Self.fingerprint(ch, table)
        try await ch.query("DROP DATABASE \(chdb)")
        try ManifestBuilder.writeJSON(manifest, to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: version, createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box",
                                                      contents: .init(mysql: databases, clickhouse: [table], redis: true)), to: package + "/ferry-package.json")
        return Source(package: package, databases: databases, checksums: checksums, table: table, clickhouseFingerprint: fingerprint)
    }

    /// The credentials Secrets the example names: mysql-root, clickhouse-ferry, redis-auth, plus `extra` YAML.
    /// By apply: imperative `kubectl create secret` speaks protobuf, which KubeSim does not.
    static func createSecrets(_ env: KubectlEnv, _ servers: TestServers, clickhousePassword: String = "s3cret pass", extra: String = "") async throws {
        let secrets = """
            apiVersion: v1
            kind: Secret
            metadata: {name: mysql-root}
            stringData: {username: root, password: ""}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: clickhouse-ferry}
            stringData: {username: ferry, password: "\(clickhousePassword)"}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: redis-auth}
            stringData: {password: "\(servers.redisPassword)"}
            \(extra.isEmpty ? "" : "---\n" + extra)

            """
        let created = try await env.kubectl("apply", "-f", "-", input: secrets)
        guard created.status == 0 else { throw Failure(description: created.combined) }
    }

    /// Two workloads (2 and 3 replicas) whose pods are real local processes, a ConfigMap, the Secrets.
    static func makeCluster(_ env: KubectlEnv, _ servers: TestServers, clickhousePassword: String) async throws {
        let objects = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, labels: {app.kubernetes.io/part-of: e2e}}
            spec:
              replicas: 2
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {terminationGracePeriodSeconds: 2, containers: [{name: web, image: busybox, command: [sleep, "3600"]}]}
            ---
            apiVersion: apps/v1
            kind: StatefulSet
            metadata: {name: worker, labels: {app.kubernetes.io/part-of: e2e}}
            spec:
              replicas: 3
              serviceName: worker
              selector: {matchLabels: {app: worker}}
              template:
                metadata: {labels: {app: worker}}
                spec: {terminationGracePeriodSeconds: 2, containers: [{name: worker, image: busybox, command: [sleep, "3600"]}]}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: app-config}
            data: {kilobSyncSchemaHash: "abc123"}

            """
        let applied = try await env.kubectl("apply", "-f", "-", input: objects)
        guard applied.status == 0 else { throw Failure(description: applied.combined) }
        try await createSecrets(env, servers, clickhousePassword: clickhousePassword)
        let ready = try await eventually(timeout: 30) {
            let web = try await env.jsonpath("deployment/web", ".status.readyReplicas")
            let worker = try await env.jsonpath("statefulset/worker", ".status.readyReplicas")
            return web == "2" && worker == "3"
        }
        guard ready else { throw Failure(description: "workloads never became ready") }
    }

    static func migrationYAML(_ name: String, _ source: Source, _ servers: TestServers, appVersion: String = "6.4.1", clickhouseOptional: Bool = false, mysqlSecret: String = "mysql-root", moreRebuilds: String = "", kafka: Bool = false) -> String {
        """
        apiVersion: ferry.dev/v1alpha1
        kind: Migration
        metadata: {name: \(name), namespace: default}
        spec:
          package: {hostPath: \(source.package)}
          appVersion: "\(appVersion)"
          workloads:
            selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}
          mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: \(mysqlSecret), parallelism: auto}
          clickhouse: {url: "\(servers.clickhouseURL)", credentialsSecret: clickhouse-ferry, maxInsertBlockSize: 5000, optional: \(clickhouseOptional)}
          redis: {host: 127.0.0.1, port: \(servers.redisPort), credentialsSecret: redis-auth}
        \(kafka ? "  kafka: {bootstrap: \"127.0.0.1:\(servers.kafkaPort)\"}" : "")
          rebuilds:
          - name: search-index
            configMap: {name: app-config, key: kilobSyncSchemaHash}
        \(moreRebuilds)
        """
    }

    static func controller(_ env: KubectlEnv, _ name: String, retryDelay: Double = 0.3) throws -> ControllerProcess {
        try ControllerProcess.runningSteps(env, name: name, retryDelay: retryDelay)
    }

    static func fillRedis(_ servers: TestServers) throws {
        let r = try RedisClient(RedisEndpoint(host: "127.0.0.1", port: servers.redisPort, password: servers.redisPassword))
        for i in 0..<25 { try r.command(["session:\(i)", "stale"], name: "SET") }
    }

    static func redisKeys(_ servers: TestServers) throws -> Int {
        let r = try RedisClient(RedisEndpoint(host: "127.0.0.1", port: servers.redisPort, password: servers.redisPassword))
        guard case .integer(let n) = try r.command([], name: "DBSIZE") else { return -1 }
        return n
    }

    func withEnv(_ body: (KubectlEnv, TestServers) async throws -> Void) async throws {
        let servers = try await TestServers.shared()
        try await KubectlEnv.with { env in
            let crd = try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml")
            #expect(crd.status == 0, "\(crd.combined)")
            try await body(env, servers)
        }
    }

    @Test("the example flow restores a generated package: Succeeded; data verified in the target; workloads (2 and 3 replicas) stopped then restored; Kafka offsets set back; Redis flushed; ConfigMap key bumped")
    func fullRestore() async throws {
        try await withEnv { env, servers in
            let source = try await Self.makePackage(servers, rows: [3000, 2000])
            // Kafka: a group's offsets saved into the package, then moved away; the kafka step must set them back.
            let group = "app-\(UUID().uuidString.prefix(6).lowercased())", topic = "jobs-\(group)"
            _ = try await KafkaPython.run(servers, """
                seed(["\(topic)"], 2, 5)
                commit("\(group)", {("\(topic)", 0): 3, ("\(topic)", 1): 4})
                """)
            let exported = try await runCommand(repoRoot + "/.build/debug/ferry", ["export", "kafka", "--bootstrap", "127.0.0.1:\(servers.kafkaPort)", "--group", group, "--output", source.package + "/kafka/offsets.json"], timeout: 60)
            #expect(exported.status == 0, "\(exported.combined)")
            var manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: source.package + "/manifest.json")))
            manifest.kafkaOffsets = "kafka/offsets.json"
            try ManifestBuilder.writeJSON(manifest, to: source.package + "/manifest.json")
            _ = try await KafkaPython.run(servers, "commit(\"\(group)\", {(\"\(topic)\", 0): 0, (\"\(topic)\", 1): 0})\n")
            try await Self.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            try Self.fillRedis(servers)
            let controller = try Self.controller(env, "e2e")
            defer { controller.terminateNow() }
            let rebuilds = """
                  - name: report
                    job:
                      template:
                        template:
                          spec:
                            restartPolicy: Never
                            containers: [{name: rebuild, image: report:1, command: [sh, -c, "echo rebuilt > /dev/termination-log"]}]
                  - name: web-restart
                    rolloutRestart: {deployment: web}
                """
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migrationYAML("e2e", source, servers, moreRebuilds: rebuilds, kafka: true)).status == 0)
            let done = try await eventually(timeout: 120, interval: 0.5) {
                let phase = try await env.jsonpath("migration/e2e", ".status.phase")
                return phase == "Succeeded" || phase == "Failed"
            }
            #expect(done, "\(controller.log.suffix(3000))")
            let yaml = try await env.kubectl("get", "migration", "e2e", "-o", "yaml").stdout
            #expect(try await env.jsonpath("migration/e2e", ".status.phase") == "Succeeded", "\(yaml)")

            // kubectl get shows it.
            let row = try await env.kubectl("get", "migrations").stdout.split(separator: "\n").last?.split(separator: " ", omittingEmptySubsequences: true) ?? []
            #expect(Array(row.prefix(2)) == ["e2e", "Succeeded"])
            #expect(row.contains("11/11"), "\(row)")
            // The kafka step set the saved offsets back; kafka-python reads them.
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="kafka")].result.partitionsSet"#) == "2")
            let committed = try await KafkaPython.run(servers, "print(json.dumps(committed(\"\(group)\", [(\"\(topic)\", 0), (\"\(topic)\", 1)]), sort_keys=True))\n")
            #expect(committed.trimmingCharacters(in: .whitespacesAndNewlines) == "{\"\(topic)/0\": 3, \"\(topic)/1\": 4}")

            // The data arrived and matches the source.
            for db in source.databases {
                #expect(try await Self.checksum(servers, db) == source.checksums[db], "\(db)")
            }
            let ch = try ClickHouseClient(ClickHouseEndpoint(url: servers.clickhouseURL, user: "ferry", password: "s3cret pass"))
            #expect(try await Self.fingerprint(ch, source.table) == source.clickhouseFingerprint)
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="clickhouse/\#(source.table)")].result.partitions"#) == "3")
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="mysql/\#(source.databases[0])")].result.rows"#) == "3500")
            // parallelism: auto, for a database far below 8 MiB a part: one connection.
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="mysql/\#(source.databases[0])")].result.parallelism"#) == "1")
            #expect(try Self.redisKeys(servers) == 0)

            // Workloads were stopped with their replicas saved, and are back.
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="quiesce")].result.workloads[*].replicas"#) == "2 3")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3")
            #expect(try await env.jsonpath("deployment/web", ".metadata.annotations") .contains("ferry.dev/replicas") == false)
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("deployment/web", ".status.readyReplicas") == "2" })

            // The rebuild: a new ConfigMap value, old and new recorded.
            let bumped = try await env.jsonpath("configmap/app-config", ".data.kilobSyncSchemaHash")
            #expect(bumped != "abc123" && bumped.hasPrefix("ferry-"))
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="rebuild/search-index")].result.old"#) == "abc123")
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="rebuild/search-index")].result.new"#) == bumped)
            // The Job from a template ran to completion; the Deployment got its restart stamp.
            let reportJob = try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="rebuild/report")].result.job"#)
            #expect(reportJob == JobNames.name(migration: "e2e", step: "rebuild/report", attempt: 1))
            #expect(try await env.jsonpath("job/\(reportJob)", #".status.conditions[?(@.type=="Complete")].status"#) == "True")
            let restartedAt = try await env.jsonpath("deployment/web", #".spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt"#)
            #expect(!restartedAt.isEmpty)
            #expect(try await env.jsonpath("migration/e2e", #".status.steps[?(@.name=="rebuild/web-restart")].result.restartedAt"#) == restartedAt)

            // Events tell the story; no secret value anywhere in the status or the events.
            let describe = try await env.kubectl("describe", "migration", "e2e").stdout
            #expect(describe.contains("StepSucceeded"))
            #expect(!yaml.contains("s3cret") && !describe.contains("s3cret") && !describe.contains(servers.redisPassword))
            #expect(!controller.log.contains("s3cret"))
            #expect(try await env.jsonpath("migration/e2e", #".status.conditions[?(@.type=="Ready")].status"#) == "True")
            for db in source.databases { _ = try await Self.sql(servers, "DROP DATABASE `\(db)`;") }
        }
    }

    @Test("kill -9 the controller during a MySQL step: the restart continues and no finished step runs again; an optional ClickHouse failure → Degraded and the plan goes on; the rerun annotation re-imports exactly one database")
    func crashOptionalAndRerun() async throws {
        try await withEnv { env, servers in
            let source = try await Self.makePackage(servers, rows: [300_000, 1000])
            let big = source.databases[0], small = source.databases[1]
            try await Self.makeCluster(env, servers, clickhousePassword: "wrong password")
            let first = try Self.controller(env, "first")
            defer { first.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migrationYAML("crash", source, servers, clickhouseOptional: true)).status == 0)
            let midImport = try await eventually(timeout: 60, interval: 0.05) {
                try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql/\#(big)")].state"#) == "Running"
            }
            #expect(midImport, "\(first.log.suffix(2000))")
            first.kill9()
            await waitForExit(first.process)
            let second = try Self.controller(env, "second")
            defer { second.terminateNow() }
            let done = try await eventually(timeout: 120, interval: 0.5) {
                let phase = try await env.jsonpath("migration/crash", ".status.phase")
                return phase == "Succeeded" || phase == "Failed"
            }
            #expect(done, "\(second.log.suffix(3000))")
            let yaml = try await env.kubectl("get", "migration", "crash", "-o", "yaml").stdout
            #expect(try await env.jsonpath("migration/crash", ".status.phase") == "Succeeded", "\(yaml)")

            // Nothing ran twice: one run per step, one Job per Job step (the optional ClickHouse step aside).
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql/\#(big)")].attempts"#) == "1", "\(yaml)")
            for step in ["validate", "quiesce", "mysql/\(small)", "resume", "cache", "rebuild/search-index"] {
                #expect(try await env.jsonpath("migration/crash", ".status.steps[?(@.name==\"\(step)\")].attempts") == "1", "\(step)")
            }
            let jobs = try await env.kubectl("get", "jobs", "-o", "name").stdout.split(separator: "\n").map(String.init).sorted()
            #expect(jobs.filter { $0.contains("-mysql-") }.count == 2, "\(jobs)")
            #expect(try await Self.checksum(servers, big) == source.checksums[big])

            // The optional ClickHouse step failed three times, then the plan went on: Degraded.
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="clickhouse/\#(source.table)")].state"#) == "Failed")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="clickhouse/\#(source.table)")].failures"#) == "3")
            #expect(try await env.jsonpath("migration/crash", #".status.conditions[?(@.type=="Degraded")].status"#) == "True")
            #expect(try await env.jsonpath("migration/crash", ".status.message").contains("optional steps failed"))
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")

            // Rerun exactly one database: local changes to it are undone, the other keeps its own.
            _ = try await Self.sql(servers, "DELETE FROM `\(small)`.tags; INSERT INTO `\(big)`.tags VALUES (1, 'local');")
            let bigBefore = try await Self.checksum(servers, big)
            #expect(try await env.kubectl("annotate", "migration", "crash", "ferry.dev/rerun=mysql/\(small)").status == 0)
            let rerun = try await eventually(timeout: 60, interval: 0.3) {
                let handled = try await env.jsonpath("migration/crash", ".status.handledRerun")
                let attempts = try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="mysql/\#(small)")].attempts"#)
                let phase = try await env.jsonpath("migration/crash", ".status.phase")
                return handled == "mysql/\(small)" && attempts == "2" && phase == "Succeeded"
            }
            let rerunYAML = try await env.kubectl("get", "migration", "crash", "-o", "yaml").stdout
            #expect(rerun, "\(rerunYAML)")
            #expect(try await Self.checksum(servers, small) == source.checksums[small])
            #expect(try await Self.checksum(servers, big) == bigBefore, "the other database was not touched")
            let after = try await env.kubectl("get", "jobs", "-o", "name").stdout.split(separator: "\n").map(String.init).sorted()
            #expect(Set(after).subtracting(jobs) == ["job.batch/" + JobNames.name(migration: "crash", step: "mysql/\(small)", attempt: 2)], "\(after)")
            // A re-import runs with the app stopped: quiesce ran again before it and resume after it.
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="quiesce")].attempts"#) == "2")
            #expect(try await env.jsonpath("migration/crash", #".status.steps[?(@.name=="resume")].attempts"#) == "2")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.kubectl("describe", "migration", "crash").stdout.contains("Rerun"))
            for db in source.databases { _ = try await Self.sql(servers, "DROP DATABASE `\(db)`;") }
        }
    }

    @Test("a required step that keeps failing after quiesce: Failed with the message and attempt count, and the workloads come back to 2 and 3 replicas")
    func failureResumesWorkloads() async throws {
        try await withEnv { env, servers in
            let source = try await Self.makePackage(servers, rows: [100])
            try await Self.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let wrong = "apiVersion: v1\nkind: Secret\nmetadata: {name: mysql-wrong}\nstringData: {username: nobody, password: nope}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: wrong).status == 0)
            let controller = try Self.controller(env, "failing")
            defer { controller.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migrationYAML("failing", source, servers, mysqlSecret: "mysql-wrong")).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/failing", ".status.phase") == "Failed" }, "\(controller.log.suffix(2000))")
            let step = "mysql/\(source.databases[0])"
            #expect(try await env.jsonpath("migration/failing", ".status.step") == step)
            #expect(try await env.jsonpath("migration/failing", ".status.steps[?(@.name==\"\(step)\")].failures") == "3")
            let message = try await env.jsonpath("migration/failing", ".status.message")
            #expect(message.contains("failed after 3 attempts"), "\(message)")
            #expect(message.contains("nobody"), "the server's refusal is passed on: \(message)")
            #expect(!message.contains("nope"))
            #expect(try await env.jsonpath("migration/failing", #".status.steps[?(@.name=="quiesce")].state"#) == "Succeeded")
            #expect(try await eventually(timeout: 30, interval: 0.3) { try await env.jsonpath("migration/failing", #".status.steps[?(@.name=="resume")].state"#) == "Succeeded" })
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3")
            #expect(try await eventually(timeout: 30) { try await env.jsonpath("statefulset/worker", ".status.readyReplicas") == "3" })
            #expect(try await env.kubectl("describe", "migration", "failing").stdout.contains("WorkloadsResumed"))
            #expect(try await env.jsonpath("migration/failing", #".status.steps[?(@.name=="cache")].state"#) == "Pending", "nothing after the failure ran")
        }
    }

    @Test("deleting a Migration while its workloads are stopped brings them back before it goes; leaveStoppedOnFailure keeps them at 0 with the saved count")
    func deletionResumesAndLeaveStopped() async throws {
        try await withEnv { env, servers in
            let source = try await Self.makePackage(servers, rows: [100])
            try await Self.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let wrong = "apiVersion: v1\nkind: Secret\nmetadata: {name: mysql-wrong}\nstringData: {username: nobody, password: nope}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: wrong).status == 0)
            // A long retry delay: after the first failure the workloads sit at 0, waiting.
            let controller = try Self.controller(env, "deleting", retryDelay: 60)
            defer { controller.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migrationYAML("waiting", source, servers, mysqlSecret: "mysql-wrong")).status == 0)
            let step = "mysql/\(source.databases[0])"
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/waiting", ".status.steps[?(@.name==\"\(step)\")].failures") == "1" }, "\(controller.log.suffix(2000))")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "0")
            #expect(try await env.jsonpath("deployment/web", ".metadata.annotations.ferry\\.dev/replicas") == "2")
            #expect(try await env.kubectl("delete", "migration", "waiting", "--wait=false").status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.3) { try await env.kubectl("get", "migration", "waiting").status != 0 }, "\(controller.log.suffix(2000))")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3")
            #expect(try await env.kubectl("get", "jobs", "-o", "name").stdout.isEmpty, "its Jobs went with it")

            // leaveStoppedOnFailure: the failure leaves them at 0, the saved count stays for a human.
            let yaml = Self.migrationYAML("stopped", source, servers, mysqlSecret: "mysql-wrong")
                .replacingOccurrences(of: "    selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}", with: "    selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}\n    leaveStoppedOnFailure: true")
            let fast = try Self.controller(env, "fast")
            defer { fast.terminateNow() }
            controller.terminateNow()
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/stopped", ".status.phase") == "Failed" }, "\(fast.log.suffix(2000))")
            try await Task.sleep(nanoseconds: 1_000_000_000)
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "0")
            #expect(try await env.jsonpath("statefulset/worker", ".metadata.annotations.ferry\\.dev/replicas") == "3")
            #expect(try await env.jsonpath("migration/stopped", #".status.steps[?(@.name=="resume")].state"#) == "Pending")
        }
    }

    @Test("a package of another version: Failed at validate with the message; the workloads are never scaled down")
    func versionMismatch() async throws {
        try await withEnv { env, servers in
            let source = try await Self.makePackage(servers, rows: [100], version: "6.3.0")
            try await Self.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let controller = try Self.controller(env, "mismatch")
            defer { controller.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migrationYAML("mismatch", source, servers)).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/mismatch", ".status.phase") == "Failed" }, "\(controller.log.suffix(2000))")
            let message = try await env.jsonpath("migration/mismatch", ".status.message")
            #expect(message.contains("exported from version 6.3.0 but spec.appVersion is 6.4.1"), "\(message)")
            #expect(message.contains("allowVersionMismatch"))
            #expect(try await env.jsonpath("migration/mismatch", ".status.step") == "validate")
            #expect(try await env.jsonpath("migration/mismatch", #".status.steps[?(@.name=="validate")].attempts"#) == "1", "not retried")
            #expect(try await env.jsonpath("migration/mismatch", #".status.steps[?(@.name=="quiesce")].state"#) == "Pending")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3")
            #expect(try await env.jsonpath("deployment/web", ".metadata.annotations").contains("ferry.dev/replicas") == false)
            #expect(try await env.jsonpath("deployment/web", ".status.readyReplicas") == "2")
            #expect(try await env.kubectl("get", "jobs", "-o", "name").stdout.split(separator: "\n").count == 1, "only the validate Job")
            // The source databases were dropped by makePackage and never restored.
            #expect(try await Self.sql(servers, "SHOW DATABASES LIKE '\(source.databases[0])';").isEmpty)
        }
    }
}
