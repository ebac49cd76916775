import FerryAPI
import Foundation
import KubeClient
import TestSupport
import Testing

/// `spec.clickhouse.copy` through kubectl against KubeSim: the controller as its own process,
/// the copy Job a real `ferry clickhouse copy` process, two real ClickHouse servers.
@Suite("ClickHouse live copy end to end (kubectl, KubeSim, two ClickHouse)", .serialized, .timeLimit(.minutes(5)))
struct ClickHouseCopyEndToEndTests {
    @Test("a Migration with clickhouse.copy: validate, quiesce, clickhouse-copy/<db.table> (12 partitions through remote(), verified), resume; every partition equal on the target; the source's password only in its Secret")
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
                          concurrency: 3
                    """
                let steps = ["--step-command", repoRoot + "/.build/debug/ferry", "--step-image", "ferry:test", "--step-retry-delay", "0.3", "--step-poll", "0.3"]
                let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "chcopy-\(UUID().uuidString.prefix(4))", extra: steps)
                defer { controller.terminateNow() }
                #expect(try await env.kubectl("apply", "-f", "-", input: manifest).status == 0)
                let done = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/chcopy", ".status.phase") == "Succeeded" }
                let yaml = try await env.kubectl("get", "migration/chcopy", "-o", "yaml").stdout
                #expect(done, "\(yaml)\n\(controller.log.suffix(2000))")
                #expect(try await env.jsonpath("migration/chcopy", #".status.steps[*].name"#) == "validate quiesce clickhouse-copy/\(db).events resume")
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
}
