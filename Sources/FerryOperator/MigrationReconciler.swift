import AsyncHTTPClient
import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import KubeRuntime
import Logging
import Metrics

/// Reconciles one Migration, as a short list of early-returning `ensure…`
/// steps: finalizer, cleanup on deletion, then the plan: the engine picks
/// the current step, the reconciler acts (a Job, scaling, a ConfigMap
/// bump), observes, and lets the engine record the outcome. The running
/// step is written to status (the checkpoint) before anything is acted on.
/// Status goes to the /status subresource with a merge patch guarded by
/// resourceVersion and is skipped when nothing changed; a Conflict is
/// thrown and retried.
public struct MigrationReconciler: Reconciler {
    public let client: KubeClient
    public let events: EventRecorder
    public let logger: Logger
    public let settings: StepSettings
    /// For the transfer pod's control endpoint (the API has its own in `client`).
    public let http: HTTPClient
    public let now: @Sendable () -> Date

    public init(client: KubeClient, events: EventRecorder, settings: StepSettings = StepSettings(), http: HTTPClient = .shared, logger: Logger = Logger(label: "migration"), now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.events = events
        self.settings = settings
        self.http = http
        self.logger = logger
        self.now = now
    }

    /// Kinds of object a Migration owns (and the finalizer cleans up).
    public static let ownedResources: [ResourceDescriptor] = [.pods, .jobs]

    public func reconcile(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileAction {
        if object[path: ["metadata", "deletionTimestamp"]] != nil {
            try await ensureResumedBeforeDeletion(object)
            return try await ensureCleanedUp(object)
        }
        let current = try await Finalizers.add(FerryNames.finalizer, to: object, resource: Migration.resource, client: client)
        let migration = try current.decode(as: Migration.self)
        if !(migration.spec.validate() + policyErrors(migration)).isEmpty {
            try await ensureInvalidReported(current, migration)
            return .done
        }
        do {
            return try await ensureStepsRun(current, migration)
        } catch let e as KubeAPIError {
            guard case .forbidden(let status) = e else { throw e }
            return try await ensureForbiddenReported(current, migration, message: status.message ?? "\(e)")
        }
    }

    /// The API refused the controller something (a trimmed Role): the reason goes into status at
    /// once (it would otherwise only be in the controller's log), and it is tried again later.
    func ensureForbiddenReported(_ object: JSONValue, _ migration: Migration, message: String) async throws -> ReconcileAction {
        let old = migration.status ?? MigrationStatus()
        var status = old
        let generation = migration.metadata.generation ?? 1
        let stamp = Timestamps.format(now())
        let text = "the controller is not allowed to do what \(status.step ?? "the next step") needs: \(message); grant it in the controller's ClusterRole (manifests/rbac.yaml, the Helm chart)"
        status.message = text
        var conditions = status.conditions ?? []
        conditions.set(type: FerryNames.ConditionType.progressing, status: false, reason: "Forbidden", message: text, observedGeneration: generation, now: stamp)
        status.conditions = conditions
        if status != old {
            _ = try await writeStatus(status, old: old, object: object)
            await events.record(object, .warning, reason: "Forbidden", note: text)
        }
        return .requeueAfter(30)
    }

    // MARK: - deletion

    /// A Migration deleted while its workloads are stopped brings them back first
    /// (unless spec.workloads.leaveStoppedOnFailure).
    /// The saved list and the claims decide, so a spec that became invalid after quiesce still resumes.
    func ensureResumedBeforeDeletion(_ object: JSONValue) async throws {
        guard Finalizers.has(object, FerryNames.finalizer), let migration = try? object.decode(as: Migration.self) else { return }
        let namespace = migration.metadata.namespace ?? "default"
        let valid = migration.spec.validate().isEmpty
        let spec = valid ? migration.spec.withDefaults(namespace: namespace) : nil
        let status = migration.status ?? MigrationStatus()
        guard Engine.needsGuaranteedResume(status, spec: spec, deleting: true) else { return }
        let quiesced = StepResults.quiesce(status.steps?.first { $0.name == "quiesce" }?.result)
        _ = try await Workloads(client: client).resume(namespace: migration.spec.workloads?.namespace ?? namespace, remembered: quiesced, owner: .init(migration))
        await events.record(object, .normal, reason: "WorkloadsResumed", note: "restored the saved replicas before deleting the Migration", action: "Scale")
    }

    /// Deletes the pods and jobs this Migration created, waits for them to go, then lets it go.
    func ensureCleanedUp(_ object: JSONValue) async throws -> ReconcileAction {
        guard Finalizers.has(object, FerryNames.finalizer), let name = object.name else { return .done }
        let selector = "\(FerryNames.migrationLabel)=\(name)"
        var remaining = 0
        for resource in Self.ownedResources {
            let list = try await client.list(resource, namespace: object.namespace, options: ListOptions(labelSelector: selector))
            for item in list.items {
                remaining += 1
                if item[path: ["metadata", "deletionTimestamp"]] == nil, let n = item.name {
                    do {
                        try await client.delete(resource, name: n, namespace: item.namespace, options: DeleteOptions(propagationPolicy: .background))
                        await events.record(object, .normal, reason: "CleanedUp", note: "deleted \(resource.kind) \(n)", action: "Delete")
                    } catch let e as KubeAPIError where e.isNotFound {}
                }
            }
        }
        if remaining > 0 { return .requeueAfter(1) }
        _ = try await Finalizers.remove(FerryNames.finalizer, from: object, resource: Migration.resource, client: client)
        return .done
    }

    // MARK: - the plan

    /// An invalid spec: phase Failed, SpecValid=False with the message; nothing runs.
    func ensureInvalidReported(_ object: JSONValue, _ migration: Migration) async throws {
        let old = migration.status ?? MigrationStatus()
        let decision = StatusPlanner.decide(migration: migration, stamp: Timestamps.format(now()), policy: policyErrors(migration))
        _ = try await writeStatus(decision.status, old: old, object: object)
        if let event = decision.event {
            await events.record(object, event.warning ? .warning : .normal, reason: event.reason, note: event.note)
        }
    }

    /// Runs the plan forward as far as it goes without waiting: prepare → loop {start, write
    /// status, drive, record} → resume after a failure → summarize → write status.
    func ensureStepsRun(_ object: JSONValue, _ migration: Migration) async throws -> ReconcileAction {
        let name = migration.metadata.name ?? ""
        let spec = migration.spec.withDefaults(namespace: migration.metadata.namespace ?? "default")
        let generation = migration.metadata.generation ?? 1
        let old = migration.status ?? MigrationStatus()
        var (status, notes) = Engine.prepare(spec: spec, status: old, generation: generation, rerun: migration.metadata.annotations?[FerryNames.rerunAnnotation],
                                             cutover: migration.metadata.annotations?[FerryNames.cutoverAnnotation])
        if let planned = Engine.plannedEvent(old: old, planned: status, generation: generation) { notes.insert(planned, at: 0) }
        // The gateway serves the application from the start, whatever step runs.
        // A dry run writes nothing: no gateway either.
        if !Planner.isDryRun(spec, existing: status.steps ?? []) {
            status.gateway = try await Gateway.observe(client, migration: migration, spec: spec, settings: settings, status: status)
        }
        if let cancelled = try await ensureCancelled(object, migration, spec: spec, status: status) { return cancelled }
        // A cancel waiting for a step that is not stopped halfway: that step is driven to its end, nothing after it starts.
        let cancelling = Cancel.requested(migration.metadata.annotations)
        var written = old
        var resourceVersion = object[path: ["metadata", "resourceVersion"]]
        var requeue: Double?

        for _ in 0..<16 {
            guard let step = Engine.current(status, spec: spec) else { break }
            if cancelling && step.state == .pending {
                requeue = 0.2
                break
            }
            if step.state == .pending {
                let wait = Engine.waitBeforeStart(step, now: now())
                if wait > 0 {
                    requeue = wait
                    break
                }
                let started = Engine.start(step.name, in: status, migration: name, now: now())
                notes.append(started.1)
                // Checkpoint before acting: a crash from here on finds the step Running.
                status = Engine.summarize(started.0, spec: spec, generation: generation, now: now())
                resourceVersion = try await writeStatus(status, old: written, object: object, resourceVersion: resourceVersion) ?? resourceVersion
                written = status
            }
            guard let running = status.steps?.first(where: { $0.name == step.name }) else { break }
            let context = StepContext(client: client, http: http, settings: settings, logger: logger, migration: migration, spec: spec, status: status,
                                      filesPaused: filesPaused(migration), now: now())
            let observed = try await StepDrivers.driver(for: StepKind(step.name)).drive(running, context)
            status.files = observed.files ?? status.files
            status.mysql = observed.mysql ?? status.mysql
            status = Engine.watching(job: observed.job, for: step.name, in: status)
            let recorded = Engine.record(observed.outcome, for: step.name, in: status, spec: spec, policy: settings.retry, now: now())
            Self.recordStepDuration(step.name, outcome: observed.outcome, startedAt: running.startedAt, now: now())
            status = recorded.0
            notes += recorded.1
            status.steps = Planner.plan(spec: spec, existing: status.steps ?? [])
            if let delay = Engine.pollDelay(after: observed.outcome, step: step.name, pollSeconds: settings.pollSeconds) {
                requeue = delay
                break
            }
        }
        if let resumed = try await ensureResumedAfterFailure(status, migration, spec: spec) {
            status = resumed.status
            notes += resumed.notes
            requeue = resumed.requeue ?? requeue
        }
        if status.gateway != nil { status.gateway = Gateway.describe(spec: spec, status: status, endpoint: status.gateway?.endpoint, migration: name) }
        status.estimate = await estimated(status, migration, spec: spec)
        status = Engine.summarize(status, spec: spec, generation: generation, now: now())
        status = Engine.summarizeFileSync(status, spec: spec, paused: filesPaused(migration), generation: generation, now: now())
        if cancelling, let waiting = Cancel.waitsFor(status) {
            status.message = "\(FerryNames.cancelAnnotation)=true waits for \(waiting.name) to end (it is not stopped halfway); then nothing more runs. " + (status.message ?? "")
        }
        _ = try await writeStatus(status, old: written, object: object, resourceVersion: resourceVersion)
        for note in notes {
            await events.record(object, note.warning ? .warning : .normal, reason: note.reason, note: note.note)
        }
        if let seconds = status.downtime?.seconds, seconds != old.downtime?.seconds {
            Gauge(label: "ferry_migration_downtime_seconds", dimensions: [("namespace", migration.metadata.namespace ?? "default"), ("migration", name)]).record(seconds)
        }
        if status != old {
            logger.info("status updated", metadata: ["migration": "\(migration.metadata.namespace ?? "default")/\(name)", "phase": "\(status.phase?.rawValue ?? "")",
                                                     "step": "\(status.step ?? "")", "progress": "\(status.progress ?? "")"])
        }
        return requeue.map { .requeueAfter($0) } ?? .done
    }

    /// After a failure the workloads come back (``Engine/needsGuaranteedResume(_:spec:deleting:)``
    /// decides), recorded on the resume step; nil when nothing was to be done.
    func ensureResumedAfterFailure(_ status: MigrationStatus, _ migration: Migration, spec: MigrationSpec) async throws -> (status: MigrationStatus, notes: [EngineEvent], requeue: Double?)? {
        guard let workloads = spec.workloads, Engine.needsGuaranteedResume(status, spec: spec, deleting: false) else { return nil }
        let quiesced = StepResults.quiesce(status.steps?.first { $0.name == "quiesce" }?.result)
        let outcome = try await Workloads(client: client).resume(namespace: workloads.namespace ?? migration.metadata.namespace ?? "default", remembered: quiesced, owner: .init(migration))
        return Engine.recordResumeAfterFailure(outcome, in: status, spec: spec, policy: settings.retry, pollSeconds: settings.pollSeconds, now: now())
    }

    /// What this controller will not do for a Migration, whatever its spec says: stop workloads
    /// in another namespace (unless `--allow-workload-namespace` names it).
    func policyErrors(_ migration: Migration) -> [ValidationError] {
        let own = migration.metadata.namespace ?? "default"
        guard let other = migration.spec.workloads?.namespace, !other.isEmpty, other != own, !settings.workloadNamespaces.contains(other) else { return [] }
        return [ValidationError("spec.workloads.namespace", "\"\(other)\" is not this Migration's namespace (\(own)); a Migration stops only its own namespace's workloads unless the controller runs with --allow-workload-namespace \(other)")]
    }

    /// `ferry_step_duration_seconds{kind, result}` when a run of a step ends (the downtime is
    /// `ferry_migration_downtime_seconds{namespace, migration}`, set once it is known).
    static func recordStepDuration(_ step: String, outcome: StepOutcome, startedAt: String?, now: Date) {
        let result: String
        switch outcome {
        case .running: return
        case .succeeded: result = "succeeded"
        case .failed: result = "failed"
        }
        guard let started = startedAt.flatMap(Timestamps.parse) else { return }
        let kind = String(step.split(separator: "/").first ?? "")
        Metrics.Timer(label: "ferry_step_duration_seconds", dimensions: [("kind", kind), ("result", result)]).recordSeconds(max(0, now.timeIntervalSince(started)))
    }

    /// `ferry.dev/files=paused` on the Migration.
    func filesPaused(_ migration: Migration) -> Bool {
        migration.metadata.annotations?[FerryNames.filesAnnotation]?.trimmingCharacters(in: .whitespaces).lowercased() == "paused"
    }

    /// Merge-patches status (guarded by resourceVersion) when it changed; returns the new resourceVersion.
    /// Fields that went away are sent as null so the merge removes them.
    @discardableResult
    func writeStatus(_ status: MigrationStatus, old: MigrationStatus, object: JSONValue, resourceVersion: JSONValue? = nil) async throws -> JSONValue? {
        guard status != old else { return nil }
        var body = try JSONValue(encoding: status)
        let previous = try JSONValue(encoding: old)
        for key in (previous.objectValue ?? [:]).keys where body[key] == nil { body[key] = .null }
        let patch: JSONValue = ["metadata": ["resourceVersion": resourceVersion ?? object[path: ["metadata", "resourceVersion"]] ?? .null], "status": body]
        let updated = try await client.patchStatus(Migration.resource, name: object.name ?? "", namespace: object.namespace, .merge(patch))
        return updated[path: ["metadata", "resourceVersion"]]
    }
}
