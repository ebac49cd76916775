import FerryAPI
import FerryEngine
import FerryProtocol

/// `cache`: `ferry restore cache` in a Job (data plane: FerrySteps/Redis); `spec.redis` names it.
struct CacheStep: JobStepKind {
    var readsPackage: Bool { false }

    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let r = spec.redis else { return nil }
        return CacheArguments(host: r.host, port: r.port ?? MigrationDefaults.redisPort, database: r.database,
                              credentialsDir: r.credentialsSecret == nil ? nil : StepPod.credentialsMount("cache"))
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] {
        [spec.redis?.credentialsSecret.map { StepSecret(kind: "cache", field: "spec.redis.credentialsSecret", name: $0, required: ["password"]) }].compactMap { $0 }
    }

    func validation(spec: MigrationSpec) -> StepValidation {
        guard let r = spec.redis else { return StepValidation() }
        return StepValidation(endpoints: [.init(name: "spec.redis", host: r.host, port: r.port ?? MigrationDefaults.redisPort)])
    }
}
