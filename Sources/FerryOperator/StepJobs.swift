import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// Pure construction of step Jobs and reading of their outcome.
public enum StepJobs {
    public static let stepLabel = "ferry.dev/step"

    /// The annotation holding the full step name a Job runs (labels are cut and slugged; this is not).
    public static let stepNameAnnotation = "ferry.dev/step-name"

    /// Labels and annotations that tie a Job to its Migration and step.
    static func identity(migration: String, step: String) -> (labels: JSONValue, annotations: JSONValue) {
        ([FerryNames.migrationLabel: .string(migration), stepLabel: .string(JobNames.slug(step))], [stepNameAnnotation: .string(step)])
    }

    /// Why an existing Job must not be taken as this step's: it names another step, or
    /// another Migration owns it. nil when it is this step's own Job.
    public static func foreignJobProblem(_ job: JSONValue, step: String, migrationUID: String?) -> String? {
        let name = job.name ?? ""
        let owner = job[path: ["metadata", "ownerReferences"]]?.arrayValue?.first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
        if let migrationUID, owner != migrationUID {
            return "Job \(name) exists but is not this Migration's (owner uid \(owner ?? "none")); delete it or rename the Migration"
        }
        guard let other = job[path: ["metadata", "annotations", stepNameAnnotation]]?.stringValue else {
            return "Job \(name) exists but does not say which step it runs (no \(stepNameAnnotation) annotation); delete it, then annotate \(FerryNames.rerunAnnotation)=\(step)"
        }
        if other != step { return "Job \(name) runs step \(other), not \(step); its result is not taken" }
        return nil
    }

    /// The Job running `step` (attempt `attempt`) for a Migration; nil when no Job runs it.
    public static func job(for step: String, attempt: Int, migration: Migration, spec: MigrationSpec, settings: StepSettings) -> JSONValue? {
        guard let kind = StepDrivers.driver(for: StepKind(step)) as? any JobStepKind else { return nil }
        return job(for: StepStatus(name: step, state: .running, attempts: attempt), kind: kind, attempt: attempt, migration: migration, spec: spec, settings: settings)
    }

    static func job(for status: StepStatus, kind: any JobStepKind, attempt: Int, migration: Migration, spec: MigrationSpec, settings: StepSettings,
                    earlier: MigrationStatus = MigrationStatus()) -> JSONValue? {
        let step = status.name
        guard let args = kind.arguments(for: status, spec: spec, earlier: earlier), let name = migration.metadata.name, migration.metadata.uid != nil else { return nil }
        let (labels, annotations) = identity(migration: name, step: step)
        var volumes = kind.readsPackage ? StepPod.package(spec) : StepPod.Volumes()
        for (i, secret) in kind.secrets(spec: spec).enumerated() {
            volumes = volumes + StepPod.secret(secret.name, volume: i == 0 ? "credentials" : "credentials-\(i)", at: secret.mount)
        }
        volumes = volumes + kind.extraVolumes(spec: spec, migration: name)
        var podSpec = StepPod.spec(container: "step", argv: args.argv, volumes: volumes, settings: settings, spec: spec, cpu: "100m",
                                   serviceAccount: kind.serviceAccount(migration: name))
        if kind.readsPackage { Gateway.colocate(&podSpec, migration: name, spec: spec) }
        return [
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": [
                "name": .string(JobNames.name(migration: name, step: step, attempt: attempt)),
                "namespace": .string(migration.metadata.namespace ?? "default"),
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [OwnerReference.controller(of: migration)],
            ],
            "spec": [
                "backoffLimit": 0,
                "template": ["metadata": ["labels": labels], "spec": podSpec],
            ],
        ]
    }
}
