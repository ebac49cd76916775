import FerryAPI
import FerryEngine
import FerryProtocol
import KubeClient

/// A step kind the data plane runs as a Job (`ferry restore …`). Its driver file says only what
/// is particular to it: its arguments, its Secret, its volumes, and anything to set up first;
/// ``JobStep`` does the rest (create the Job once per run, read its outcome and progress).
protocol JobStepKind: StepDriver {
    /// The step's arguments, or nil when the spec has no section for it (nothing to run).
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)?
    /// The arguments when they depend on what earlier steps reported (default: the above).
    func arguments(for step: StepStatus, spec: MigrationSpec, earlier: MigrationStatus) -> (any StepArguments)?
    /// The Secrets mounted at /credentials/<kind>, and the keys each must hold.
    func secrets(spec: MigrationSpec) -> [StepSecret]
    /// What validate checks for this kind before anything is stopped.
    func validation(spec: MigrationSpec) -> StepValidation
    /// Volumes beyond the package (validate's view of the target claims).
    func extraVolumes(spec: MigrationSpec) -> StepPod.Volumes
    /// The same, when they are named after the Migration (default: the above).
    func extraVolumes(spec: MigrationSpec, migration: String) -> StepPod.Volumes
    /// Whether the package is mounted (the cache step does not read it).
    var readsPackage: Bool { get }
    /// The service account the pod runs as; nil: no API token (only the config step writes through the API).
    func serviceAccount(migration: String) -> String?
    /// Work before the Job is created (the config step's Role); a failure stops the step.
    func prepare(_ context: StepContext) async throws -> StepOutcome?
    /// Work on every pass while the Job runs (a setting it reads again kept up to date).
    func keep(_ context: StepContext) async throws
}

extension JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec, earlier: MigrationStatus) -> (any StepArguments)? { arguments(for: step, spec: spec) }
    func secrets(spec: MigrationSpec) -> [StepSecret] { [] }
    func validation(spec: MigrationSpec) -> StepValidation { StepValidation() }
    func extraVolumes(spec: MigrationSpec) -> StepPod.Volumes { StepPod.Volumes() }
    func extraVolumes(spec: MigrationSpec, migration: String) -> StepPod.Volumes { extraVolumes(spec: spec) }
    var readsPackage: Bool { true }
    func serviceAccount(migration: String) -> String? { nil }
    func prepare(_ context: StepContext) async throws -> StepOutcome? { nil }
    func keep(_ context: StepContext) async throws {}

    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        try await JobStep(kind: self).run(step, context)
    }
}

/// What validate checks for a kind: the package part it restores must be there (`requires`:
/// mysql, clickhouse, kafka, config), and its servers must answer.
struct StepValidation: Sendable {
    var requires: String?
    var endpoints: [ValidateArguments.Endpoint] = []
}

/// Runs one ``JobStepKind``: create the Job once per run (named by
/// ``JobNames/name(migration:step:attempt:)``), then read its outcome, its pod's refusal by
/// admission, and its progress line.
struct JobStep {
    let kind: any JobStepKind

    /// The outcome, and the Job it was read from.
    func run(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let name = JobNames.name(migration: context.migration.metadata.name ?? "", step: step.name, attempt: step.attempts ?? 1)
        if let earlier = step.job, earlier != name,
           let running = try await earlierJobStillRunning(earlier, client: context.client, namespace: context.namespace) {
            return StepObservation(.running(running), job: earlier)
        }
        return StepObservation(try await outcome(step, job: name, context), job: name)
    }

    func outcome(_ step: StepStatus, job name: String, _ context: StepContext) async throws -> StepOutcome {
        let client = context.client, migration = context.migration, namespace = context.namespace
        let attempt = step.attempts ?? 1
        do {
            let job = try await client.get(.jobs, name: name, namespace: namespace)
            if let problem = StepJobs.foreignJobProblem(job, step: step.name, migrationUID: migration.metadata.uid) {
                return .failed(problem, permanent: true)
            }
            let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(name)")).items
            let outcome = StepPodOutcome.outcome(job: job, pods: pods)
            if case .running = outcome { try await kind.keep(context) }
            // No pod: admission may have refused it (PodSecurity, quota); the Job says so in FailedCreate events.
            if case .running = outcome, pods.isEmpty, let refusal = try await podCreationRefusal(job: name, client: client, namespace: namespace) {
                return .failed("the step's pod cannot be created: \(refusal)", permanent: true, untouched: true)
            }
            // A running step's last output line is its progress (rows, bytes so far).
            if case .running = outcome, let pod = pods.first(where: { $0[path: ["status", "phase"]]?.stringValue == "Running" })?.name,
               let log = try? await client.podLog(name: pod, namespace: namespace, tailLines: 5), let line = StepPodOutcome.progressLine(fromLog: log) {
                return .running(line)
            }
            return outcome
        } catch let e as KubeAPIError where e.isNotFound {}
        guard let job = StepJobs.job(for: step, kind: kind, attempt: attempt, migration: migration, spec: context.spec, settings: context.settings, earlier: context.status) else {
            return .failed("\(step.name) cannot run: the spec has no section for it, or validate did not say what the package holds", permanent: true)
        }
        if let refused = try await kind.prepare(context) { return refused }
        do {
            _ = try await client.create(.jobs, job, namespace: namespace)
            context.logger.info("step job created", metadata: ["migration": "\(namespace)/\(migration.metadata.name ?? "")", "step": "\(step.name)", "job": "\(name)"])
        } catch let e as KubeAPIError where e.isAlreadyExists {}
        return .running("job \(name) created")
    }

    /// The newest FailedCreate Event of a Job (what admission said), if any.
    func podCreationRefusal(job: String, client: KubeClient, namespace: String) async throws -> String? {
        let events = try await client.list(.coreEvents, namespace: namespace, options: ListOptions(fieldSelector: "involvedObject.name=\(job),reason=FailedCreate"))
        let newest = events.items.filter { $0[path: ["involvedObject", "kind"]]?.stringValue == "Job" }
            .max { ($0["lastTimestamp"]?.stringValue ?? "") < ($1["lastTimestamp"]?.stringValue ?? "") }
        return newest?["message"]?.stringValue
    }

    /// A Job an earlier Ferry started for this run under another name (names changed when
    /// they gained a hash): the step waits for it rather than run twice at once.
    func earlierJobStillRunning(_ name: String, client: KubeClient, namespace: String) async throws -> String? {
        do {
            let job = try await client.get(.jobs, name: name, namespace: namespace)
            let done = (job[path: ["status", "conditions"]]?.arrayValue ?? []).contains {
                ["Complete", "Failed"].contains($0["type"]?.stringValue ?? "") && $0["status"]?.stringValue == "True"
            }
            return done ? nil : "waiting for job \(name), started by an earlier Ferry, to end before this step runs under its new Job name"
        } catch let e as KubeAPIError where e.isNotFound {
            return nil
        }
    }
}
