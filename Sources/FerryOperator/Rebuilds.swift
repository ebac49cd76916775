import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// The `rebuild/<name>` steps, carried out by the controller: bump a
/// ConfigMap key (old and new value go into the step result), run a Job
/// from a template and wait for it, or rollout-restart a Deployment.
public struct Rebuilds: Sendable {
    public let client: KubeClient

    public init(client: KubeClient) {
        self.client = client
    }

    public func run(_ rebuild: RebuildSpec, migration: Migration, attempt: Int, now: Date) async throws -> StepOutcome {
        let namespace = migration.metadata.namespace ?? "default"
        if let cm = rebuild.configMap {
            return try await bump(cm, namespace: namespace, migration: migration, attempt: attempt, now: now)
        }
        if let job = rebuild.job {
            return try await TemplateJob(client: client).run(job.template, field: "rebuilds[\(rebuild.name)].job.template", step: "rebuild/\(rebuild.name)", migration: migration, attempt: attempt)
        }
        if let restart = rebuild.rolloutRestart {
            return try await rolloutRestart(restart.deployment, namespace: namespace, now: now)
        }
        return .failed("rebuilds[\(rebuild.name)] has none of configMap, job, rolloutRestart", permanent: true)
    }

    /// A new value derived from the Migration and the attempt: a different
    /// value each run (which is what forces the application to re-index).
    static func newValue(old: String?, migration: Migration, attempt: Int, now: Date) -> String {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in "\(old ?? "")|\(migration.metadata.uid ?? "")|\(attempt)|\(now.timeIntervalSince1970)".utf8 { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return "ferry-" + String(h, radix: 16)
    }

    func bump(_ cm: RebuildSpec.ConfigMapKey, namespace: String, migration: Migration, attempt: Int, now: Date) async throws -> StepOutcome {
        let object: JSONValue
        do {
            object = try await client.get(.configMaps, name: cm.name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            return .failed("ConfigMap \(cm.name) (rebuilds[].configMap.name) does not exist in namespace \(namespace)", permanent: true)
        }
        let old = object[path: ["data", cm.key]]?.stringValue
        let new = Self.newValue(old: old, migration: migration, attempt: attempt, now: now)
        _ = try await client.patch(.configMaps, name: cm.name, namespace: namespace, .merge(["data": [cm.key: .string(new)]]))
        return .succeeded(result: ["configMap": .string(cm.name), "key": .string(cm.key), "old": old.map { .string($0) } ?? .null, "new": .string(new)],
                          message: "\(cm.name).\(cm.key): \(old ?? "(unset)") → \(new)")
    }

    func rolloutRestart(_ deployment: String, namespace: String, now: Date) async throws -> StepOutcome {
        let stamp = Timestamps.format(now)
        do {
            _ = try await client.patch(.deployments, name: deployment, namespace: namespace, .merge([
                "spec": ["template": ["metadata": ["annotations": ["kubectl.kubernetes.io/restartedAt": .string(stamp)]]]],
            ]))
        } catch let e as KubeAPIError where e.isNotFound {
            return .failed("Deployment \(deployment) (rebuilds[].rolloutRestart.deployment) does not exist in namespace \(namespace)", permanent: true)
        }
        return .succeeded(result: ["deployment": .string(deployment), "restartedAt": .string(stamp)], message: "restarted Deployment \(deployment)")
    }
}
