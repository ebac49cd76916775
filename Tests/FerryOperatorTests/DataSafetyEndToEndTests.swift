import FerryAPI
import FerryOperator
import FerrySteps
import Foundation
import KubeClient
import ProcessSpawn
import TestSupport
import Testing

/// What a careless or hostile user, package or server does to a migration,
/// through kubectl against KubeSim with the controller as its own process
/// and step Jobs as real `ferry restore …` processes against MariaDB.
@Suite("Data safety end to end (kubectl, KubeSim, MariaDB)", .serialized, .timeLimit(.minutes(5)))
struct DataSafetyEndToEndTests {
    typealias E = RestoreEndToEndTests
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// A database with an `items` table of `rows` rows.
    static func makeDatabase(_ servers: TestServers, _ db: String, rows: Int) async throws {
        _ = try await E.sql(servers, """
            CREATE DATABASE `\(db)` DEFAULT CHARACTER SET utf8mb4; USE `\(db)`;
            CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, KEY by_name (name)) ENGINE=InnoDB;
            INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_\(rows);
            """)
    }

    static func checksum(_ servers: TestServers, _ db: String) async throws -> String {
        try await E.sql(servers, "CHECKSUM TABLE `\(db)`.items;").split(separator: "\t").last.map(String.init) ?? ""
    }

    /// A legacy package (info.json + `<db>.sql` per database) of these databases, dumped by mysqldump.
    static func legacyPackage(_ servers: TestServers, _ databases: [String]) async throws -> String {
        let package = try makeTempDir("safety-package")
        try Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        for db in databases {
            let r = try await runCommand("/usr/bin/mysqldump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "--single-transaction", db, "--result-file=\(package)/\(db).sql"])
            guard r.status == 0 else { throw Failure(description: "mysqldump: \(r.stderr)") }
        }
        return package
    }

    /// Inserts `text` into a dump just before its completion line.
    static func append(_ text: String, to path: String) throws {
        var dump = try String(contentsOfFile: path, encoding: .utf8)
        let at = dump.range(of: "-- Dump completed")!.lowerBound
        dump.insert(contentsOf: text + "\n", at: at)
        try dump.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func migration(_ name: String, package: String, _ servers: TestServers, secret: String = "mysql-root", selector: String = "{app.kubernetes.io/part-of: e2e}", extra: String = "") -> String {
        """
        apiVersion: ferry.dev/v1alpha1
        kind: Migration
        metadata: {name: \(name), namespace: default}
        spec:
          package: {hostPath: \(package)}
          appVersion: "6.4.1"
          workloads:
            selector: {matchLabels: \(selector)}
          mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: \(secret), parallelism: 2}
        \(extra)
        """
    }

    func withCluster(retryDelay: Double = 0.3, _ body: (KubectlEnv, TestServers, ControllerProcess) async throws -> Void) async throws {
        let servers = try await TestServers.shared()
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await E.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let wrong = "apiVersion: v1\nkind: Secret\nmetadata: {name: mysql-wrong}\nstringData: {username: nobody, password: nope}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: wrong).status == 0)
            let controller = try E.controller(env, "safety-\(UUID().uuidString.prefix(4))", retryDelay: retryDelay)
            defer { controller.terminateNow() }
            try await body(env, servers, controller)
        }
    }

    func phase(_ env: KubectlEnv, _ name: String, _ wanted: String, timeout: Double = 90) async throws -> Bool {
        try await eventually(timeout: timeout, interval: 0.3) { try await env.jsonpath("migration/\(name)", ".status.phase") == wanted }
    }

    @Test("databases whose names collide after slugging (crm_a, crm-a) both arrive: two Jobs, Succeeded, CHECKSUMs equal")
    func slugCollision() async throws {
        try await withCluster { env, servers, controller in
            let tag = UUID().uuidString.prefix(4).lowercased()
            let names = ["crm_a_\(tag)", "crm-a_\(tag)"]
            var sums: [String: String] = [:]
            for (i, db) in names.enumerated() {
                try await Self.makeDatabase(servers, db, rows: 100 + i * 50)
                sums[db] = try await Self.checksum(servers, db)
            }
            let package = try await Self.legacyPackage(servers, names)
            for db in names { _ = try await E.sql(servers, "DROP DATABASE `\(db)`;") }
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("slugs", package: package, servers)).status == 0)
            let succeeded = try await phase(env, "slugs", "Succeeded")
            let yaml = try await env.kubectl("get", "migration", "slugs", "-o", "yaml").stdout
            #expect(succeeded, "\(yaml)\n\(controller.log.suffix(2000))")
            for db in names {
                #expect(try await Self.checksum(servers, db) == sums[db], "\(db) arrived")
                #expect(try await env.jsonpath("migration/slugs", ".status.steps[?(@.name==\"mysql/\(db)\")].result.rows") == "\(db.hasPrefix("crm_") ? 100 : 150)")
            }
            let jobs = try await env.kubectl("get", "jobs", "-o", "name").stdout.split(separator: "\n").filter { $0.contains("-mysql-") }
            #expect(Set(jobs).count == 2, "\(jobs)")
            for db in names { _ = try await E.sql(servers, "DROP DATABASE `\(db)`;") }
        }
    }

    @Test("bad input is refused at validate, naming the field or file and the fix, before the app stops: a dump that drops another database, a Secret with user/pass keys, a FIFO for a dump, spec.clickhouse with a legacy clickhouse-backup/")
    func refusedAtValidate() async throws {
        try await withCluster { env, servers, controller in
            let tag = UUID().uuidString.prefix(4).lowercased()
            let wiki = "wiki_\(tag)", other = "other_\(tag)"
            try await Self.makeDatabase(servers, wiki, rows: 50)
            try await Self.makeDatabase(servers, other, rows: 70)
            let otherSum = try await Self.checksum(servers, other)
            let hostile = try await Self.legacyPackage(servers, [wiki])
            try Self.append("DROP DATABASE `\(other)`;", to: "\(hostile)/\(wiki).sql")
            let keysSecret = "apiVersion: v1\nkind: Secret\nmetadata: {name: mysql-userpass}\nstringData: {user: root, pass: \"\"}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: keysSecret).status == 0)
            let fifo = try makeTempDir("fifo-package")
            try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: fifo + "/info.json"))
            #expect(mkfifo("\(fifo)/\(wiki).sql", 0o644) == 0)
            let legacyCH = try await Self.legacyPackage(servers, [wiki])
            try FileManager.default.createDirectory(atPath: legacyCH + "/clickhouse-backup/shadow", withIntermediateDirectories: true)

            let cases: [(name: String, yaml: String, says: [String])] = [
                ("hostile", Self.migration("hostile", package: hostile, servers), ["\(wiki).sql:", "DROP DATABASE `\(other)`"]),
                ("userpass", Self.migration("userpass", package: hostile, servers, secret: "mysql-userpass"), ["mysql-userpass", "keys pass, user", "username and password"]),
                ("fifo", Self.migration("fifo", package: fifo, servers), ["FIFO", "\(wiki).sql"]),
                ("clickhouse", Self.migration("clickhouse", package: legacyCH, servers, extra: "  clickhouse: {url: \"\(servers.clickhouseURL)\", credentialsSecret: clickhouse-ferry}"),
                 ["spec.clickhouse is set but the package holds no ClickHouse table", "clickhouse-backup/"]),
            ]
            for c in cases {
                #expect(try await env.kubectl("apply", "-f", "-", input: c.yaml).status == 0)
                #expect(try await phase(env, c.name, "Failed", timeout: 60), "\(c.name): \(controller.log.suffix(1500))")
                let message = try await env.jsonpath("migration/\(c.name)", ".status.message")
                for s in c.says { #expect(message.contains(s), "\(c.name): \(message)") }
                #expect(try await env.jsonpath("migration/\(c.name)", ".status.step") == "validate", "\(c.name)")
                #expect(try await env.jsonpath("migration/\(c.name)", #".status.steps[?(@.name=="quiesce")].state"#) == "Pending", "\(c.name): the app was never stopped")
                #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
                #expect(try await env.kubectl("delete", "migration", c.name).status == 0)
            }
            #expect(try await Self.checksum(servers, other) == otherSum, "the other database is untouched")
            #expect(try await E.sql(servers, "SELECT COUNT(*) FROM `\(wiki)`.items;") == "50")
            for db in [wiki, other] { _ = try await E.sql(servers, "DROP DATABASE `\(db)`;") }
        }
    }

    @Test("a failure after a database was replaced leaves the app stopped with each database's state; a second Migration on the same app is refused by the claim; deleting the first brings the app back")
    func failureAfterChangeAndClaims() async throws {
        try await withCluster { env, servers, controller in
            let tag = UUID().uuidString.prefix(4).lowercased()
            let good = "a_good_\(tag)", bad = "b_bad_\(tag)"
            try await Self.makeDatabase(servers, good, rows: 80)
            try await Self.makeDatabase(servers, bad, rows: 3)
            let package = try await Self.legacyPackage(servers, [good, bad])
            // Two rows with one primary key: the import keeps one, verification finds 3 ≠ 4 rows after the drop.
            try Self.append("INSERT INTO `items` VALUES (1,'duplicate');", to: "\(package)/\(bad).sql")
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("first", package: package, servers)).status == 0)
            #expect(try await phase(env, "first", "Failed"), "\(controller.log.suffix(2000))")
            let message = try await env.jsonpath("migration/first", ".status.message")
            #expect(message.contains("mysql/\(bad) failed"), "\(message)")
            #expect(message.contains("workloads stay stopped"), "\(message)")
            #expect(message.contains("mysql/\(good): restored and verified"), "\(message)")
            #expect(message.contains("mysql/\(bad): dropped or partly restored"), "\(message)")
            #expect(!message.lowercased().contains("nothing was changed"), "\(message)")
            try await Task.sleep(nanoseconds: 1_500_000_000)
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "0", "the app does not start on a half-restored database")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "0")
            #expect(try await env.jsonpath("migration/first", #".status.steps[?(@.name=="resume")].state"#) == "Pending")
            #expect(try await env.jsonpath("migration/first", ".status.steps[?(@.name==\"mysql/\(bad)\")].dataChanged") == "true")
            let claim = try await env.jsonpath("deployment/web", #".metadata.annotations.ferry\.dev/claimed-by"#)
            #expect(claim.hasPrefix("default/first/"), "\(claim)")

            // A second Migration selecting the same workloads is refused while the first holds them.
            let other = try await Self.legacyPackage(servers, [good])
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("second", package: other, servers)).status == 0)
            #expect(try await phase(env, "second", "Failed"), "\(controller.log.suffix(2000))")
            let refused = try await env.jsonpath("migration/second", ".status.message")
            #expect(refused.contains("held by another Migration") && refused.contains("default/first"), "\(refused)")
            #expect(try await env.jsonpath("migration/second", #".status.steps[?(@.name=="mysql/\#(good)")].state"#) == "Pending", "nothing imported")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "0", "the second did not resume the first's workloads")

            // Deleting the first brings the app back and releases the claim.
            #expect(try await env.kubectl("delete", "migration", "first", "--wait=false").status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.3) { try await env.jsonpath("deployment/web", ".spec.replicas") == "2" })
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3")
            #expect(try await env.jsonpath("deployment/web", ".metadata.annotations").contains("claimed-by") == false)
            for db in [good, bad] { _ = try await E.sql(servers, "DROP DATABASE IF EXISTS `\(db)`;") }
        }
    }

    @Test("the selector edited mid-run cannot strand a workload: resume brings back everything quiesce stopped; a re-import quiesces first")
    func selectorEditedMidRun() async throws {
        try await withCluster(retryDelay: 120) { env, servers, controller in
            let db = "sel_\(UUID().uuidString.prefix(4).lowercased())"
            try await Self.makeDatabase(servers, db, rows: 60)
            let sum = try await Self.checksum(servers, db)
            let package = try await Self.legacyPackage(servers, [db])
            #expect(try await env.kubectl("label", "deployment", "web", "tier=front").status == 0)
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("sel", package: package, servers, secret: "mysql-wrong")).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) {
                try await env.jsonpath("migration/sel", ".status.steps[?(@.name==\"mysql/\(db)\")].failures") == "1"
            }, "\(controller.log.suffix(2000))")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "0")
            // The selector now matches only web; the right credentials; re-run the import.
            let fixed = Self.migration("sel", package: package, servers, selector: "{app.kubernetes.io/part-of: e2e, tier: front}")
            #expect(try await env.kubectl("apply", "-f", "-", input: fixed).status == 0)
            #expect(try await env.kubectl("annotate", "migration", "sel", "ferry.dev/rerun=mysql/\(db)").status == 0)
            let succeeded = try await phase(env, "sel", "Succeeded")
            let yaml = try await env.kubectl("get", "migration", "sel", "-o", "yaml").stdout
            #expect(succeeded, "\(yaml)")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3", "the worker, no longer selected, came back")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.jsonpath("statefulset/worker", ".metadata.annotations").contains("ferry.dev") == false)
            #expect(try await Self.checksum(servers, db) == sum)
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
        }
    }

    @Test("a Migration deleted after quiesce whose spec has become invalid still brings the app back")
    func deletedWithInvalidSpec() async throws {
        try await withCluster(retryDelay: 120) { env, servers, controller in
            let db = "inv_\(UUID().uuidString.prefix(4).lowercased())"
            try await Self.makeDatabase(servers, db, rows: 10)
            let package = try await Self.legacyPackage(servers, [db])
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("inv", package: package, servers, secret: "mysql-wrong")).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("deployment/web", ".spec.replicas") == "0" }, "\(controller.log.suffix(2000))")
            #expect(try await env.kubectl("patch", "migration", "inv", "--type=merge", "-p", #"{"spec":{"mysql":{"databases":["not a name"]}}}"#).status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.3) { try await env.jsonpath("migration/inv", ".status.message").contains("invalid spec") })
            #expect(try await env.kubectl("delete", "migration", "inv", "--wait=false").status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.3) { try await env.kubectl("get", "migration", "inv").status != 0 }, "\(controller.log.suffix(2000))")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(try await env.jsonpath("statefulset/worker", ".spec.replicas") == "3")
            _ = try await E.sql(servers, "DROP DATABASE IF EXISTS `\(db)`;")
        }
    }

    @Test("a database server frozen mid-import: the step's progress is in status, Progressing=False (Stalled) after stallSeconds; thawed, it finishes")
    func frozenServer() async throws {
        try await withCluster { env, servers, controller in
            let db = "frozen_\(UUID().uuidString.prefix(4).lowercased())"
            try await Self.makeDatabase(servers, db, rows: 200_000)
            let sum = try await Self.checksum(servers, db)
            let package = try await Self.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            // A TCP proxy in its own process group stands for the server: SIGSTOP freezes it.
            let proxy = try TCPProxy.start(to: servers.mysqlPort)
            defer { proxy.stop() }
            var proxied = servers
            proxied.mysqlPort = proxy.port
            let yaml = Self.migration("frozen", package: package, proxied, extra: "  steps: {stallSeconds: 10}")
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            let step = "mysql/\(db)"
            #expect(try await eventually(timeout: 90, interval: 0.05) {
                try await env.jsonpath("migration/frozen", ".status.steps[?(@.name==\"\(step)\")].state") == "Running"
            }, "\(controller.log.suffix(2000))")
            proxy.freeze()
            let stalled = try await eventually(timeout: 90, interval: 0.5) {
                try await env.jsonpath("migration/frozen", #".status.conditions[?(@.type=="Progressing")].reason"#) == "Stalled"
            }
            let stalledYAML = try await env.kubectl("get", "migration", "frozen", "-o", "yaml").stdout
            #expect(stalled, "\(stalledYAML)")
            _ = stalledYAML
            let why = try await env.jsonpath("migration/frozen", #".status.conditions[?(@.type=="Progressing")].message"#)
            #expect(why.contains(step) && why.contains("no progress for"), "\(why)")
            #expect(try await env.jsonpath("migration/frozen", #".status.conditions[?(@.type=="Progressing")].status"#) == "False")
            #expect(!(try await env.jsonpath("migration/frozen", ".status.steps[?(@.name==\"\(step)\")].progress")).isEmpty, "the step's last report is shown")
            proxy.thaw()
            let succeeded = try await phase(env, "frozen", "Succeeded", timeout: 180)
            let finalYAML = try await env.kubectl("get", "migration", "frozen", "-o", "yaml").stdout
            #expect(succeeded, "\(finalYAML)")
            #expect(try await Self.checksum(servers, db) == sum)
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
        }
    }
}
