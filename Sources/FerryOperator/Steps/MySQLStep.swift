import FerryAPI
import FerryEngine
import FerryProtocol

/// `mysql/<db>`: `ferry restore mysql` in a Job (data plane: FerrySteps/MySQL), with
/// `spec.mysql.credentialsSecret` mounted.
struct MySQLStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard case .mysql(let db?) = StepKind(step.name), let m = spec.mysql else { return nil }
        return MySQLArguments(package: StepPod.packageMount, database: db, host: m.host, port: m.port ?? MigrationDefaults.mysqlPort,
                              credentialsDir: StepPod.credentialsMount("mysql"), parallelism: m.parallelism?.argument ?? MigrationDefaults.mysqlParallelism)
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] {
        [spec.mysql.flatMap { $0.isExternal ? nil : StepSecret(kind: "mysql", field: "spec.mysql.credentialsSecret", name: $0.credentialsSecret, required: ["username", "password"]) }].compactMap { $0 }
    }

    func validation(spec: MigrationSpec) -> StepValidation {
        guard let m = spec.mysql, m.restoresDumps else { return StepValidation() }
        return StepValidation(requires: "mysql", endpoints: [.init(name: "spec.mysql", host: m.host, port: m.port ?? MigrationDefaults.mysqlPort)])
    }
}
