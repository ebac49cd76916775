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
            return try await runJob(job, name: rebuild.name, migration: migration, attempt: attempt)
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

    func runJob(_ template: RebuildSpec.JobTemplate, name: String, migration: Migration, attempt: Int) async throws -> StepOutcome {
        let namespace = migration.metadata.namespace ?? "default"
        let owner = migration.metadata.name ?? ""
        let jobName = JobNames.name(migration: owner, step: "rebuild/\(name)", attempt: attempt)
        let job: JSONValue
        do {
            job = try await client.get(.jobs, name: jobName, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            let problems = RebuildTemplatePolicy.problems(template.template, rebuild: name)
            guard problems.isEmpty else {
                return .failed("the rebuild Job is refused (it would run with more rights than a restricted pod): " + problems.joined(separator: "; "), permanent: true, untouched: true)
            }
            var spec = RebuildTemplatePolicy.hardened(template.template)
            let (labels, annotations) = StepJobs.identity(migration: owner, step: "rebuild/\(name)")
            var podLabels = spec[path: ["template", "metadata", "labels"]]?.objectValue ?? [:]
            for (k, v) in labels.objectValue ?? [:] { podLabels[k] = v }
            spec[path: ["template", "metadata", "labels"]] = .object(podLabels)
            if spec["backoffLimit"] == nil { spec["backoffLimit"] = 0 }
            let object: JSONValue = [
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": ["name": .string(jobName), "namespace": .string(namespace), "labels": labels, "annotations": annotations,
                             "ownerReferences": [OwnerReference.controller(of: migration)]],
                "spec": spec,
            ]
            do {
                _ = try await client.create(.jobs, object, namespace: namespace)
            } catch let e as KubeAPIError where e.isInvalid {
                return .failed("rebuilds[\(name)].job.template is not a valid Job spec: \(e)", permanent: true)
            }
            return .running("job \(jobName) created")
        }
        if let problem = StepJobs.foreignJobProblem(job, step: "rebuild/\(name)", migrationUID: migration.metadata.uid) {
            return .failed(problem, permanent: true)
        }
        let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(jobName)")).items
        switch StepPodOutcome.outcome(job: job, pods: pods) {
        case .succeeded: return .succeeded(result: ["job": .string(jobName)], message: "job \(jobName) completed")
        case .failed(let m, _, _): return .failed("job \(jobName): \(m)", permanent: false)
        case .running(let m): return .running(m)
        }
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
