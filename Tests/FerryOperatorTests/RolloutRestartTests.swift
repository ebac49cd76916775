import FerryAPI
import FerryEngine
@testable import FerryOperator
import Foundation
import KubeClient
import TestSupport
import Testing

/// The rollout-restart rebuild run twice for one attempt — from a stale cache, or after its
/// status write was lost under load — must not restart the application a second time, and must
/// report the stamp the Deployment holds (a CI run once saw status and Deployment disagree).
@Suite("rebuild rolloutRestart: once per attempt", .timeLimit(.minutes(2)))
struct RolloutRestartTests {
    @Test("run again for the same attempt: the same stamp, no second restart; a new attempt restarts again; a missing Deployment fails by name")
    func oncePerAttempt() async throws {
        let f = try await SimFixture.start { $0.runWorkloads = false }
        defer { Task { await f.stop() } }
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
            "spec": ["replicas": 1, "selector": ["matchLabels": ["app": "web"]],
                     "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "web", "image": "web:1"]]]]],
        ]
        _ = try await f.client.create(.deployments, deployment, namespace: "default")
        var meta = ObjectMeta(name: "m", namespace: "default")
        meta.uid = "uid-1"
        let migration = Migration(metadata: meta, spec: MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "1"))
        let rebuild = RebuildSpec(name: "web-restart", rolloutRestart: .init(deployment: "web"))
        let rebuilds = Rebuilds(client: f.client)
        func stamp() async throws -> String? {
            try await f.client.get(.deployments, name: "web", namespace: "default")[path: ["spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]]?.stringValue
        }
        func restartedAt(_ o: StepOutcome) -> String? {
            if case .succeeded(let result, _) = o { return result?["restartedAt"]?.stringValue }
            return nil
        }
        func generation() async throws -> Int64? { try await f.client.get(.deployments, name: "web", namespace: "default")[path: ["metadata", "generation"]]?.intValue }

        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let first = try await rebuilds.run(rebuild, migration: migration, attempt: 1, now: t0)
        let firstStamp = restartedAt(first)
        let stampAfterFirst = try await stamp()
        #expect(firstStamp != nil && firstStamp == stampAfterFirst)
        let afterFirst = try await generation()

        let again = try await rebuilds.run(rebuild, migration: migration, attempt: 1, now: t0.addingTimeInterval(7))
        #expect(restartedAt(again) == firstStamp, "the same attempt reports the stamp it set")
        #expect(try await stamp() == firstStamp)
        #expect(try await generation() == afterFirst, "no second rollout")

        let second = try await rebuilds.run(rebuild, migration: migration, attempt: 2, now: t0.addingTimeInterval(60))
        #expect(restartedAt(second) != firstStamp)
        let stampAfterSecond = try await stamp()
        #expect(stampAfterSecond == restartedAt(second))

        let missing = try await rebuilds.run(RebuildSpec(name: "x", rolloutRestart: .init(deployment: "nope")), migration: migration, attempt: 1, now: t0)
        guard case .failed(let message, let permanent, _) = missing else { Issue.record("\(missing)"); return }
        #expect(message.contains("Deployment nope (rebuilds[].rolloutRestart.deployment) does not exist") && permanent, "\(message)")
    }
}
