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
            return try await rolloutRestart(restart.deployment, namespace: namespace, mark: Self.restartMark(migration: migration, attempt: attempt), now: now)
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

    /// The annotation on a restarted Deployment naming the Migration and attempt that restarted it:
    /// the step run again for the same attempt (from a stale cache, or after a status write that
    /// was lost) finds it, and neither restarts the application twice nor records a stamp the
    /// Deployment does not hold.
    static let restartedBy = "ferry.dev/restarted-by"
    static let restartedAt = "kubectl.kubernetes.io/restartedAt"

    static func restartMark(migration: Migration, attempt: Int) -> String {
        "\(migration.metadata.uid ?? migration.metadata.name ?? "")/\(attempt)"
    }

    func rolloutRestart(_ deployment: String, namespace: String, mark: String, now: Date) async throws -> StepOutcome {
        let current: JSONValue
        do {
            current = try await client.get(.deployments, name: deployment, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            return .failed("Deployment \(deployment) (rebuilds[].rolloutRestart.deployment) does not exist in namespace \(namespace)", permanent: true)
        }
        if current[path: ["metadata", "annotations", Self.restartedBy]]?.stringValue == mark,
           let stamp = current[path: ["spec", "template", "metadata", "annotations", Self.restartedAt]]?.stringValue {
            return .succeeded(result: ["deployment": .string(deployment), "restartedAt": .string(stamp)], message: "restarted Deployment \(deployment) (by this attempt already)")
        }
        let stamp = Timestamps.format(now)
        do {
            // One merge patch: the mark and the restart land together or not at all.
            _ = try await client.patch(.deployments, name: deployment, namespace: namespace, .merge([
                "metadata": ["annotations": [Self.restartedBy: .string(mark)]],
                "spec": ["template": ["metadata": ["annotations": [Self.restartedAt: .string(stamp)]]]],
            ]))
        } catch let e as KubeAPIError where e.isNotFound {
            return .failed("Deployment \(deployment) (rebuilds[].rolloutRestart.deployment) does not exist in namespace \(namespace)", permanent: true)
        }
        return .succeeded(result: ["deployment": .string(deployment), "restartedAt": .string(stamp)], message: "restarted Deployment \(deployment)")
    }
}
