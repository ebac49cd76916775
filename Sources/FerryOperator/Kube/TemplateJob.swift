import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// A step carried out by a Job from the user's template (a rebuild, the old application's
/// stop): refused by field when it would run with more rights than a restricted pod
/// (``JobTemplatePolicy``), hardened, labelled as the step's, created once per run, and
/// followed to its outcome. A Job of the same name that another step or Migration owns is
/// never adopted.
struct TemplateJob {
    let client: KubeClient

    /// `template`: a batch/v1 Job spec; `field`: where the user wrote it, for messages.
    func run(_ template: JSONValue, field: String, step: String, migration: Migration, attempt: Int) async throws -> StepOutcome {
        let namespace = migration.metadata.namespace ?? "default"
        let owner = migration.metadata.name ?? ""
        let jobName = JobNames.name(migration: owner, step: step, attempt: attempt)
        let job: JSONValue
        do {
            job = try await client.get(.jobs, name: jobName, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            let problems = JobTemplatePolicy.problems(template, field: field)
            guard problems.isEmpty else {
                return .failed("the Job of \(field) is refused (it would run with more rights than a restricted pod): " + problems.joined(separator: "; "), permanent: true, untouched: true)
            }
            var spec = JobTemplatePolicy.hardened(template)
            let (labels, annotations) = StepJobs.identity(migration: owner, step: step)
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
                return .failed("\(field) is not a valid Job spec: \(e)", permanent: true)
            }
            return .running("job \(jobName) created")
        }
        if let problem = StepJobs.foreignJobProblem(job, step: step, migrationUID: migration.metadata.uid) {
            return .failed(problem, permanent: true)
        }
        let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(jobName)")).items
        switch StepPodOutcome.outcome(job: job, pods: pods) {
        case .succeeded: return .succeeded(result: ["job": .string(jobName)], message: "job \(jobName) completed")
        case .failed(let m, _, _): return .failed("job \(jobName): \(m)", permanent: false)
        case .running(let m): return .running(m)
        }
    }
}
