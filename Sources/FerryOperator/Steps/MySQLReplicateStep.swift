import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient

/// `mysql-replicate` (mode replicate): the target follows the source while the old application
/// keeps serving. A monitor Job (`ferry mysql watch`) prints a look at replication every few
/// seconds; each pass reads the newest look into `status.mysql` (phase Replicating, the MySQL
/// column), and the step ends — the monitor deleted — once a cutover is asked for and
/// ``ReplicationGate`` lets it through.
struct MySQLReplicateStep: StepDriver {
    /// The monitor Job's arguments and Secrets (it is built like any step Job).
    struct Monitor: JobStepKind {
        func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
            MySQLSnapshotStep.servers(spec).map { MySQLWatchArguments(servers: $0, intervalSeconds: 5, verify: spec.mysql?.verifies ?? true) }
        }
        /// The migrated databases, as the snapshot restored them: the filter the target must keep, and what is compared.
        func arguments(for step: StepStatus, spec: MigrationSpec, earlier: MigrationStatus) -> (any StepArguments)? {
            guard var args = arguments(for: step, spec: spec) as? MySQLWatchArguments else { return nil }
            args.databases = MySQLSnapshotStep.databases(spec, earlier: earlier)
            return args
        }
        func secrets(spec: MigrationSpec) -> [StepSecret] { MySQLSnapshotStep.secrets(spec) }
        var readsPackage: Bool { false }
    }

    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let (client, namespace) = (context.client, context.namespace)
        let name = JobNames.name(migration: context.migration.metadata.name ?? "", step: step.name, attempt: step.attempts ?? 1)
        let job: JSONValue
        do {
            job = try await client.get(.jobs, name: name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            if step.progress?.hasPrefix(Self.stopping) == true {
                // Stopped for the cutover: done once no pod of it is left (a comparison running on must not meet the cutover).
                let left = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(name)")).items
                guard left.isEmpty else { return StepObservation(.running(step.progress ?? Self.stopping), mysql: context.status.mysql, job: name) }
                let result = try? JSONValue(encoding: context.status.mysql ?? ReplicationState())
                return StepObservation(.succeeded(result: result, message: String((step.progress ?? "").dropFirst(Self.stopping.count))), mysql: context.status.mysql, job: name)
            }
            guard let made = StepJobs.job(for: step, kind: Monitor(), attempt: step.attempts ?? 1, migration: context.migration, spec: context.spec, settings: context.settings,
                                          earlier: context.status) else {
                return StepObservation(.failed("mysql-replicate cannot run: spec.mysql.source is not set", permanent: true))
            }
            do { _ = try await client.create(.jobs, made, namespace: namespace) } catch let e as KubeAPIError where e.isAlreadyExists {}
            return StepObservation(.running("starting the replication monitor (job \(name))"), job: name)
        }
        if let problem = StepJobs.foreignJobProblem(job, step: step.name, migrationUID: context.migration.metadata.uid) {
            return StepObservation(.failed(problem, permanent: true), job: name)
        }
        let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(name)")).items
        if case .failed(let why, _, _) = StepPodOutcome.outcome(job: job, pods: pods) {
            return StepObservation(.failed("the replication monitor ended: \(why)", permanent: false), job: name)
        }
        var state = context.status.mysql
        if let pod = pods.first(where: { $0[path: ["status", "phase"]]?.stringValue == "Running" })?.name,
           let log = try? await client.podLog(name: pod, namespace: namespace, tailLines: 20),
           let look = ReplicationStatus.lastLook(inLog: log), look.at != state?.observedAt, let at = Timestamps.parse(look.at) {
            state = ReplicationGate.state(look.status, previous: state, now: at)
        }
        let m = context.spec.mysql
        let requested = ReplicationGate.requested(annotation: context.migration.metadata.annotations?[FerryNames.cutoverAnnotation], window: m?.cutover?.window, now: context.now)
        switch ReplicationGate.decide(state, requested: requested, maxLag: m?.cutover?.maxLagSeconds ?? MigrationDefaults.cutoverMaxLagSeconds, verify: m?.verifies ?? true) {
        case .wait(let why):
            return StepObservation(.running(why), mysql: state, job: name)
        case .cutover(let why):
            _ = try? await client.delete(.jobs, name: name, namespace: namespace, options: DeleteOptions(propagationPolicy: .foreground))
            for pod in pods { _ = try? await client.delete(.pods, name: pod.name ?? "", namespace: namespace) }
            return StepObservation(.running(Self.stopping + why), mysql: state, job: name)
        }
    }

    /// The step's progress while the monitor is stopped before the cutover (then the gate's reason).
    static let stopping = "stopping the replication monitor before the cutover: "
}
