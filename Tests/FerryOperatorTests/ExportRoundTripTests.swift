import FerryAPI
import FerrySteps
import Foundation
import KubeClient
import TestSupport
import Testing

/// `ferry export` on the "source", then a Migration restoring its package
/// through kubectl and KubeSim (HTTPS, so the config step can write its Secret
/// as its own service account), checked item by item against the source.
@Suite("Export → restore round trip (kubectl, KubeSim over HTTPS, real servers)", .serialized, .timeLimit(.minutes(4)))
struct ExportRoundTripTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    static func sql(_ servers: TestServers, _ statements: String) async throws -> String {
        try await RestoreEndToEndTests.sql(servers, statements)
    }

    static func checksums(_ servers: TestServers, _ db: String) async throws -> String {
        try await sql(servers, "CHECKSUM TABLE `\(db)`.customers, `\(db)`.orders, `\(db)`.empty_one;")
    }

    static func fingerprint(_ ch: ClickHouseClient, _ table: String) async throws -> String {
        try await ch.query("SELECT _partition_id, count(), sum(cityHash64(d, id, msg)) FROM \(table) GROUP BY _partition_id ORDER BY _partition_id")
    }

    static func apply(_ env: KubectlEnv, _ yaml: String) async throws {
        let r = try await env.kubectl("apply", "-f", "-", input: yaml)
        guard r.status == 0 else { throw RestoreEndToEndTests.Failure(description: r.combined) }
    }

    static func waitForEnd(_ env: KubectlEnv, _ name: String, timeout: Double = 150) async throws -> String {
        _ = try await eventually(timeout: timeout, interval: 0.5) {
            let phase = try await env.jsonpath("migration/\(name)", ".status.phase")
            return phase == "Succeeded" || phase == "Failed"
        }
        return try await env.jsonpath("migration/\(name)", ".status.phase")
    }

    @Test("export, then restore by Migration: every table's CHECKSUM equal, ClickHouse rows per partition equal, Kafka offsets equal, files identical, the config Secret decrypted equal to the source files; a wrong key fails the config step by name")
    func roundTrip() async throws {
        let servers = try await TestServers.shared()
        let tag = UUID().uuidString.prefix(6).lowercased()
        // The source: two databases with awkward data, a partitioned ClickHouse table, a Kafka group, files, config.
        let databases = ["rt_\(tag)_a", "rt_\(tag)_b"]
        for db in databases {
            _ = try await Self.sql(servers, """
                CREATE DATABASE `\(db)` DEFAULT CHARACTER SET utf8mb4; USE `\(db)`;
                CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT, photo BLOB, KEY by_name (name)) ENGINE=InnoDB;
                INSERT INTO customers (name, note, photo) VALUES
                  ('O''Brien', 'line1\\nline2\\ttab \\\\ backslash; ), (', UNHEX('00FF27225C0A1A')), ('日本語 ✓', NULL, NULL), ('', '', '');
                INSERT INTO customers (name, note) SELECT CONCAT('c', seq), REPEAT(MD5(seq), 3) FROM seq_1_to_8000;
                CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2),
                  CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB;
                INSERT INTO orders SELECT seq, 1 + seq % 8000, seq * 1.5 FROM seq_1_to_3000;
                CREATE TABLE empty_one (id INT PRIMARY KEY) ENGINE=InnoDB;
                CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 4000;
                """)
        }
        var sums: [String: String] = [:]
        for db in databases { sums[db] = try await Self.checksums(servers, db) }
        let ch = try ClickHouseClient(ClickHouseEndpoint(url: servers.clickhouseURL, user: "ferry", password: "s3cret pass"))
        let table = "rt_\(tag).events"
        try await ch.query("CREATE DATABASE rt_\(tag)")
        try await ch.query("CREATE TABLE \(table) (d Date, id UInt64, msg String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
        try await ch.query("INSERT INTO \(table) SELECT toDate('2024-01-01') + (number % 100), number, concat('e\\t', toString(number)) FROM system.numbers LIMIT 12000")
        let chPrint = try await Self.fingerprint(ch, table)
        let group = "rt-\(tag)", topic = "rt-jobs-\(tag)"
        _ = try await KafkaPython.run(servers, """
            seed(["\(topic)"], 3, 6)
            commit("\(group)", {("\(topic)", 0): 2, ("\(topic)", 1): 5, ("\(topic)", 2): 0})
            """)
        let files = try makeTempDir("rt-files")
        for i in 0..<200 {
            let dir = "\(files)/u\(i % 9)/\(i % 2 == 0 ? "a b" : "c")"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data((0..<(i * 97 % 5000)).map { UInt8(($0 * 31 + i) % 256) }).write(to: URL(fileURLWithPath: "\(dir)/file-\(i).dat"))
        }
        let etc = try makeTempDir("rt-etc")
        let configFiles = ["app.yaml": "db:\n  host: mysql\n  password: from-the-old-box\n", "license.key": "LICENSE-\(tag)\n"]
        for (name, text) in configFiles { try text.write(toFile: "\(etc)/\(name)", atomically: true, encoding: .utf8) }
        let keyText = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try keyText.write(toFile: etc + "/../rt-\(tag).key", atomically: true, encoding: .utf8)
        let output = try makeTempDir("rt-package") + "/pkg"
        let config = """
            output: \(output)
            appVersion: "6.4.1"
            mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), user: root, databases: [\(databases.joined(separator: ", "))]}
            clickhouse: {url: "\(servers.clickhouseURL)", user: ferry, tables: [\(table)]}
            kafka: {bootstrap: "127.0.0.1:\(servers.kafkaPort)", groups: [\(group)]}
            files: [{name: files, path: "\(files)"}]
            config: {files: ["\(etc)/app.yaml", "\(etc)/license.key"], keyFile: "\(etc)/../rt-\(tag).key"}
            """
        let configPath = try makeTempDir("rt-config") + "/export.yaml"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        // A careful operator's umask 077 must not make the package unreadable for the step image's uid 65532.
        let exported = try await runCommand("/bin/sh", ["-c", "umask 077; exec \"$0\" export --config \"$1\"", Self.ferry, configPath],
                                            environment: ["FERRY_CLICKHOUSE_PASSWORD": "s3cret pass", "PATH": "/usr/bin:/bin"], timeout: 120)
        #expect(exported.status == 0, "\(exported.combined)")
        let verified = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verified.status == 0, "\(verified.combined)")
        let unreadable = try await runCommand("/usr/bin/find", [output, "(", "-type", "f", "!", "-perm", "-o=r", ")", "-o", "(", "-type", "d", "!", "-perm", "-o=rx", ")"])
        #expect(unreadable.stdout.isEmpty, "package files another uid cannot read: \(unreadable.stdout)")

        // The source goes away (or: this is the new cluster); offsets moved on.
        for db in databases { _ = try await Self.sql(servers, "DROP DATABASE `\(db)`;") }
        try await ch.query("DROP DATABASE rt_\(tag)")
        _ = try await KafkaPython.run(servers, "commit(\"\(group)\", {(\"\(topic)\", 0): 6, (\"\(topic)\", 1): 6, (\"\(topic)\", 2): 6})\n")

        try await KubectlEnv.with(tls: true) { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await RestoreEndToEndTests.createSecrets(env, servers, extra: """
                apiVersion: v1
                kind: Secret
                metadata: {name: ops-config-key}
                stringData: {key: "\(keyText)"}
                """)
            let controller = try ControllerProcess.runningSteps(env, name: "rt")
            defer { controller.terminateNow() }
            // A hardened namespace: PodSecurity restricted, the package on a volume claim (hostPath is not allowed there).
            #expect(try await env.kubectl("label", "namespace", "default", "pod-security.kubernetes.io/enforce=restricted").status == 0)
            let claim = env.fixture.server.dataDirectory + "/volumes/default/backup"
            try FileManager.default.createDirectory(atPath: env.fixture.server.dataDirectory + "/volumes/default", withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: output, toPath: claim)
            try await Self.apply(env, """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: rt, namespace: default}
                spec:
                  package: {persistentVolumeClaim: backup}
                  appVersion: "6.4.1"
                  mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: mysql-root}
                  clickhouse: {url: "\(servers.clickhouseURL)", credentialsSecret: clickhouse-ferry}
                  kafka: {bootstrap: "127.0.0.1:\(servers.kafkaPort)"}
                  config: {secretName: ops-config, keySecret: ops-config-key}
                  files:
                  - {name: attachments, from: files, to: {persistentVolumeClaim: app-files}}

                """)
            let phase = try await Self.waitForEnd(env, "rt")
            let yaml = try await env.kubectl("get", "migration", "rt", "-o", "yaml").stdout
            #expect(phase == "Succeeded", "\(yaml)\n\(controller.log.suffix(2000))")
            // Every step ran in a pod the restricted admission let in, with a writable /tmp of its own.
            let job = try await env.kubectl("get", "jobs", "-l", "ferry.dev/migration=rt", "-o", "json").stdout
            #expect(job.contains("\"RuntimeDefault\"") && job.contains("\"TMPDIR\"") && !job.contains("hostPath"), "\(job.prefix(3000))")

            for db in databases { #expect(try await Self.checksums(servers, db) == sums[db], "CHECKSUM TABLE of \(db)") }
            #expect(try await Self.fingerprint(ch, table) == chPrint, "rows and content per partition")
            let committed = try await KafkaPython.run(servers, "print(json.dumps(committed(\"\(group)\", [(\"\(topic)\", p) for p in range(3)]), sort_keys=True))\n")
            #expect(committed.trimmingCharacters(in: .whitespacesAndNewlines) == "{\"\(topic)/0\": 2, \"\(topic)/1\": 5, \"\(topic)/2\": 0}")
            let target = env.fixture.server.dataDirectory + "/volumes/default/app-files"
            #expect(try await runCommand("/usr/bin/diff", ["-r", "-q", files, target], timeout: 60).status == 0, "files identical")

            // The config Secret: one key per file, equal to the source; the status names the keys, never the values.
            for (name, text) in configFiles {
                let b64 = try await env.jsonpath("secret/ops-config", ".data.\(name.replacingOccurrences(of: ".", with: "\\."))")
                #expect(Data(base64Encoded: b64).map { String(decoding: $0, as: UTF8.self) } == text, "\(name)")
            }
            let status = try await env.kubectl("get", "migration", "rt", "-o", "json").stdout
            #expect(status.contains("license.key") && !status.contains("from-the-old-box") && !status.contains("LICENSE-\(tag)"))
            #expect(try await env.jsonpath("serviceaccount/rt-config", ".metadata.ownerReferences[0].name") == "rt")

            // config.secretName naming a Secret Ferry did not write: refused, the Secret untouched; the Role follows the new name.
            try await Self.apply(env, "apiVersion: v1\nkind: Secret\nmetadata: {name: app-db}\nstringData: {password: keep-me}\n")
            #expect(try await env.kubectl("patch", "migration", "rt", "--type=merge", "-p", #"{"spec":{"config":{"secretName":"app-db"}}}"#).status == 0)
            #expect(try await env.kubectl("annotate", "migration", "rt", "ferry.dev/rerun=config").status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.5) { try await env.jsonpath("migration/rt", ".status.phase") == "Failed" })
            let refused = try await env.jsonpath("migration/rt", #".status.steps[?(@.name=="config")].message"#)
            #expect(refused.contains("Secret default/app-db already exists and Ferry did not write it"), "\(refused)")
            #expect(try await env.jsonpath("secret/app-db", ".data.password") == Data("keep-me".utf8).base64EncodedString())
            #expect(try await env.jsonpath("role/rt-config", ".rules[0].resourceNames[0]") == "app-db", "the Role follows spec.config.secretName")
            #expect(try await env.kubectl("patch", "migration", "rt", "--type=merge", "-p", #"{"spec":{"config":{"secretName":"ops-config"}}}"#).status == 0)
            #expect(try await env.kubectl("annotate", "migration", "rt", "ferry.dev/rerun-").status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.5) { try await env.jsonpath("migration/rt", ".status.phase") == "Succeeded" })

            // A wrong key: the config step fails by name and is not retried; the Secret keeps its values.
            let wrong = Data(repeating: 1, count: 32).base64EncodedString()
            try await Self.apply(env, "apiVersion: v1\nkind: Secret\nmetadata: {name: ops-config-key}\nstringData: {key: \"\(wrong)\"}\n")
            #expect(try await env.kubectl("annotate", "migration", "rt", "ferry.dev/rerun=config").status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.5) { try await env.jsonpath("migration/rt", ".status.phase") == "Failed" })
            let message = try await env.jsonpath("migration/rt", #".status.steps[?(@.name=="config")].message"#)
            #expect(message.contains("the key is wrong") && message.contains("spec.config.keySecret"), "\(message)")
            #expect(try await env.jsonpath("migration/rt", #".status.steps[?(@.name=="config")].failures"#) == "1", "a wrong key is not retried")
            let kept = try await env.jsonpath("secret/ops-config", ".data.license\\.key")
            #expect(Data(base64Encoded: kept).map { String(decoding: $0, as: UTF8.self) } == configFiles["license.key"])
        }
    }

    @Test("a corrupted dump in an exported package: --verify names it, and the Migration fails at validate: the database is not dropped, the workload never scaled down")
    func corruptedPackage() async throws {
        let servers = try await TestServers.shared()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let db = "cor_\(tag)"
        _ = try await Self.sql(servers, "CREATE DATABASE `\(db)`; USE `\(db)`; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_500;")
        let output = try makeTempDir("cor-package") + "/pkg"
        let exported = try await runCommand(Self.ferry, ["export", "--output", output, "--app-version", "6.4.1", "--mysql-host", "127.0.0.1", "--mysql-port", String(servers.mysqlPort), "--database", db])
        #expect(exported.status == 0, "\(exported.combined)")
        let manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")))
        let partFile = try #require(manifest.mysql[db]?.parts?.first?.file)
        let dump = "\(output)/\(partFile)"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dump))
        let at = bytes.range(of: Data("row 250".utf8))!.lowerBound
        bytes[at] = UInt8(ascii: "R")
        try bytes.write(to: URL(fileURLWithPath: dump))
        let verify = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verify.status == 1 && verify.stdout.contains("\(partFile): sha256"), "\(verify.combined)")

        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await Self.apply(env, """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: app, labels: {part-of: cor}}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: cor}}
                  template:
                    metadata: {labels: {app: cor}}
                    spec: {terminationGracePeriodSeconds: 1, containers: [{name: app, image: busybox, command: [sleep, "3600"]}]}

                """)
            try await RestoreEndToEndTests.createSecrets(env, servers)
            let controller = try ControllerProcess.runningSteps(env, name: "cor")
            defer { controller.terminateNow() }
            try await Self.apply(env, """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: cor, namespace: default}
                spec:
                  package: {hostPath: \(output)}
                  appVersion: "6.4.1"
                  workloads: {selector: {matchLabels: {part-of: cor}}}
                  mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: mysql-root}

                """)
            #expect(try await Self.waitForEnd(env, "cor", timeout: 60) == "Failed")
            let message = try await env.jsonpath("migration/cor", #".status.steps[?(@.name=="validate")].message"#)
            #expect(message.contains("\(partFile): sha256") && message.contains("export it again"), "\(message)")
            #expect(try await env.jsonpath("migration/cor", #".status.steps[?(@.name=="quiesce")].state"#) == "Pending", "the app was never stopped")
            #expect(try await env.jsonpath("deployment/app", ".spec.replicas") == "2")
            #expect(try await Self.sql(servers, "SELECT COUNT(*) FROM `\(db)`.t") == "500", "nothing was dropped")
        }
    }
}
