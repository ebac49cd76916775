import FerryAPI
import FerryEngine
import FerryProtocol

/// `clickhouse/<db.table>`: `ferry restore clickhouse` in a Job (data plane: FerrySteps/ClickHouse).
struct ClickHouseStep: JobStepKind {
    func arguments(for step: String, spec: MigrationSpec) -> (any StepArguments)? {
        guard case .clickhouse(let table?) = StepKind(step), let c = spec.clickhouse else { return nil }
        return ClickHouseArguments(package: StepPod.packageMount, tables: [table], url: c.url,
                                   credentialsDir: c.credentialsSecret == nil ? nil : StepPod.credentialsMount("clickhouse"),
                                   maxInsertBlockSize: c.maxInsertBlockSize ?? MigrationDefaults.clickhouseMaxInsertBlockSize,
                                   parallelism: c.parallelism ?? MigrationDefaults.clickhouseParallelism)
    }

    func secret(spec: MigrationSpec) -> (kind: String, name: String)? { spec.clickhouse?.credentialsSecret.map { ("clickhouse", $0) } }
}
