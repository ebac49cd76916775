import FerryAPI
import FerryEngine
import FerryProtocol

/// `clickhouse-copy/<db.table>` (`spec.clickhouse.copy`): `ferry clickhouse copy` in a Job
/// (data plane: FerrySteps/ClickHouse, `PartitionCopy`): the table copied live from the source
/// servers partition by partition through `remote()` on the target, verified, what differs
/// copied again. Both Secrets mounted.
struct ClickHouseCopyStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard case .clickhouseCopy(let table) = StepKind(step.name), let c = spec.clickhouse, let copy = c.copy else { return nil }
        return ClickHouseCopyArguments(table: table, source: copy.remoteAddresses, sourceCredentialsDir: StepPod.credentialsMount("clickhouse-source"), url: c.url,
                                       credentialsDir: c.credentialsSecret == nil ? nil : StepPod.credentialsMount("clickhouse"),
                                       concurrency: copy.concurrency ?? MigrationDefaults.clickhouseParallelism,
                                       splitMinRows: copy.split?.minRows ?? 0, splitPieces: copy.split?.pieces ?? 4, splitBy: copy.split?.by ?? [])
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] {
        guard let c = spec.clickhouse, let copy = c.copy else { return [] }
        return [c.credentialsSecret.map { StepSecret(kind: "clickhouse", field: "spec.clickhouse.credentialsSecret", name: $0, required: ["username", "password"]) },
                StepSecret(kind: "clickhouse-source", field: "spec.clickhouse.copy.source.credentialsSecret", name: copy.source.credentialsSecret, required: ["username", "password"])]
            .compactMap { $0 }
    }

    var readsPackage: Bool { false }
}
