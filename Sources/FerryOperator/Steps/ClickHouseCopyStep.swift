import FerryAPI
import FerryEngine
import FerryProtocol
import KubeClient

/// `clickhouse-copy/<db.table or pattern>` (`spec.clickhouse.copy`): `ferry clickhouse copy` in a
/// Job (data plane: FerrySteps/ClickHouse, `PartitionCopy`): the tables copied live from the
/// source servers partition by partition through `remote()` on the target, verified, what
/// differs copied again. Both Secrets mounted; the concurrency schedule mounted from a
/// ConfigMap kept equal to the spec, so an edit reaches the running copy.
struct ClickHouseCopyStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard case .clickhouseCopy(let entry) = StepKind(step.name) else { return nil }
        return Self.arguments(tables: [entry], spec: spec)
    }

    /// The copy of `tables` as the spec says (the sync step uses it for all of them).
    static func arguments(tables: [String], spec: MigrationSpec) -> ClickHouseCopyArguments? {
        guard let c = spec.clickhouse, let copy = c.copy else { return nil }
        return ClickHouseCopyArguments(tables: tables, source: copy.remoteAddresses, sourceCredentialsDir: StepPod.credentialsMount("clickhouse-source"), url: c.url,
                                       credentialsDir: c.credentialsSecret == nil ? nil : StepPod.credentialsMount("clickhouse"),
                                       concurrency: copy.concurrency?.default ?? MigrationDefaults.clickhouseParallelism, concurrencyFile: ClickHouseConcurrency.file,
                                       rounds: copy.rounds ?? 3, splitMinRows: copy.split?.minRows ?? 0, splitPieces: copy.split?.pieces ?? 4, splitBy: copy.split?.by ?? [],
                                       verify: copy.verify)
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] { Self.secrets(spec) }

    static func secrets(_ spec: MigrationSpec) -> [StepSecret] {
        guard let c = spec.clickhouse, let copy = c.copy else { return [] }
        return [c.credentialsSecret.map { StepSecret(kind: "clickhouse", field: "spec.clickhouse.credentialsSecret", name: $0, required: ["username", "password"]) },
                StepSecret(kind: "clickhouse-source", field: "spec.clickhouse.copy.source.credentialsSecret", name: copy.source.credentialsSecret, required: ["username", "password"])]
            .compactMap { $0 }
    }

    func extraVolumes(spec: MigrationSpec, migration: String) -> StepPod.Volumes { ClickHouseConcurrency.volume(migration: migration) }
    func prepare(_ context: StepContext) async throws -> StepOutcome? {
        if let refused = try await ClickHouseConcurrency.keep(context) { return refused }
        return try await Self.stopOnlineCopy(context)
    }

    /// An online copy still running (its step ended, or left the spec) would keep dropping and
    /// copying partitions under the final copy and the new application: stopped, and gone, first.
    static func stopOnlineCopy(_ context: StepContext) async throws -> StepOutcome? {
        let selector = ListOptions(labelSelector: "\(FerryNames.migrationLabel)=\(context.migration.metadata.name ?? ""),\(StepJobs.stepLabel)=\(JobNames.slug("clickhouse-sync"))")
        // A Job already going counts only while a pod of it is left.
        let jobs = try await context.client.list(.jobs, namespace: context.namespace, options: selector).items.filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
        let pods = try await context.client.list(.pods, namespace: context.namespace, options: selector).items
        guard !jobs.isEmpty || !pods.isEmpty else { return nil }
        for job in jobs { _ = try? await context.client.delete(.jobs, name: job.name ?? "", namespace: context.namespace, options: DeleteOptions(propagationPolicy: .foreground)) }
        for pod in pods { _ = try? await context.client.delete(.pods, name: pod.name ?? "", namespace: context.namespace) }
        return .running("stopping the online copy (\((jobs.first ?? pods.first)?.name ?? "")) before this copy")
    }
    func keep(_ context: StepContext) async throws { _ = try await ClickHouseConcurrency.keep(context) }

    var readsPackage: Bool { false }
}

/// `clickhouse-schema`: `ferry clickhouse schema` in a Job: the source's tables created on the
/// target with their engines rewritten (``EngineRewrite``), source and target DDL in the result.
struct ClickHouseSchemaStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let c = spec.clickhouse, let copy = c.copy else { return nil }
        return ClickHouseSchemaArguments(tables: copy.tables, source: copy.remoteAddresses, sourceCredentialsDir: StepPod.credentialsMount("clickhouse-source"), url: c.url,
                                         credentialsDir: c.credentialsSecret == nil ? nil : StepPod.credentialsMount("clickhouse"), engineMap: copy.engineMapArguments,
                                         cluster: copy.distributed?.cluster, shardingKeyDefault: copy.distributed?.shardingKeyDefault ?? "rand()")
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] { ClickHouseCopyStep.secrets(spec) }
    var readsPackage: Bool { false }
}
