import FerryAPI
import Foundation
import KubeClient
import Synchronization
import TestSupport
import Testing

/// `spec.clickhouse.copy` through kubectl against KubeSim: the controller as its own process,
/// the copy Job a real `ferry clickhouse copy` process, two real ClickHouse servers.
@Suite("ClickHouse live copy end to end (kubectl, KubeSim, two ClickHouse)", .serialized, .takingTurns)
struct ClickHouseCopyEndToEndTests {
    @Test("a Migration with clickhouse.copy: validate, quiesce, clickhouse-schema, clickhouse-copy/<db.table> (12 partitions through remote(), verified), resume; every partition equal on the target; the source's password only in its Secret")
    func copy() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = "e2e_\(UUID().uuidString.prefix(6).lowercased())"
            try await pair.sql(pair.sourceHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, id)")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-01') + (number % 360), number, toString(number) FROM system.numbers LIMIT 60000")
            let package = try makeTempDir("chcopy-package")
            try Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
            try await KubectlEnv.with { env in
                #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
                #expect(try await env.applyApp(partOf: "chcopy").status == 0)
                let manifest = """
                    apiVersion: v1
                    kind: Secret
                    metadata: {name: ch-source}
                    stringData: {username: ferry, password: "s3cret pass"}
                    ---
                    apiVersion: ferry.dev/v1alpha1
                    kind: Migration
                    metadata: {name: chcopy, namespace: default}
                    spec:
                      package: {hostPath: \(package)}
                      appVersion: "6.4.1"
                      workloads:
                        selector: {matchLabels: {app.kubernetes.io/part-of: chcopy}}
                      clickhouse:
                        url: http://127.0.0.1:\(pair.targetHTTP)
                        copy:
                          source: {shards: [["127.0.0.1:1", "127.0.0.1:\(pair.sourceTCP)"]], credentialsSecret: ch-source}
                          tables: [\(db).events]
                          concurrency: {default: 3}
                    """
                let steps = ["--step-command", repoRoot + "/.build/debug/ferry", "--step-image", "ferry:test", "--step-retry-delay", "0.3", "--step-poll", "0.3"]
                let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "chcopy-\(UUID().uuidString.prefix(4))", extra: steps)
                defer { controller.terminateNow() }
                #expect(try await env.kubectl("apply", "-f", "-", input: manifest).status == 0)
                let done = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/chcopy", ".status.phase") == "Succeeded" }
                let yaml = try await env.kubectl("get", "migration/chcopy", "-o", "yaml").stdout
                #expect(done, "\(yaml)\n\(controller.log.suffix(2000))")
                #expect(try await env.jsonpath("migration/chcopy", #".status.steps[*].name"#) == "validate quiesce clickhouse-schema clickhouse-copy/\(db).events resume")
                #expect(try await env.jsonpath("migration/chcopy", #".status.steps[?(@.name=="clickhouse-schema")].result.tables[0].action"#) == "created")
                #expect(try await env.jsonpath("migration/chcopy", #".status.steps[?(@.name=="clickhouse-copy/\#(db).events")].result.partitions"#) == "12")
                let want = try await pair.sql(pair.sourceHTTP, "SELECT toYYYYMM(d) AS p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p")
                #expect(try await pair.sql(pair.targetHTTP, "SELECT toYYYYMM(d) AS p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p") == want)
                let jobs = try await env.kubectl("get", "jobs", "-o", "yaml").stdout
                #expect(jobs.contains("clickhouse-source") && !jobs.contains("s3cret"), "the password reaches the Job only through the mounted Secret")
                #expect(!yaml.contains("s3cret"))
                #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "1", "the workloads are back")
            }
        }
    }

    @Test("incremental: the tables copied while the old application writes (phase Syncing, the Progress column), the concurrency edited in the spec reaches the running copy through its ConfigMap; the writes stopped and ferry.dev/cutover=now: the final copy, every partition equal, the downtime from the cutover")
    func incremental() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = "e2einc_\(UUID().uuidString.prefix(6).lowercased())"
            try await pair.sql(pair.sourceHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, id)")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-01') + (number % 360), number, toString(number) FROM system.numbers LIMIT 60000")
            // Daily partitions: 200 copies one at a time, long enough for the controller's looks to show the Progress column counting them on a loaded machine.
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).clicks (d Date, id UInt64) ENGINE = MergeTree PARTITION BY d ORDER BY id")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).clicks SELECT toDate('2025-06-01') + (number % 200), number FROM system.numbers LIMIT 8000")
            let package = try makeTempDir("chinc-package")
            try Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
            // The old application: inserts into the newest partition until it is stopped for the cutover.
            let writing = Mutex(true)
            let writer = Task {
                var i = 0
                while writing.withLock({ $0 }) {
                    try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-12-31'), 10000000 + \(i) * 10 + number, 'late' FROM system.numbers LIMIT 10")
                    i += 1
                    try await Task.sleep(for: .milliseconds(100))
                }
                return i
            }
            defer { writing.withLock { $0 = false } }
            try await KubectlEnv.with { env in
                #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
                #expect(try await env.applyApp(partOf: "chinc").status == 0)
                let manifest = """
                    apiVersion: v1
                    kind: Secret
                    metadata: {name: ch-source}
                    stringData: {username: ferry, password: "s3cret pass"}
                    ---
                    apiVersion: ferry.dev/v1alpha1
                    kind: Migration
                    metadata: {name: chinc, namespace: default}
                    spec:
                      package: {hostPath: \(package)}
                      appVersion: "6.4.1"
                      workloads:
                        selector: {matchLabels: {app.kubernetes.io/part-of: chinc}}
                      clickhouse:
                        url: http://127.0.0.1:\(pair.targetHTTP)
                        copy:
                          source: {shards: [["127.0.0.1:\(pair.sourceTCP)"]], credentialsSecret: ch-source}
                          tables: ["\(db).*"]
                          concurrency: {default: 1}
                          incremental: {lastPartitions: 2, every: 1s}
                    """
                let steps = ["--step-command", repoRoot + "/.build/debug/ferry", "--step-image", "ferry:test", "--step-retry-delay", "0.3", "--step-poll", "0.3"]
                let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "chinc-\(UUID().uuidString.prefix(4))", extra: steps)
                defer { controller.terminateNow() }
                #expect(try await env.kubectl("apply", "-f", "-", input: manifest).status == 0)
                // Every value the Progress column takes (a watch sees each status write, however loaded the machine).
                let progressWatch = try env.watch("migration/chinc", ".status.progress")
                let inStep = try await eventually(timeout: 120, interval: 0.3) {
                    let phase = try await env.jsonpath("migration/chinc", ".status.phase"), progress = try await env.jsonpath("migration/chinc", ".status.progress")
                    return phase == "Syncing" && progress.contains("in step (round")
                }
                let seen = progressWatch.stop()
                // While the first copy runs: the table, its partitions done of all, rows/s and the ETA.
                let copying = seen.filter { $0.range(of: #"^\d+/\d+ steps, (events \d+/12|clicks \d+/200) partitions, \d+ rows/s, ETA \d+ s$"#, options: .regularExpression) != nil }
                #expect(!copying.isEmpty, "the Progress column while copying: \(seen)")
                let syncing = try await env.kubectl("get", "migration/chinc", "-o", "yaml").stdout
                #expect(inStep, "\(syncing)\n\(controller.log.suffix(2000))")
                #expect(try await env.kubectl("get", "migrations").stdout.contains("Syncing"))
                // Waiting for the cutover says how to ask for it.
                #expect(try await env.jsonpath("migration/chinc", #".status.steps[?(@.name=="clickhouse-sync")].message"#).contains("ferry.dev/cutover=now"))
                // The concurrency raised in the spec: the ConfigMap follows, and the running copy takes it up.
                #expect(try await env.kubectl("patch", "migration/chinc", "--type=merge", "-p", #"{"spec":{"clickhouse":{"copy":{"concurrency":{"default":3}}}}}"#).status == 0)
                #expect(try await eventually(timeout: 60) { try await env.jsonpath("configmap/chinc-clickhouse-concurrency", #".data.schedule\.json"#).contains(#""default":3"#) })
                let job = try await env.jsonpath("migration/chinc", #".status.steps[?(@.name=="clickhouse-sync")].job"#)
                let raised = try await eventually(timeout: 60, interval: 0.5) {
                    let lines = try await env.kubectl("logs", "job/\(job)").stdout.split(separator: "\n")
                    return lines.contains { $0.contains(" copied; ") && $0.hasSuffix(", 1 at once") } && lines.contains { $0.contains(" copied; ") && $0.hasSuffix(", 3 at once") }
                }
                let log = try await env.kubectl("logs", "job/\(job)").stdout
                #expect(raised, "\(log.suffix(1500))")
                // The old application stops; the cutover is asked for.
                writing.withLock { $0 = false }
                let inserts = try await writer.value
                #expect(inserts > 5, "the old application wrote during the sync")
                #expect(try await env.kubectl("annotate", "migration/chinc", "ferry.dev/cutover=now").status == 0)
                let done = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/chinc", ".status.phase") == "Succeeded" }
                let yaml = try await env.kubectl("get", "migration/chinc", "-o", "yaml").stdout
                #expect(done, "\(yaml)\n\(controller.log.suffix(2000))")
                #expect(try await env.jsonpath("migration/chinc", #".status.steps[*].name"#) == "validate quiesce clickhouse-schema clickhouse-sync clickhouse-copy/\(db).* resume")
                #expect(try await env.jsonpath("migration/chinc", #".status.steps[?(@.name=="clickhouse-copy/\#(db).*")].result.tables"#) == "2")
                for t in ["events", "clicks"] {
                    let q = "SELECT toYYYYMM(d) AS p, count(), sum(id) FROM \(db).\(t) GROUP BY p ORDER BY p"
                    let want = try await pair.sql(pair.sourceHTTP, q)
                    #expect(try await pair.sql(pair.targetHTTP, q) == want, "\(t): every write, the late ones too, on the target")
                }
                let from = try await env.jsonpath("migration/chinc", ".status.downtime.from")
                let cutover = try await env.jsonpath("migration/chinc", #".status.steps[?(@.name=="clickhouse-sync")].finishedAt"#)
                #expect(!from.isEmpty && from == cutover, "the downtime starts at the cutover")
                #expect(Double(try await env.jsonpath("migration/chinc", ".status.downtime.seconds")) != nil)
                #expect(!yaml.contains("s3cret"))
                #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "1", "the workloads are back")
            }
        }
    }
}
