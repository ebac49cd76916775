import FerryAPI
import FerrySteps
import Foundation
import KubeClient
import TestSupport
import Testing

/// `ferry.dev/cancel=true` through kubectl against KubeSim, the controller as its own process and
/// step Jobs as real processes: during quiesce, during a database import and during the final
/// file delta, each ends Cancelled with the workloads back; removed, the Migration continues
/// from its checkpoint (stopping the workloads again first).
@Suite("Cancel end to end (kubectl, KubeSim, MariaDB, the mover)", .serialized, .timeLimit(.minutes(6)))
struct CancelEndToEndTests {
    typealias E = RestoreEndToEndTests
    typealias S = DataSafetyEndToEndTests

    func phase(_ env: KubectlEnv, _ name: String, _ wanted: String, timeout: Double = 120) async throws -> Bool {
        try await eventually(timeout: timeout, interval: 0.3) { try await env.jsonpath("migration/\(name)", ".status.phase") == wanted }
    }

    func stepField(_ env: KubectlEnv, _ migration: String, _ step: String, _ field: String) async throws -> String {
        try await env.jsonpath("migration/\(migration)", ".status.steps[?(@.name==\"\(step)\")].\(field)")
    }

    /// Jobs and pods a Migration's steps run (not the app's).
    func stepObjects(_ env: KubectlEnv, _ migration: String) async throws -> String {
        try await env.kubectl("get", "jobs,pods", "-l", "\(FerryNames.migrationLabel)=\(migration),ferry.dev/step", "-o", "name").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func replicas(_ env: KubectlEnv) async throws -> [String] {
        var out: [String] = []
        for w in ["deployment/web", "statefulset/worker", "deployment/slowstop"] { out.append(try await env.jsonpath(w, ".spec.replicas")) }
        return out
    }

    /// The e2e cluster (E.makeCluster) plus `slowstop`, whose pod is held in Terminating by a
    /// finalizer (however fast or slow the machine): quiesce waits for it until `release`.
    func withCluster(_ name: String, hold: Bool = false, _ body: (KubectlEnv, TestServers, ControllerProcess) async throws -> Void) async throws {
        let servers = try await TestServers.shared()
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await E.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let slow = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: slowstop, labels: {app.kubernetes.io/part-of: e2e}}
                spec:
                  replicas: 1
                  selector: {matchLabels: {app: slowstop}}
                  template:
                    metadata: {labels: {app: slowstop}}
                    spec: {terminationGracePeriodSeconds: 1, containers: [{name: slow, image: busybox, command: [sleep, "3600"]}]}
                """
            #expect(try await env.kubectl("apply", "-f", "-", input: slow).status == 0)
            let podName = { () async throws -> String in try await env.kubectl("get", "pods", "-l", "app=slowstop", "-o", "jsonpath={.items[0].metadata.name}").stdout }
            #expect(try await eventually(timeout: 90, interval: 0.3) { !(try await podName()).isEmpty })
            let held = hold ? try await podName() : ""
            if hold { #expect(try await env.kubectl("patch", "pod", held, "--type=merge", "-p", #"{"metadata":{"finalizers":["ferry.test/hold"]}}"#).status == 0) }
            let controller = try E.controller(env, "\(name)-\(UUID().uuidString.prefix(4))")
            defer { controller.terminateNow() }
            try await body(env, servers, controller)
            if hold { _ = try? await env.kubectl("patch", "pod", held, "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#) }
        }
    }

    @Test("cancel during quiesce (a pod held in Terminating by a finalizer): the workloads are back at their replicas, nothing restored, no Job left, quiesce Pending; phase Cancelled")
    func duringQuiesce() async throws {
        try await withCluster("cq", hold: true) { env, servers, controller in
            let db = "cq_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 500)
            let package = try await S.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            let before = try await replicas(env)
            #expect(try await env.kubectl("apply", "-f", "-", input: S.migration("cq", package: package, servers)).status == 0)
            let quiescing = try await eventually(timeout: 90, interval: 0.05) { try await stepField(env, "cq", "quiesce", "state") == "Running" }
            #expect(quiescing, "\(controller.log.suffix(1500))")
            #expect(try await env.kubectl("annotate", "migration/cq", "\(FerryNames.cancelAnnotation)=true").status == 0)
            let cancelled = try await phase(env, "cq", "Cancelled")
            let yaml = try await env.kubectl("get", "migration/cq", "-o", "yaml").stdout
            #expect(cancelled, "\(yaml)\n\(controller.log.suffix(1500))")
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/cq", ".status.message").contains("the workloads are back") }, "\(yaml)")
            #expect(try await replicas(env) == before, "the replicas quiesce saved are back")
            #expect(try await stepField(env, "cq", "quiesce", "state") == "Pending")
            #expect(try await stepField(env, "cq", "mysql/\(db)", "state") == "Pending")
            #expect(try await E.sql(servers, "SHOW DATABASES LIKE '\(db)';").isEmpty, "nothing was restored")
            #expect(try await stepObjects(env, "cq").isEmpty)
            #expect(try await env.jsonpath("migration/cq", #".status.conditions[?(@.type=="Progressing")].reason"#) == "Cancelled")
            let reasons = try await eventually(timeout: 30, interval: 0.3) {
                let r = try await env.kubectl("get", "events", "-o", "jsonpath={.items[*].reason}").stdout
                return r.contains("Cancelling") && r.contains("Cancelled")
            }
            #expect(reasons)
        }
    }

    @Test("cancel during a database import (the server frozen mid-load): the Job and its pod deleted, the workloads back, the step Pending and said to be partly restored; thawed and the annotation removed: quiesce runs again, the import again, Succeeded, CHECKSUM equal")
    func duringImport() async throws {
        try await withCluster("ci") { env, servers, controller in
            let db = "ci_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 200_000)
            let sum = try await S.checksum(servers, db)
            let package = try await S.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            let proxy = try TCPProxy.start(to: servers.mysqlPort)
            defer { proxy.stop() }
            var proxied = servers
            proxied.mysqlPort = proxy.port
            let before = try await replicas(env)
            #expect(try await env.kubectl("apply", "-f", "-", input: S.migration("ci", package: package, proxied)).status == 0)
            let step = "mysql/\(db)"
            let importing = try await eventually(timeout: 120, interval: 0.05) { try await stepField(env, "ci", step, "state") == "Running" }
            #expect(importing, "\(controller.log.suffix(1500))")
            proxy.freeze()
            #expect(try await env.kubectl("annotate", "migration/ci", "\(FerryNames.cancelAnnotation)=true").status == 0)
            let cancelled = try await phase(env, "ci", "Cancelled")
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/ci", ".status.message").contains("the workloads are back") })
            let yaml = try await env.kubectl("get", "migration/ci", "-o", "yaml").stdout
            #expect(cancelled, "\(yaml)\n\(controller.log.suffix(1500))")
            #expect(try await replicas(env) == before)
            #expect(try await stepObjects(env, "ci").isEmpty, "the import's Job and pod are gone")
            #expect(try await stepField(env, "ci", step, "state") == "Pending")
            #expect(try await stepField(env, "ci", step, "dataChanged") == "true")
            let message = try await env.jsonpath("migration/ci", ".status.message")
            #expect(message.contains("\(step) was stopped") && message.contains("data: ") && message.contains(step), "says what state the database is in: \(message)")
            #expect(!message.contains("nothing was changed"))
            // Continue: thawed, the annotation removed.
            proxy.thaw()
            #expect(try await env.kubectl("annotate", "migration/ci", "\(FerryNames.cancelAnnotation)-").status == 0)
            let done = try await phase(env, "ci", "Succeeded", timeout: 180)
            let finalYAML = try await env.kubectl("get", "migration/ci", "-o", "yaml").stdout
            #expect(done, "\(finalYAML)\n\(controller.log.suffix(1500))")
            #expect(try await S.checksum(servers, db) == sum)
            #expect(Int(try await stepField(env, "ci", "quiesce", "attempts")) ?? 0 >= 2, "the workloads were stopped again before the import ran again")
            #expect(try await replicas(env) == before)
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
        }
    }

    @Test("cancel during the final file delta: the transfer pod deleted (no byte written after), the workloads running; the annotation removed: Succeeded with the trees identical")
    func duringFinalDelta() async throws {
        try await withCluster("cf") { env, servers, controller in
            let package = try FilesEndToEndTests.makePackage(count: 100)
            let target = env.fixture.server.dataDirectory + "/volumes/default/app-files/attachments"
            let before = try await replicas(env)
            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: cf, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  workloads:
                    selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}
                  files:
                  - {name: attachments, from: files, to: {persistentVolumeClaim: app-files, subPath: attachments}}
                  fileSync: {bandwidth: 300000, parallelism: 2}
                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            let copying = try await eventually(timeout: 120, interval: 0.2) { (Int(try await env.jsonpath("migration/cf", ".status.files.bytesDone")) ?? 0) > 0 }
            #expect(copying, "\(controller.log.suffix(1500))")
            #expect(try await stepField(env, "cf", "files", "state") == "Running")
            #expect(try await env.kubectl("annotate", "migration/cf", "\(FerryNames.cancelAnnotation)=true").status == 0)
            let cancelled = try await phase(env, "cf", "Cancelled")
            let cancelledYAML = try await env.kubectl("get", "migration/cf", "-o", "yaml").stdout
            #expect(cancelled, "\(cancelledYAML)\n\(controller.log.suffix(1500))")
            // The files step runs after resume: the workloads were up, and stay up.
            let back = try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/cf", ".status.message").contains("the workloads are running") }
            let said = try await env.jsonpath("migration/cf", ".status.message")
            #expect(back, "\(said)")
            #expect(try await stepObjects(env, "cf").isEmpty, "the transfer pod is gone")
            #expect(try await replicas(env) == before)
            let written = FilesEndToEndTests.bytes(under: target)
            try await Task.sleep(for: .seconds(2))
            #expect(FilesEndToEndTests.bytes(under: target) == written, "nothing is written once cancelled")
            #expect(try await env.kubectl("patch", "migration/cf", "--type=merge", "-p", #"{"spec":{"fileSync":{"bandwidth":null}}}"#).status == 0)
            #expect(try await env.kubectl("annotate", "migration/cf", "\(FerryNames.cancelAnnotation)-").status == 0)
            let done = try await phase(env, "cf", "Succeeded", timeout: 180)
            let doneYAML = try await env.kubectl("get", "migration/cf", "-o", "yaml").stdout
            #expect(done, "\(doneYAML)\n\(controller.log.suffix(1500))")
            #expect(try await FilesEndToEndTests.identical(package + "/files", target))
            #expect(try await replicas(env) == before)
        }
    }
}
