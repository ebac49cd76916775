import FerryAPI
import FerryEngine
import KubeClient

/// A step the data plane runs as a Job (`ferry restore …`): create the Job once per run (named by
/// ``StepJobs/jobName(migration:step:attempt:)``), then read its outcome, its pod's refusal by
/// admission, and its progress line.
struct JobStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        StepObservation(try await run(step, context))
    }

    func run(_ step: StepStatus, _ context: StepContext) async throws -> StepOutcome {
        let client = context.client, migration = context.migration, namespace = context.namespace
        let attempt = step.attempts ?? 1
        let name = StepJobs.jobName(migration: migration.metadata.name ?? "", step: step.name, attempt: attempt)
        if let earlier = step.job, earlier != name, let running = try await earlierJobStillRunning(earlier, client: client, namespace: namespace) {
            return .running(running)
        }
        do {
            let job = try await client.get(.jobs, name: name, namespace: namespace)
            if let problem = StepJobs.foreignJobProblem(job, step: step.name, migrationUID: migration.metadata.uid) {
                return .failed(problem, permanent: true)
            }
            let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "job-name=\(name)")).items
            let outcome = StepJobs.outcome(job: job, pods: pods)
            // No pod: admission may have refused it (PodSecurity, quota); the Job says so in FailedCreate events.
            if case .running = outcome, pods.isEmpty, let refusal = try await podCreationRefusal(job: name, client: client, namespace: namespace) {
                return .failed("the step's pod cannot be created: \(refusal)", permanent: true, untouched: true)
            }
            // A running step's last output line is its progress (rows, bytes so far).
            if case .running = outcome, let pod = pods.first(where: { $0[path: ["status", "phase"]]?.stringValue == "Running" })?.name,
               let log = try? await client.podLog(name: pod, namespace: namespace, tailLines: 5), let line = StepJobs.progressLine(fromLog: log) {
                return .running(line)
            }
            return outcome
        } catch let e as KubeAPIError where e.isNotFound {}
        guard let job = StepJobs.job(for: step.name, attempt: attempt, migration: migration, spec: context.spec, settings: context.settings) else {
            return .failed("\(step.name) cannot run yet: this version of Ferry has no runner for it", permanent: true)
        }
        if StepKind(step.name) == .config {
            do {
                try await ConfigAccess.ensure(client, migration: migration, spec: context.spec)
            } catch let e as ConfigAccessConflict {
                return .failed("\(e)", permanent: true, untouched: true)
            }
        }
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
