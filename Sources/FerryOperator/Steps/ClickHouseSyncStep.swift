import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient

/// `clickhouse-sync` (`spec.clickhouse.copy.incremental`): every table copied online while the
/// old application keeps writing, then kept in step — each table's newest partitions compared
/// every `every` and copied again when they differ — by one long-running `ferry clickhouse copy
/// --sync-last` Job. Phase Syncing. The step ends, its Job deleted, once a cutover is asked for
/// and ``ClickHouseSyncGate`` lets it through; the `clickhouse-copy/…` steps then copy what still
/// differs with the writes stopped.
struct ClickHouseSyncStep: StepDriver {
    /// The sync Job's arguments, Secrets and schedule (it is built like any step Job).
    struct Monitor: JobStepKind {
        func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
            guard let copy = spec.clickhouse?.copy, let inc = copy.incremental, var args = ClickHouseCopyStep.arguments(tables: copy.tables, spec: spec) else { return nil }
            args.syncLast = inc.lastPartitions ?? MigrationDefaults.clickhouseSyncLastPartitions
            args.syncEvery = inc.every.flatMap(ClickHouseCopySpec.seconds) ?? MigrationDefaults.clickhouseSyncEverySeconds
            return args
        }
        func secrets(spec: MigrationSpec) -> [StepSecret] { ClickHouseCopyStep.secrets(spec) }
        func extraVolumes(spec: MigrationSpec, migration: String) -> StepPod.Volumes { ClickHouseConcurrency.volume(migration: migration) }
        var readsPackage: Bool { false }
    }

    static let stopping = "stopping the online copy before the final one: "

    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let (client, namespace) = (context.client, context.namespace)
        let name = JobNames.name(migration: context.migration.metadata.name ?? "", step: step.name, attempt: step.attempts ?? 1)
        if step.progress?.hasPrefix(Self.stopping) == true {
            // Stopped for the cutover: done once no pod of it is left and its Job is gone or going (a copy running on must not meet the final one).
            let job = try? await client.get(.jobs, name: name, namespace: namespace)
            if let job, job[path: ["metadata", "deletionTimestamp"]] == nil {
                _ = try? await client.delete(.jobs, name: name, namespace: namespace, options: DeleteOptions(propagationPolicy: .foreground))
            }
            let left = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(name)")).items
            for pod in left where pod[path: ["metadata", "deletionTimestamp"]] == nil { _ = try? await client.delete(.pods, name: pod.name ?? "", namespace: namespace) }
            guard left.isEmpty else { return StepObservation(.running(step.progress ?? Self.stopping), job: name) }
            return StepObservation(.succeeded(result: nil, message: String((step.progress ?? "").dropFirst(Self.stopping.count))), job: name)
        }
        if let refused = try await ClickHouseConcurrency.keep(context) { return StepObservation(refused, job: name) }
        let job: JSONValue
        do {
            job = try await client.get(.jobs, name: name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            guard let made = StepJobs.job(for: step, kind: Monitor(), attempt: step.attempts ?? 1, migration: context.migration, spec: context.spec, settings: context.settings,
                                          earlier: context.status) else {
                return StepObservation(.failed("clickhouse-sync cannot run: spec.clickhouse.copy.incremental is not set", permanent: true))
            }
            do { _ = try await client.create(.jobs, made, namespace: namespace) } catch let e as KubeAPIError where e.isAlreadyExists {}
            return StepObservation(.running("starting the online copy (job \(name))"), job: name)
        }
        if let problem = StepJobs.foreignJobProblem(job, step: step.name, migrationUID: context.migration.metadata.uid) {
            return StepObservation(.failed(problem, permanent: true), job: name)
        }
        let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(name)")).items
        if case .failed(let why, let permanent, let untouched) = StepPodOutcome.outcome(job: job, pods: pods) {
            return StepObservation(.failed("the online copy ended: \(why)", permanent: permanent, untouched: untouched), job: name)
        }
        var line: String?
        if let pod = pods.first(where: { $0[path: ["status", "phase"]]?.stringValue == "Running" })?.name,
           let log = try? await client.podLog(name: pod, namespace: namespace, tailLines: 5) {
            line = StepPodOutcome.progressLine(fromLog: log)
        }
        let requested = ReplicationGate.requested(annotation: context.migration.metadata.annotations?[FerryNames.cutoverAnnotation], window: nil, now: context.now)
        // Only a line just read from the Job decides; a message of an earlier pass never does.
        switch ClickHouseSyncGate.decide(lastLine: line, requested: requested) {
        case .wait(let why):
            return StepObservation(.running(why), job: name)
        case .cutover(let why):
            _ = try? await client.delete(.jobs, name: name, namespace: namespace, options: DeleteOptions(propagationPolicy: .foreground))
            for pod in pods { _ = try? await client.delete(.pods, name: pod.name ?? "", namespace: namespace) }
            return StepObservation(.running(Self.stopping + why), job: name)
        }
    }
}
