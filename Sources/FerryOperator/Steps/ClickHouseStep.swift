import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation

/// `clickhouse/<db.table>`: `ferry restore clickhouse` in a Job (data plane: FerrySteps/ClickHouse).
struct ClickHouseStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard case .clickhouse(let table?) = StepKind(step.name), let c = spec.clickhouse else { return nil }
        return ClickHouseArguments(package: StepPod.packageMount, tables: [table], url: c.url,
                                   credentialsDir: c.credentialsSecret == nil ? nil : StepPod.credentialsMount("clickhouse"),
                                   maxInsertBlockSize: c.maxInsertBlockSize ?? MigrationDefaults.clickhouseMaxInsertBlockSize,
                                   parallelism: c.parallelism ?? MigrationDefaults.clickhouseParallelism)
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] {
        [spec.clickhouse?.credentialsSecret.map { StepSecret(kind: "clickhouse", field: "spec.clickhouse.credentialsSecret", name: $0, required: ["username", "password"]) }].compactMap { $0 }
    }

    func validation(spec: MigrationSpec) -> StepValidation {
        guard let c = spec.clickhouse else { return StepValidation() }
        // Copied live: nothing of it in the package.
        let requires: String? = c.copy == nil ? "clickhouse" : nil
        guard let url = URL(string: c.url), let host = url.host else { return StepValidation(requires: requires) }
        return StepValidation(requires: requires, endpoints: [.init(name: "spec.clickhouse", host: host, port: url.port ?? (url.scheme == "https" ? 443 : 8123))])
    }
}
