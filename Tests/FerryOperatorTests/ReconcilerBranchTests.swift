import FerryAPI
import FerryEngine
@testable import FerryOperator
import FerryProtocol
import Foundation
import KubeClient
import KubeRuntime
import KubeSim
import TestSupport
import Testing

/// Each branch of the reconciler, one pass at a time, against KubeSim with no workload
/// controllers: Jobs stay as the reconciler made them and the test plays the kubelet. A
/// broken branch fails with the status it left, never with a timeout.
@Suite("Reconciler branches, one pass at a time", .timeLimit(.minutes(2)))
struct ReconcilerBranchTests {
    struct Env {
        let fixture: SimFixture
        let reconciler: MigrationReconciler
        var client: KubeClient { fixture.client }

        static func start() async throws -> Env {
            let f = try await SimFixture.start { $0.runWorkloads = false }
            let crd = try await runCommand("kubectl", ["apply", "-f", repoRoot + "/manifests/crd.yaml"], environment: ["KUBECONFIG": f.kubeconfig, "HOME": try makeTempDir("home")])
            #expect(crd.status == 0, "\(crd.stderr)")
            let events = EventRecorder(client: f.client, controller: "ferry.dev/controller", instance: "test")
            return Env(fixture: f, reconciler: MigrationReconciler(client: f.client, events: events, settings: StepSettings(pollSeconds: 7)))
        }

        /// One reconcile of the Migration as it is now.
        @discardableResult
        func pass(_ name: String = "m") async throws -> ReconcileAction {
            let object = try await client.get(Migration.resource, name: name, namespace: "default")
            return try await reconciler.reconcile(object, key: ObjectKey(namespace: "default", name: name))
        }

        func migration(_ name: String = "m") async throws -> Migration { try await client.get(Migration.self, name: name, namespace: "default") }

        func step(_ step: String, of name: String = "m") async throws -> StepStatus? { try await migration(name).status?.steps?.first { $0.name == step } }

        func reasons(_ name: String = "m") async throws -> [String] {
            try await client.list(.events, namespace: "default").items
                .filter { $0[path: ["regarding", "name"]]?.stringValue == name }.compactMap { $0["reason"]?.stringValue }
        }

        func jobs() async throws -> [JSONValue] { try await client.list(.jobs, namespace: "default").items }

        /// Plays the kubelet: the Job ends, its pod's termination message holds `message`.
        func finish(job: String, complete: Bool, message: String) async throws {
            _ = try await client.patchStatus(.jobs, name: job, namespace: "default", .merge(["status": ["conditions": [["type": complete ? "Complete" : "Failed", "status": "True"]]]]))
            let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(job + "-pod"), "labels": ["job-name": .string(job)]],
                                  "spec": ["containers": [["name": "step", "image": "ferry"]]]]
            _ = try await client.create(.pods, pod, namespace: "default")
            _ = try await client.patchStatus(.pods, name: job + "-pod", namespace: "default", .merge(["status": [
                "phase": complete ? "Succeeded" : "Failed",
                "containerStatuses": [["name": "step", "state": ["terminated": ["exitCode": complete ? 0 : 1, "message": .string(message), "finishedAt": "2026-11-30T10:00:00Z"]]]],
            ]]))
        }
    }

    func create(_ env: Env, _ spec: MigrationSpec, name: String = "m") async throws {
        _ = try await env.client.create(Migration(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec))
    }

    func spec() -> MigrationSpec {
        var s = MigrationSpec(package: PackageSource(hostPath: "/srv/package"), appVersion: "6.4.1")
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "mysql-root")
        return s
    }

    @Test("a spec the controller refuses (workloads in another namespace): one pass fails it naming the field, with one InvalidSpec event; the next pass writes nothing and repeats no event")
    func invalid() async throws {
        let env = try await Env.start()
        defer { Task { await env.fixture.stop() } }
        var s = spec()
        s.workloads = WorkloadsSpec(namespace: "payments", selector: LabelSelectorSpec(matchLabels: ["app": "web"]))
        try await create(env, s)
        #expect(try await env.pass() == .done)
        let m = try await env.migration()
        #expect(m.status?.phase == .failed, "\(String(describing: m.status))")
        #expect(m.status?.conditions?.condition("SpecValid")?.status == "False")
        #expect(m.status?.message?.contains("spec.workloads.namespace") == true && m.status?.message?.contains("--allow-workload-namespace payments") == true, "\(m.status?.message ?? "")")
        #expect(try await env.jobs().isEmpty, "nothing runs on an invalid spec")
        let rv = m.metadata.resourceVersion
        #expect(try await env.pass() == .done)
        #expect(try await env.migration().metadata.resourceVersion == rv, "a second pass changes nothing")
        let reasons = try await env.reasons()
        #expect(reasons.filter { $0 == "InvalidSpec" }.count == 1, "\(reasons)")
    }

    @Test("a Job step: one pass plans, checkpoints the step Running with its Job's name, creates exactly that Job, and looks again after pollSeconds; a second pass makes no other Job")
    func jobStarted() async throws {
        let env = try await Env.start()
        defer { Task { await env.fixture.stop() } }
        _ = try await env.client.create(.secrets, ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "mysql-root"], "stringData": ["username": "root", "password": "x"]], namespace: "default")
        try await create(env, spec())
        #expect(try await env.pass() == .requeueAfter(7))
        let validate = try #require(try await env.step("validate"))
        let name = JobNames.name(migration: "m", step: "validate", attempt: 1)
        #expect(validate.state == .running && validate.attempts == 1 && validate.job == name, "\(validate)")
        #expect(try await env.migration().status?.steps?.map(\.name) == ["validate", "mysql"], "the mysql placeholder waits for validate's contents")
        #expect(try await env.jobs().compactMap(\.name) == [name])
        let job = try #require(try await env.jobs().first)
        #expect(job[path: ["metadata", "annotations", StepJobs.stepNameAnnotation]]?.stringValue == "validate")
        let reasons = try await env.reasons()
        #expect(reasons.contains("Planned") && reasons.contains("StepStarted"), "\(reasons)")
        try await env.pass()
        #expect(try await env.jobs().count == 1, "the running step's Job is not made twice")
    }

    @Test("validate's report ends the step with its typed result and expands the plan to one step per database the package holds; the next Job starts in the same pass")
    func reportRead() async throws {
        let env = try await Env.start()
        defer { Task { await env.fixture.stop() } }
        _ = try await env.client.create(.secrets, ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "mysql-root"], "stringData": ["username": "root", "password": "x"]], namespace: "default")
        try await create(env, spec())
        try await env.pass()
        let result = ValidateResult(packageVersion: "1", appVersion: "6.4.1", layout: "ferry", sourceHost: "old", package: PackageContents(mysql: ["crm", "wiki"], clickhouse: [], kafka: false, files: []),
                                    notes: [], endpoints: ["spec.mysql mysql:3306"], volumes: [])
        try await env.finish(job: JobNames.name(migration: "m", step: "validate", attempt: 1), complete: true, message: "checked\n" + StepReport.success(result))
        try await env.pass()
        let m = try await env.migration()
        #expect(m.status?.steps?.map(\.name) == ["validate", "mysql/crm", "mysql/wiki"], "\(String(describing: m.status?.steps))")
        let validate = try #require(m.status?.steps?.first)
        #expect(validate.state == .succeeded)
        #expect(try validate.result?.decode(as: ValidateResult.self) == result)
        #expect(try await env.step("mysql/crm")?.state == .running)
        #expect(try await env.jobs().compactMap(\.name).contains(JobNames.name(migration: "m", step: "mysql/crm", attempt: 1)))
    }

    @Test("a report saying another attempt cannot help fails the step at once, with the report's words, and the plan stops there")
    func permanentFailure() async throws {
        let env = try await Env.start()
        defer { Task { await env.fixture.stop() } }
        _ = try await env.client.create(.secrets, ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "mysql-root"], "stringData": ["username": "root", "password": "x"]], namespace: "default")
        try await create(env, spec())
        try await env.pass()
        try await env.finish(job: JobNames.name(migration: "m", step: "validate", attempt: 1), complete: false,
                             message: StepReport.failure("the package was exported from version 6.3.0", retryable: false, changed: false))
        #expect(try await env.pass() == .done)
        let m = try await env.migration()
        #expect(m.status?.phase == .failed)
        #expect(m.status?.steps?.first?.message?.contains("the package was exported from version 6.3.0") == true, "\(m.status?.steps?.first?.message ?? "")")
        #expect(m.status?.steps?.first?.failures == 1, "not retried")
        #expect(try await env.jobs().count == 1)
    }

    @Test("a Job under the step's name that another Migration owns is refused by name, never adopted")
    func foreignJob() async throws {
        let env = try await Env.start()
        defer { Task { await env.fixture.stop() } }
        _ = try await env.client.create(.secrets, ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "mysql-root"], "stringData": ["username": "root", "password": "x"]], namespace: "default")
        let name = JobNames.name(migration: "m", step: "validate", attempt: 1)
        // The owner exists (else the garbage collector would take the Job away first).
        try await create(env, spec(), name: "other")
        let other = try #require(try await env.migration("other").metadata.uid)
        _ = try await env.client.create(.jobs, ["apiVersion": "batch/v1", "kind": "Job",
                                                "metadata": ["name": .string(name), "annotations": [StepJobs.stepNameAnnotation: "validate"],
                                                             "ownerReferences": [["apiVersion": "ferry.dev/v1alpha1", "kind": "Migration", "name": "other", "uid": .string(other), "controller": true]]],
                                                "spec": ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "x", "image": "x"]]]]]], namespace: "default")
        try await env.finish(job: name, complete: true, message: StepReport.success(["ok": 1]))
        try await create(env, spec())
        try await env.pass()
        let validate = try #require(try await env.step("validate"))
        #expect(validate.state == .failed, "\(validate)")
        #expect(validate.message?.contains("is not this Migration's") == true, "\(validate.message ?? "")")
    }

    @Test("a deleted Migration: its Jobs and pods are deleted first, then its finalizer is removed")
    func deletion() async throws {
        let env = try await Env.start()
        defer { Task { await env.fixture.stop() } }
        _ = try await env.client.create(.secrets, ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "mysql-root"], "stringData": ["username": "root", "password": "x"]], namespace: "default")
        try await create(env, spec())
        try await env.pass()
        #expect(try await env.migration().metadata.finalizers == [FerryNames.finalizer])
        #expect(try await env.jobs().count == 1)
        try await env.client.delete(Migration.resource, name: "m", namespace: "default")
        #expect(try await env.pass() == .requeueAfter(1), "waits for the owned objects to go")
        #expect(try await env.jobs().allSatisfy { $0[path: ["metadata", "deletionTimestamp"]] != nil } , "the Job is being deleted")
        for _ in 0..<50 where try await !env.jobs().isEmpty {
            if (try? await env.migration()) == nil { break }
            try await env.pass()
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await env.jobs().isEmpty)
        if (try? await env.migration()) != nil { try await env.pass() }
        #expect((try? await env.migration()) == nil, "the finalizer was removed and the Migration is gone")
    }
}
