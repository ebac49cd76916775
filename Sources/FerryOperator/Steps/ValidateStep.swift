import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient

/// `validate`: the controller checks every Secret the spec names exists with the keys its step
/// reads, then `ferry restore validate` in a Job (data plane: FerrySteps/Package) checks the
/// package, endpoints and volumes, and reports what the package holds.
struct ValidateStep: JobStepKind {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let namespace = context.namespace
        for wanted in Self.secrets(context.spec) {
            do {
                let secret = try await context.client.get(.secrets, name: wanted.name, namespace: namespace)
                let keys = Set((secret["data"]?.objectValue ?? [:]).keys).union((secret["stringData"]?.objectValue ?? [:]).keys)
                if let problem = wanted.problem(keys: keys) {
                    return StepObservation(.failed(problem, permanent: true))
                }
            } catch let e as KubeAPIError where e.isNotFound {
                return StepObservation(.failed("Secret \(wanted.name) (\(wanted.field)) does not exist in namespace \(namespace); create it, then annotate \(FerryNames.rerunAnnotation)=validate", permanent: true))
            }
        }
        return try await JobStep(kind: self).run(step, context)
    }

    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        let checks = StepDrivers.jobKinds.map { $0.validation(spec: spec) }
        return ValidateArguments(package: StepPod.packageMount, appVersion: spec.appVersion, allowVersionMismatch: spec.allowVersionMismatch == true,
                                 databases: spec.mysql?.databases ?? [], tables: spec.clickhouse?.tables ?? [], folders: (spec.files ?? []).compactMap(\.from.folder),
                                 required: checks.compactMap(\.requires), endpoints: checks.flatMap(\.endpoints),
                                 volumes: (spec.files ?? []).filter { $0.to.persistentVolumeClaim != nil }.map { .init(name: "files[\($0.name)]", path: StepPod.targetMount($0.name)) })
    }

    /// Every Secret a step of this spec mounts, with the keys it needs.
    static func secrets(_ spec: MigrationSpec) -> [StepSecret] {
        var seen: Set<String> = []
        return (StepDrivers.jobKinds.flatMap { $0.secrets(spec: spec) } + FileSyncStep.secrets(spec)).filter { seen.insert($0.field).inserted }
    }

    func extraVolumes(spec: MigrationSpec) -> StepPod.Volumes { StepPod.targets(spec, readOnly: true) }
}
