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
        if let problem = try await Self.secretProblems(context.spec, client: context.client, namespace: context.namespace).first {
            return StepObservation(.failed(problem, permanent: true))
        }
        return try await JobStep(kind: self).run(step, context)
    }

    /// Each Secret the spec names that is missing or lacks a key its step reads, said with the
    /// field and the fix (also what `kubectl ferry plan` names as blocking).
    static func secretProblems(_ spec: MigrationSpec, client: KubeClient, namespace: String) async throws -> [String] {
        var problems: [String] = []
        for wanted in secrets(spec) {
            do {
                let secret = try await client.get(.secrets, name: wanted.name, namespace: namespace)
                let keys = Set((secret["data"]?.objectValue ?? [:]).keys).union((secret["stringData"]?.objectValue ?? [:]).keys)
                if let problem = wanted.problem(keys: keys) { problems.append(problem) }
            } catch let e as KubeAPIError where e.isNotFound {
                problems.append("Secret \(wanted.name) (\(wanted.field)) does not exist in namespace \(namespace); create it, then annotate \(FerryNames.rerunAnnotation)=validate")
            }
        }
        return problems
    }

    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        let checks = StepDrivers.jobKinds.map { $0.validation(spec: spec) }
        var arguments = ValidateArguments(package: StepPod.packageMount, appVersion: spec.appVersion, allowVersionMismatch: spec.allowVersionMismatch == true,
                                 databases: spec.mysql?.databases ?? [], tables: spec.clickhouse?.tables ?? [], folders: (spec.files ?? []).compactMap(\.from.folder),
                                 required: checks.compactMap(\.requires), endpoints: checks.flatMap(\.endpoints),
                                 volumes: (spec.files ?? []).filter { $0.to.persistentVolumeClaim != nil }.map { .init(name: "files[\($0.name)]", path: StepPod.targetMount($0.name)) },
                                 external: spec.mysql?.external.map { .init(host: $0.host ?? "", port: $0.port, credentialsDir: StepPod.credentialsMount(Self.externalKind)) })
        arguments.unpack = (spec.files ?? []).filter { $0.unpack == true }.compactMap(\.from.folder)
        return arguments
    }

    static let externalKind = "mysql-external"

    /// `spec.mysql.external`: validate logs in there to see the schemas.
    func secrets(spec: MigrationSpec) -> [StepSecret] {
        [spec.mysql?.external.map { StepSecret(kind: Self.externalKind, field: "spec.mysql.external.credentialsSecret", name: $0.credentialsSecret, required: ["username", "password"]) }].compactMap { $0 }
    }

    /// Every Secret a step of this spec mounts, with the keys it needs.
    static func secrets(_ spec: MigrationSpec) -> [StepSecret] {
        var seen: Set<String> = []
        return (StepDrivers.jobKinds.flatMap { $0.secrets(spec: spec) } + FileSyncStep.secrets(spec)).filter { seen.insert($0.field).inserted }
    }

    func extraVolumes(spec: MigrationSpec) -> StepPod.Volumes { StepPod.targets(spec, readOnly: true) }
}

/// The Secrets a spec names, checked as validate checks them (for `kubectl ferry plan`).
public enum SpecSecrets {
    public static func problems(_ spec: MigrationSpec, client: KubeClient, namespace: String) async throws -> [String] {
        try await ValidateStep.secretProblems(spec, client: client, namespace: namespace)
    }
}
