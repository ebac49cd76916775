import FerryAPI
import FerryEngine
import FerryOperator
import Foundation
import KubeClient
import KubeRuntime
import KubeSim
import Synchronization
import TestSupport
import Testing

/// `ferry controller` (or, `asLink`, ferry called as `ferry-controller` through a link, as the
/// image's Deployment runs it) as its own process, logging to a file.
final class ControllerProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String
    private var linkDir: String?

    init(kubeconfig: String, name: String, metricsPort: Int? = nil, extra: [String] = [], asLink: Bool = false) throws {
        let ferry = repoRoot + "/.build/debug/ferry"
        guard FileManager.default.isExecutableFile(atPath: ferry) else {
            throw KubeClientError.invalidArgument("\(ferry) is missing: run swift build first")
        }
        var binary = ferry
        if asLink {
            let dir = NSTemporaryDirectory() + "ferry-link-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            linkDir = dir
            binary = dir + "/ferry-controller"
            try FileManager.default.createSymbolicLink(atPath: binary, withDestinationPath: ferry)
        }
        logPath = NSTemporaryDirectory() + "ferry-controller-\(name)-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        let metrics = metricsPort.map { ["--metrics-port", String($0), "--metrics-host", "127.0.0.1"] } ?? ["--metrics-port=-1"]
        process.arguments = (asLink ? [] : ["controller"]) + ["--kubeconfig", kubeconfig, "--identity", name] + metrics + extra
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// A controller whose step Jobs run this build's `ferry` (KubeSim runs them as local
    /// processes), with short retry and poll intervals for tests.
    static func runningSteps(_ env: KubectlEnv, name: String, retryDelay: Double = 0.3, extra: [String] = []) throws -> ControllerProcess {
        try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: name, extra: [
            "--step-command", repoRoot + "/.build/debug/ferry", "--step-image", "ferry:test",
            "--step-retry-delay", String(retryDelay), "--step-poll", "0.3",
        ] + extra)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func kill9() { kill(process.processIdentifier, SIGKILL) }

    /// SIGTERM now, without waiting (safe in a defer: no process outlives the test).
    func terminateNow() { if process.isRunning { process.terminate() } }

    deinit {
        terminateNow()
        if let linkDir { try? FileManager.default.removeItem(atPath: linkDir) }
    }

    func stop() async {
        if process.isRunning { process.terminate() }
        await waitForExit(process)
    }
}

@Suite("ferry controller end to end (kubectl, separate process)", .serialized, .timeLimit(.minutes(3)))
struct ControllerEndToEndTests {
    func withEnv(_ body: (KubectlEnv) async throws -> Void) async throws {
        try await KubectlEnv.with { env in
            let crd = try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml")
            #expect(crd.status == 0, "\(crd.combined)")
            try await body(env)
        }
    }

    @Test("ferry called as ferry-controller through a link (what the Deployment runs) takes the controller's flags without the subcommand and reconciles: the example is planned and fails at validate naming the missing Secret")
    func calledAsFerryController() async throws {
        try await withEnv { env in
            let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "link", asLink: true)
            defer { controller.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/examples/migration.yaml").status == 0)
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("migration/ones", ".status.phase") == "Failed" }, "\(controller.log)")
            #expect(try await env.jsonpath("migration/ones", ".status.progress") == "0/12 steps")
            #expect(try await env.jsonpath("migration/ones", ".status.message").contains("Secret mysql-root (spec.mysql.credentialsSecret) does not exist"))
        }
    }

    @Test("SIGTERM while the API server cannot be reached (caches never synced, the Lease never taken) ends the controller promptly, with and without leader election", arguments: [true, false])
    func sigtermBeforeSync(leaderElection: Bool) async throws {
        let dir = try makeTempDir("dead-api")
        let kubeconfig = dir + "/config"
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: dead, cluster: {server: "http://127.0.0.1:9"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: dead, context: {cluster: dead, user: u, namespace: default}}]
            current-context: dead
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let controller = try ControllerProcess(kubeconfig: kubeconfig, name: "dead-\(leaderElection)", extra: leaderElection ? [] : ["--no-leader-elect"])
        defer { controller.terminateNow() }
        try await Task.sleep(nanoseconds: 2_000_000_000)
        #expect(controller.process.isRunning, "it waits for the API server: \(controller.log.suffix(500))")
        controller.process.terminate()
        let ended = try await eventually(timeout: 20, interval: 0.1) { !controller.process.isRunning }
        #expect(ended, "still running 20 s after SIGTERM: \(controller.log.suffix(1000))")
    }

    @Test("apply the example without its Secrets: get shows Failed at validate, -o yaml shows the plan, describe names the missing Secret; invalid → Failed naming the field")
    func planAndStatus() async throws {
        try await withEnv { env in
            let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "solo", metricsPort: 0)
            defer { controller.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/examples/migration.yaml").status == 0)
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("migration/ones", ".status.phase") == "Failed" }, "\(controller.log)")
            let table = try await env.kubectl("get", "migrations").stdout
            let row = table.split(separator: "\n").last?.split(separator: " ", omittingEmptySubsequences: true) ?? []
            #expect(Array(row.prefix(4)) == ["ones", "Failed", "validate", "0/12"], "\(table)")
            #expect(try await env.jsonpath("migration/ones", ".status.message").contains("Secret mysql-root (spec.mysql.credentialsSecret) does not exist in namespace default"))
            #expect(try await env.kubectl("get", "jobs", "-o", "name").stdout.isEmpty, "no step Job starts before its Secrets exist")
            let yaml = try await env.kubectl("get", "migration", "ones", "-o", "yaml").stdout
            for step in ["validate", "presync", "quiesce", "mysql", "clickhouse", "kafka", "resume", "cache", "rebuild/search-index", "rebuild/performance-report", "files"] {
                #expect(yaml.contains("name: \(step)\n"), "plan lacks \(step)")
            }
            #expect(yaml.contains("- ferry.dev/cleanup"), "the finalizer is set")
            let describe = try await env.kubectl("describe", "migration", "ones").stdout
            #expect(describe.contains("Planned"), "\(describe)")
            #expect(describe.contains("StepFailed"), "\(describe)")
            #expect(describe.contains("ferry.dev/controller"))
            let bad = try await env.kubectl("apply", "-f", "-", input: "apiVersion: ferry.dev/v1alpha1\nkind: Migration\nmetadata: {name: bad}\nspec:\n  package: {hostPath: /p}\n  appVersion: \"1\"\n  workloads: {selector: {}}\n")
            #expect(bad.status == 0, "\(bad.combined)")
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("migration/bad", ".status.phase") == "Failed" })
            #expect(try await env.jsonpath("migration/bad", ".status.message").contains("spec.workloads.selector"))
            #expect(try await env.jsonpath("migration/bad", #".status.conditions[?(@.type=="SpecValid")].status"#) == "False")
            #expect(try await env.kubectl("describe", "migration", "bad").stdout.contains("InvalidSpec"))
            // Health, readiness and metrics on the controller's port.
            let port = controller.log.split(separator: "\n").first { $0.contains("health and metrics listening") }
                .flatMap { line in line.range(of: "\"port\":\"").map { Int(line[$0.upperBound...].prefix { $0.isNumber }) ?? 0 } } ?? 0
            #expect(port > 0, "\(controller.log)")
            let base = "http://127.0.0.1:\(port)"
            #expect(try await httpGet(base + "/healthz").body == "ok\n")
            #expect(try await httpGet(base + "/readyz").status == 200)
            let metrics = try await httpGet(base + "/metrics").body
            #expect(metrics.contains("ferry_reconcile_total{result=\"success\"}"), "\(metrics.prefix(500))")
            #expect(metrics.contains("ferry_reconcile_duration_seconds"))
            #expect(metrics.contains("ferry_workqueue_depth"))
            // API requests by verb, resource and code, and how long steps took.
            #expect(metrics.contains("ferry_api_requests_total{"), "\(metrics.prefix(2000))")
            for part in ["verb=\"WATCH\"", "resource=\"migrations\"", "resource=\"secrets\"", "code=\"404\"", "code=\"200\""] {
                #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("ferry_api_requests_total{") && $0.contains(part) }, "\(part)")
            }
            #expect(metrics.contains("ferry_step_duration_seconds"), "the failed validate run was timed")
            // SIGTERM is a graceful shutdown: the process exits 0 and releases its Lease.
            controller.process.terminate()
            let stopped = Date()
            await waitForExit(controller.process)
            #expect(Date().timeIntervalSince(stopped) < 10)
            #expect(controller.process.terminationStatus == 0, "\(controller.log.suffix(600))")
            #expect(try await env.jsonpath("lease/ferry-controller", ".spec.holderIdentity") == "")
        }
    }

    @Test("deleting a Migration: the finalizer removes its pods and jobs, then it goes")
    func finalizerCleanup() async throws {
        try await withEnv { env in
            let controller = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "cleaner")
            defer { controller.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/examples/migration.yaml").status == 0)
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("migration/ones", ".metadata.finalizers[0]") == "ferry.dev/cleanup" })
            let uid = try await env.jsonpath("migration/ones", ".metadata.uid")
            let owned = """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: ones-data-files-transfer
                  labels: {app: data-files-transfer, ferry.dev/migration: ones}
                  ownerReferences: [{apiVersion: ferry.dev/v1alpha1, kind: Migration, name: ones, uid: \(uid), controller: true}]
                  finalizers: [test.ferry.dev/slow]
                spec:
                  containers: [{name: mover, image: ferry}]
                ---
                apiVersion: batch/v1
                kind: Job
                metadata:
                  name: ones-mysql-project
                  labels: {ferry.dev/migration: ones}
                spec:
                  template:
                    spec:
                      restartPolicy: Never
                      containers: [{name: restore, image: ferry}]

                """
            #expect(try await env.kubectl("apply", "-f", "-", input: owned).status == 0)
            let deletion = try await env.kubectl("delete", "migration", "ones", "--wait=false")
            #expect(deletion.status == 0)
            #expect(try await eventually(timeout: 20) { try await env.kubectl("get", "job", "ones-mysql-project").status != 0 }, "the job is deleted")
            #expect(try await eventually { try await env.jsonpath("pod/ones-data-files-transfer", ".metadata.deletionTimestamp") != "" })
            try await Task.sleep(nanoseconds: 1_500_000_000)
            #expect(try await env.kubectl("get", "migration", "ones").status == 0, "the Migration waits while its pod is still terminating")
            #expect(try await env.kubectl("patch", "pod", "ones-data-files-transfer", "--type=json", "-p", #"[{"op":"remove","path":"/metadata/finalizers"}]"#).status == 0)
            #expect(try await eventually(timeout: 20) { try await env.kubectl("get", "migration", "ones").status != 0 }, "\(controller.log)")
        }
    }

    @Test("two controllers: only the leader reconciles; kill -9 the leader and the other takes over within 20 s; a restart redoes nothing")
    func leaderElectionAndRestart() async throws {
        try await withEnv { env in
            let first = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "first")
            #expect(try await eventually(timeout: 15) { try await env.jsonpath("lease/ferry-controller", ".spec.holderIdentity") == "first" })
            let second = try ControllerProcess(kubeconfig: env.fixture.kubeconfig, name: "second")
            defer { second.terminateNow() }
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/examples/migration.yaml").status == 0)
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("migration/ones", ".status.phase") == "Failed" })
            try await Task.sleep(nanoseconds: 1_000_000_000)
            #expect(first.log.contains("status updated"))
            #expect(!second.log.contains("status updated"), "the follower must not reconcile")
            #expect(!second.log.contains("became leader"))
            let rvBefore = try await env.jsonpath("migration/ones", ".metadata.resourceVersion")
            let eventsOf = { (name: String) async throws -> Int in
                try await env.kubectl("get", "events", "-o", #"jsonpath={range .items[*]}{.involvedObject.name}{"\n"}{end}"#).stdout.split(separator: "\n").filter { $0 == name }.count
            }
            let eventsBefore = try await eventsOf("ones")
            #expect(eventsBefore >= 2, "Planned, then StepFailed")
            first.kill9()
            await waitForExit(first.process)
            let killed = Date()
            #expect(try await eventually(timeout: 25, interval: 0.2) { try await env.jsonpath("lease/ferry-controller", ".spec.holderIdentity") == "second" })
            let takeover = Date().timeIntervalSince(killed)
            #expect(takeover < 20, "takeover took \(takeover)s")
            // The new leader works: a new Migration gets its status.
            let another = try String(contentsOfFile: repoRoot + "/manifests/examples/migration.yaml", encoding: .utf8).replacingOccurrences(of: "name: ones\n", with: "name: second-one\n")
            #expect(try await env.kubectl("apply", "-f", "-", input: another).status == 0)
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("migration/second-one", ".status.phase") == "Failed" }, "\(second.log)")
            // Taking over (a restart, in effect) redid nothing for the existing Migration.
            #expect(try await env.jsonpath("migration/ones", ".metadata.resourceVersion") == rvBefore)
            #expect(try await eventsOf("ones") == eventsBefore, "no new event for the Migration that was already handled")
        }
    }
}

/// Annotates the object behind the cache's back before its first reconcile, so
/// the status write carries a stale resourceVersion and must be retried.
final class StaleOnceReconciler: Reconciler {
    let inner: MigrationReconciler
    let client: KubeClient
    let done = Mutex(false)

    init(inner: MigrationReconciler, client: KubeClient) {
        self.inner = inner
        self.client = client
    }

    func reconcile(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileAction {
        let first = done.withLock { d -> Bool in
            defer { d = true }
            return !d
        }
        if first {
            _ = try await client.patch(Migration.resource, name: key.name, namespace: key.namespace, .merge(["metadata": ["annotations": ["touched": "yes"]]]))
        }
        return try await inner.reconcile(object, key: key)
    }
}

@Suite("Migration reconciler in process", .timeLimit(.minutes(3)))
struct ReconcilerInProcessTests {
    @Test("a conflicting status write is retried, not lost")
    func conflictRetried() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let c = f.client
        let crd = try await runCommand("kubectl", ["apply", "-f", repoRoot + "/manifests/crd.yaml"], environment: ["KUBECONFIG": f.kubeconfig, "HOME": try makeTempDir("home")])
        #expect(crd.status == 0)
        let events = EventRecorder(client: c, controller: "ferry.dev/controller", instance: "test")
        let reconciler = StaleOnceReconciler(inner: MigrationReconciler(client: c, events: events), client: c)
        let controller = Controller(client: c, primary: Migration.resource, namespace: "default", reconciler: reconciler)
        let run = Task { await controller.run() }
        defer { run.cancel() }
        _ = try await c.create(Migration(metadata: ObjectMeta(name: "m", namespace: "default"), spec: MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "1")))
        #expect(try await eventually { (try? await c.get(Migration.self, name: "m"))?.status?.steps?.first?.state == .running })
        let m = try await c.get(Migration.self, name: "m")
        #expect(m.metadata.annotations?["touched"] == "yes")
        #expect(m.status?.progress == "0/1 steps")
        #expect(m.status?.phase == .running)
        #expect(m.status?.steps?.first?.job == JobNames.name(migration: "m", step: "validate", attempt: 1))
    }
}
