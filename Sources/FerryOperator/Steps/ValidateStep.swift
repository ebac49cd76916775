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
        for (field, name) in StepJobs.secrets(in: context.spec) {
            do {
                let secret = try await context.client.get(.secrets, name: name, namespace: namespace)
                let keys = Set((secret["data"]?.objectValue ?? [:]).keys).union((secret["stringData"]?.objectValue ?? [:]).keys)
                if let problem = StepJobs.secretKeysProblem(field: field, name: name, keys: keys) {
                    return StepObservation(.failed(problem, permanent: true))
                }
            } catch let e as KubeAPIError where e.isNotFound {
                return StepObservation(.failed("Secret \(name) (\(field)) does not exist in namespace \(namespace); create it, then annotate \(FerryNames.rerunAnnotation)=validate", permanent: true))
            }
        }
        return try await JobStep(kind: self).run(step, context)
    }

    func arguments(for step: String, spec: MigrationSpec) -> (any StepArguments)? {
        var required: [String] = []
        if spec.mysql != nil { required.append("mysql") }
        if spec.clickhouse != nil { required.append("clickhouse") }
        if spec.kafka != nil && (spec.kafka?.mode ?? MigrationDefaults.kafkaMode) == "package" { required.append("kafka") }
        if spec.config != nil { required.append("config") }
        return ValidateArguments(package: StepPod.packageMount, appVersion: spec.appVersion, allowVersionMismatch: spec.allowVersionMismatch == true,
                                 databases: spec.mysql?.databases ?? [], tables: spec.clickhouse?.tables ?? [], folders: (spec.files ?? []).map(\.from),
                                 required: required, endpoints: Self.endpoints(spec),
                                 volumes: (spec.files ?? []).map { .init(name: "files[\($0.name)]", path: StepPod.targetMount($0.name)) })
    }

    func extraVolumes(spec: MigrationSpec) -> StepPod.Volumes { StepPod.targets(spec, readOnly: true) }

    /// Each target server, named by the spec field that names it.
    static func endpoints(_ spec: MigrationSpec) -> [ValidateArguments.Endpoint] {
        var list: [ValidateArguments.Endpoint] = []
        if let m = spec.mysql { list.append(.init(name: "spec.mysql", host: m.host, port: m.port ?? MigrationDefaults.mysqlPort)) }
        if let c = spec.clickhouse, let url = URL(string: c.url), let host = url.host {
            list.append(.init(name: "spec.clickhouse", host: host, port: url.port ?? (url.scheme == "https" ? 443 : 8123)))
        }
        if let r = spec.redis { list.append(.init(name: "spec.redis", host: r.host, port: r.port ?? MigrationDefaults.redisPort)) }
        for b in spec.kafka?.bootstrap.split(separator: ",") ?? [] {
            let parts = b.split(separator: ":")
            if parts.count == 2, let port = Int(parts[1]) { list.append(.init(name: "spec.kafka.bootstrap", host: String(parts[0]), port: port)) }
        }
        return list
    }
}
