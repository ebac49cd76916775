import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// What happened to the step that is running, as the operator observed it
/// (from its Job and pod, or from the controller's own work).
public enum StepOutcome: Equatable, Sendable {
    /// Still going; the message (if any) says what it waits for.
    case running(String?)
    case succeeded(result: JSONValue?, message: String?)
    /// `permanent`: retrying cannot help (bad package, bad spec, version mismatch).
    /// `untouched`: this run provably changed nothing on the target (it failed in its checks).
    case failed(String, permanent: Bool, untouched: Bool = false)
}

/// How often and how soon a failed step is tried again.
public struct RetryPolicy: Equatable, Sendable {
    /// Attempts in all (the first run included).
    public var maxAttempts: Int
    /// Wait before the second attempt; doubles each time.
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 3, baseDelay: Double = 10, maxDelay: Double = 300) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Delay after `attempts` failed attempts.
    public func delay(afterAttempts attempts: Int) -> Double {
        min(maxDelay, baseDelay * pow(2, Double(max(0, attempts - 1))))
    }
}

/// Something worth an Event on the Migration.
public struct EngineEvent: Equatable, Sendable {
    public var reason: String
    public var note: String
    public var warning: Bool
    public init(reason: String, note: String, warning: Bool = false) {
        self.reason = reason
        self.note = note
        self.warning = warning
    }
}

/// The step engine: pure functions from (spec, status, annotations,
/// observations, time) to the next status. `status.steps` is the checkpoint:
/// steps run one at a time in plan order; a Succeeded step is never redone
/// unless a re-run asks for it.
public enum Engine {
    // MARK: - preparing the plan

    /// Merges the plan into status and applies a spec change and a re-run request.
    ///
    /// - A new generation: failed steps get a fresh start (the fix may be in the spec).
    /// - `rerun` (the `ferry.dev/rerun` annotation) differing from `status.handledRerun`:
    ///   the named steps, and only they, go back to Pending once; the request is recorded.
    ///   A removed annotation clears the record so the same request can be made again.
    public static func prepare(spec: MigrationSpec, status: MigrationStatus, generation: Int64, rerun: String?, cutover: String? = nil) -> (MigrationStatus, [EngineEvent]) {
        var status = status
        var events: [EngineEvent] = []
        var steps = status.steps ?? []
        if let observed = status.observedGeneration, observed != generation {
            for i in steps.indices where steps[i].state == .failed {
                steps[i] = fresh(steps[i], message: "the spec changed; trying again")
            }
        }
        steps = Planner.plan(spec: spec, existing: steps)
        let request = rerun?.trimmingCharacters(in: .whitespaces)
        if let request, !request.isEmpty, request != status.handledRerun {
            let names = request.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            var unknown: [String] = []
            for name in names {
                guard let i = steps.firstIndex(where: { $0.name == name }) else { unknown.append(name); continue }
                if steps[i].state == .skipped || steps[i].state == .running { continue }
                // After the cutover the new server is the primary: a new copy of the old one over it would lose its writes.
                if StepKind(name) == .mysqlSnapshot, steps.contains(where: { $0.name == "mysql-cutover" && ($0.attempts ?? 0) > 0 }) {
                    events.append(EngineEvent(reason: "RerunRefused", note: "mysql-snapshot is not run again: the cutover has begun, and a new copy of the old server would overwrite the new primary's writes", warning: true))
                    continue
                }
                steps[i] = fresh(steps[i], message: "re-run requested (\(FerryNames.rerunAnnotation)=\(request))")
                events.append(EngineEvent(reason: "Rerun", note: "\(name) will run again"))
                // A step that replaces data runs with the app stopped: quiesce before it, resume after.
                if spec.workloads != nil, StepKind(name).changesData || StepKind(name) == .quiesce {
                    for guardStep in ["quiesce", "resume"] where guardStep != name && !names.contains(guardStep) {
                        guard let k = steps.firstIndex(where: { $0.name == guardStep }), steps[k].state != .pending, steps[k].state != .skipped, steps[k].state != .running else { continue }
                        steps[k] = fresh(steps[k], message: "runs again around \(name) (\(FerryNames.rerunAnnotation)=\(request))")
                        events.append(EngineEvent(reason: "Rerun", note: "\(guardStep) will run again around \(name)"))
                    }
                }
            }
            if !unknown.isEmpty {
                events.append(EngineEvent(reason: "RerunUnknownStep", note: "\(FerryNames.rerunAnnotation) names \(unknown.joined(separator: ", ")), not a planned step; planned: \(steps.map(\.name).joined(separator: ", "))", warning: true))
            }
            status.handledRerun = request
            // A re-run after validate may refine placeholders again.
            steps = Planner.plan(spec: spec, existing: steps)
        } else if request == nil || request == "" {
            status.handledRerun = nil
        }
        if cutover?.trimmingCharacters(in: .whitespaces).lowercased() == "reverse" {
            (steps, events) = cutBack(steps, spec: spec, events: events)
        }
        status.steps = steps
        return (status, events)
    }

    /// `ferry.dev/cutover=reverse`: once the migration is through and the old server replicates
    /// from the new one, going back runs: quiesce again (the new app stops writing), then
    /// `mysql-cutback`; the workloads stay stopped (the app goes back to the old side).
    static func cutBack(_ steps: [StepStatus], spec: MigrationSpec, events: [EngineEvent]) -> ([StepStatus], [EngineEvent]) {
        var steps = steps, events = events
        guard let i = steps.firstIndex(where: { $0.name == "mysql-cutback" }), steps[i].state == .skipped else { return (steps, events) }
        let others = steps.filter { $0.name != "mysql-cutback" }
        guard others.allSatisfy({ Planner.isFinished($0, spec: spec) }), steps.contains(where: { $0.name == "mysql-reverse" && $0.state == .succeeded }) else {
            steps[i].message = "\(FerryNames.cutoverAnnotation)=reverse waits until the migration is through and mysql-reverse has succeeded (the old server replicates from the new one)"
            return (steps, events)
        }
        steps[i] = fresh(steps[i], message: "going back to the old server (\(FerryNames.cutoverAnnotation)=reverse)")
        events.append(EngineEvent(reason: "Cutback", note: "going back to the old server: the workloads stop, the new server turns read-only, the old one takes over"))
        if spec.workloads != nil, let q = steps.firstIndex(where: { $0.name == "quiesce" }) {
            steps[q] = fresh(steps[q], message: "stops the new application before going back (\(FerryNames.cutoverAnnotation)=reverse)")
        }
        return (steps, events)
    }

    /// The step back at Pending for another run, keeping what later runs must know.
    static func fresh(_ step: StepStatus, message: String) -> StepStatus {
        var s = StepStatus(name: step.name, state: .pending, attempts: step.attempts, message: message)
        s.dataChanged = step.dataChanged
        return s
    }

    // MARK: - choosing and moving the current step

    /// The step to work on: the first that is neither finished nor failed for good.
    /// nil when the plan is through or stopped by a required failure.
    public static func current(_ status: MigrationStatus, spec: MigrationSpec) -> StepStatus? {
        for step in status.steps ?? [] {
            if Planner.isFinished(step, spec: spec) { continue }
            if step.state == .failed { return nil }
            return step
        }
        return nil
    }

    /// Seconds to wait before a Pending step that failed before may start again (0: now).
    public static func waitBeforeStart(_ step: StepStatus, now: Date) -> Double {
        guard step.state == .pending, let at = step.retryAt.flatMap(Timestamps.parse) else { return 0 }
        return max(0, at.timeIntervalSince(now))
    }

    /// Pending → Running: one more run (`attempts` counts all, so each run's Job has its own
    /// name, stamped into `job` for a step a Job runs), and the StepStarted event. Written to
    /// status before anything is acted on.
    public static func start(_ name: String, in status: MigrationStatus, migration: String? = nil, now: Date) -> (MigrationStatus, EngineEvent) {
        var attempt = 1
        let started = update(name, in: status) { s in
            s.state = .running
            s.attempts = (s.attempts ?? 0) + 1
            attempt = s.attempts ?? 1
            s.startedAt = Timestamps.formatMicro(now)
            s.finishedAt = nil
            s.retryAt = nil
            s.message = (s.failures ?? 0) > 0 ? "attempt \((s.failures ?? 0) + 1)" : nil
            s.result = nil
            s.progress = nil
            s.progressAt = Timestamps.format(now)
            if let migration, StepKind(name).runsAsJob { s.job = JobNames.name(migration: migration, step: name, attempt: s.attempts ?? 1) }
        }
        return (started, EngineEvent(reason: "StepStarted", note: "\(name): attempt \(attempt)"))
    }

    /// The Job a running step is watched through, as its driver reports it (an earlier Ferry's
    /// Job under an older name until that one ends, then this run's).
    public static func watching(job: String?, for name: String, in status: MigrationStatus) -> MigrationStatus {
        guard let job else { return status }
        return update(name, in: status) { $0.job = job }
    }

    /// When to look again after observing `outcome`: nil once the step has ended (the next
    /// step starts at once). The file sync is watched closely: a pause must take effect within a second.
    public static func pollDelay(after outcome: StepOutcome, step: String, pollSeconds: Double) -> Double? {
        guard case .running = outcome else { return nil }
        return StepKind(step).isFileSync ? min(pollSeconds, 1) : pollSeconds
    }

    /// "planned N steps: …" when the plan is new: the first pass, or a new generation.
    public static func plannedEvent(old: MigrationStatus, planned: MigrationStatus, generation: Int64) -> EngineEvent? {
        guard old.steps == nil || old.observedGeneration != generation else { return nil }
        let names = (planned.steps ?? []).map(\.name)
        return EngineEvent(reason: "Planned", note: "planned \(names.count) steps: \(names.joined(separator: ", "))")
    }

    /// Applies what the operator observed to the running step.
    public static func record(_ outcome: StepOutcome, for name: String, in status: MigrationStatus, spec: MigrationSpec, policy: RetryPolicy, now: Date) -> (MigrationStatus, [EngineEvent]) {
        var events: [EngineEvent] = []
        let updated = update(name, in: status) { s in
            switch outcome {
            case .running(let message):
                s.message = message
                // Progress is the step's own report changing; the same line again is no progress.
                if let message, message != s.progress {
                    s.progress = message
                    s.progressAt = Timestamps.format(now)
                }
            case .succeeded(let result, let message):
                if StepKind(name).changesData { s.dataChanged = true }
                s.progress = nil
                s.state = .succeeded
                // Sub-second: the downtime ends here (resume), and a cutover's start is as fine.
                s.finishedAt = Timestamps.formatMicro(now)
                s.result = result
                s.message = message
                events.append(EngineEvent(reason: "StepSucceeded", note: "\(name): \(message ?? StepResults.summary(of: name, result: result))"))
            case .failed(let raw, let permanent, let untouched):
                let message = honest(raw, untouched: untouched, changedBefore: s.dataChanged == true)
                if StepKind(name).changesData && !untouched { s.dataChanged = true }
                // Optional: the plan may go on only if no run of it changed data (Planner.isFinished).
                let optional = StepKind(name).isOptional(in: spec) && s.dataChanged != true
                s.progress = nil
                let attempts = (s.failures ?? 0) + 1
                s.failures = attempts
                s.finishedAt = Timestamps.format(now)
                if !permanent && attempts < policy.maxAttempts {
                    let delay = policy.delay(afterAttempts: attempts)
                    s.state = .pending
                    s.retryAt = Timestamps.format(now.addingTimeInterval(delay))
                    s.message = "attempt \(attempts) of \(policy.maxAttempts) failed: \(message); retrying in \(Int(delay.rounded(.up))) s"
                    events.append(EngineEvent(reason: "StepRetrying", note: s.message ?? "", warning: true))
                } else {
                    s.state = .failed
                    let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
                    s.message = "\(message) (failed after \(tries)\(permanent && attempts < policy.maxAttempts ? "; not retried: this will not fix itself" : ""))"
                    events.append(EngineEvent(reason: optional ? "OptionalStepFailed" : "StepFailed",
                                              note: "\(name): \(s.message ?? "")\(optional ? "; optional, the plan continues (Degraded)" : "")", warning: true))
                }
            }
        }
        return (updated, events)
    }

    /// A message that never claims "nothing was changed" when an earlier run changed data.
    static func honest(_ message: String, untouched: Bool, changedBefore: Bool) -> String {
        guard changedBefore else { return message }
        let sentences = message.components(separatedBy: ". ").filter { !$0.lowercased().contains("nothing was changed") }
        var text = sentences.joined(separator: ". ")
        if text.hasSuffix(".") { text.removeLast() }
        return text + (untouched ? "; this run changed nothing, but an earlier run had already dropped or overwritten the data" : "")
    }

    /// Whether the workloads must be scaled back now: quiesce has run, they are
    /// not back yet, and the migration has failed or is being deleted — unless
    /// `spec.workloads.leaveStoppedOnFailure`, or (failure only) a step already dropped or
    /// overwrote data and `spec.workloads.resumeOnFailure` is not set: the app must not
    /// start on a half-restored database. Deleting the Migration always brings them back.
    public static func needsGuaranteedResume(_ status: MigrationStatus, spec: MigrationSpec?, deleting: Bool) -> Bool {
        let steps = status.steps ?? []
        guard let quiesce = steps.first(where: { $0.name == "quiesce" }), (quiesce.attempts ?? 0) > 0 else { return false }
        if quiesce.state == .succeeded && steps.first(where: { $0.name == "resume" })?.state == .succeeded { return false }
        if spec?.workloads?.leaveStoppedOnFailure == true { return false }
        if deleting { return true }
        guard let spec, spec.workloads != nil, !holdsAppStopped(status, spec: spec) else { return false }
        return Planner.phase(steps, spec: spec) == .failed
    }

    /// The workloads brought back after a failure (``needsGuaranteedResume(_:spec:deleting:)``),
    /// recorded on the resume step: while they come up, how soon to look again; once back, a
    /// warning event naming the step that failed. nil when the resume itself failed (it is tried
    /// again on the next pass).
    public static func recordResumeAfterFailure(_ outcome: StepOutcome, in status: MigrationStatus, spec: MigrationSpec, policy: RetryPolicy, pollSeconds: Double,
                                                now: Date) -> (status: MigrationStatus, notes: [EngineEvent], requeue: Double?)? {
        let failed = status.steps?.first { $0.state == .failed }?.name ?? "a step"
        switch outcome {
        case .running(let m):
            return (record(.running("after \(failed) failed: \(m ?? "")"), for: "resume", in: status, spec: spec, policy: policy, now: now).0, [], pollSeconds)
        case .succeeded(let result, _):
            let recorded = record(.succeeded(result: result, message: "workloads restored after \(failed) failed"), for: "resume", in: status, spec: spec, policy: policy, now: now).0
            return (recorded, [EngineEvent(reason: "WorkloadsResumed", note: "restored the saved replicas after \(failed) failed", warning: true)], nil)
        case .failed:
            return nil
        }
    }

    /// After a failure the workloads stay stopped: data was already replaced and
    /// `spec.workloads.resumeOnFailure` does not accept it.
    static func holdsAppStopped(_ status: MigrationStatus, spec: MigrationSpec) -> Bool {
        spec.workloads != nil && spec.workloads?.resumeOnFailure != true && dataChanged(status)
    }

    /// Whether any step has dropped or overwritten data on the target.
    public static func dataChanged(_ status: MigrationStatus) -> Bool {
        (status.steps ?? []).contains { $0.dataChanged == true && StepKind($0.name).changesData }
    }

    /// "mysql/wiki: restored and verified; mysql/crm: dropped or partly restored by a failed run; …"
    public static func dataState(_ status: MigrationStatus) -> String {
        (status.steps ?? []).filter { StepKind($0.name).changesData }.map { s in
            let state: String
            switch s.state {
            case .succeeded: state = "restored and verified"
            case .skipped: state = s.dataChanged == true ? "skipped after a failed run had dropped or partly restored it" : "skipped, untouched"
            case .running: state = "being restored"
            case .failed, .pending:
                state = s.dataChanged == true ? "dropped or partly restored by a failed run" : "untouched"
            }
            return "\(s.name): \(state)"
        }.joined(separator: "; ")
    }

    // MARK: - summary

    /// From the moment writes stopped — the old application's stop Job started, else the source
    /// read-only at the cutover (mode replicate), or quiesce's start — to the moment the workloads were Ready (resume finished; without
    /// workloads, the target's promotion). `to` and `seconds` stay unset while it lasts.
    public static func downtime(_ status: MigrationStatus) -> Downtime? {
        let steps = status.steps ?? []
        let cut = steps.first { $0.name == "mysql-cutover" }.flatMap { s -> MySQLCutoverResult? in
            s.state == .succeeded ? try? s.result?.decode(as: MySQLCutoverResult.self) : nil
        }
        let from: String?
        if let stop = steps.first(where: { $0.name == "mysql-stop-source" && ($0.attempts ?? 0) > 0 }) {
            // The user's Job stops the old application: writes stop with it.
            from = status.downtime?.from ?? stop.startedAt
        } else if let step = steps.first(where: { $0.name == "mysql-cutover" }) {
            if let cut {
                // A run that carried on from (or found done) an earlier one: writes stopped during
                // that one, so from when the cutover was first seen under way.
                from = cut.resumed == true || cut.alreadyPromoted ? status.downtime?.from ?? step.startedAt ?? cut.readOnlyAt : cut.readOnlyAt
            } else if step.state == .running || (step.state == .pending && (step.attempts ?? 0) > 0) {
                // Under way (or about to be tried again): writes may have stopped; the exact moment comes with its result.
                from = status.downtime?.from ?? step.startedAt
            } else {
                from = nil
            }
        } else if let sync = steps.first(where: { $0.name == "clickhouse-sync" }) {
            // The ClickHouse copy kept in step until the cutover was asked for: writes stopped then.
            from = sync.state == .succeeded ? sync.finishedAt : nil
        } else {
            from = steps.first { $0.name == "quiesce" && ($0.attempts ?? 0) > 0 }?.startedAt
        }
        guard let from, let start = Timestamps.parse(from) else { return nil }
        let resume = steps.first { $0.name == "resume" }
        let to = resume == nil ? cut?.promotedAt : (resume?.state == .succeeded ? resume?.finishedAt : nil)
        guard let to, let end = Timestamps.parse(to) else { return Downtime(from: from) }
        return Downtime(from: from, to: to, seconds: (max(0, end.timeIntervalSince(start)) * 10).rounded() / 10)
    }

    /// Phase, current step, progress, message and conditions from the steps.
    public static func summarize(_ status: MigrationStatus, spec: MigrationSpec, generation: Int64, now: Date) -> MigrationStatus {
        var status = status
        let stamp = Timestamps.format(now)
        let steps = status.steps ?? []
        var phase = Planner.phase(steps, spec: spec)
        let running = current(status, spec: spec)
        if phase == .running, let r = running, StepKind(r.name) == .mysqlReplicate, r.state == .running { phase = .replicating }
        if phase == .running, let r = running, StepKind(r.name) == .clickhouseSync, r.state == .running { phase = .syncing }
        if phase == .succeeded, Planner.isDryRun(spec, existing: steps) { phase = .planned }
        status.phase = phase
        status.downtime = downtime(status)
        status.observedGeneration = generation
        status.progress = Planner.progress(steps, spec: spec)
        let failedRequired = steps.first { $0.state == .failed && !Planner.isFinished($0, spec: spec) }
        let failedOptional = steps.filter { $0.state == .failed && Planner.isFinished($0, spec: spec) }
        let active = running
        status.step = failedRequired?.name ?? active?.name ?? status.step
        switch phase {
        case .failed:
            // Once any step replaced data, no sentence may say that nothing was changed.
            status.message = "\(failedRequired?.name ?? "a step") failed: \(honest(failedRequired?.message ?? "", untouched: false, changedBefore: dataChanged(status)))"
            if holdsAppStopped(status, spec: spec),
               steps.contains(where: { $0.name == "quiesce" && $0.state == .succeeded }), steps.first(where: { $0.name == "resume" })?.state != .succeeded {
                status.message! += ". The workloads stay stopped because data was already replaced. Data: \(dataState(status)). "
                    + "Fix the cause and annotate \(FerryNames.rerunAnnotation)=\(failedRequired?.name ?? "<step>"), or set spec.workloads.resumeOnFailure: true to start the app on the data as it is"
            }
        case .succeeded: status.message = failedOptional.isEmpty ? "all \(steps.count) steps finished" : "finished; optional steps failed: \(failedOptional.map(\.name).joined(separator: ", "))"
        case .pending: status.message = "planned \(steps.count) steps"
        case .planned:
            let e = status.estimate
            status.message = "dry run: validated; \(e.map { "\($0.steps.count) steps, about \(Int($0.seconds.rounded())) s, downtime about \(Int($0.downtimeSeconds.rounded())) s" } ?? "estimating") — nothing was stopped or written; set spec.dryRun: false to run it"
        default: status.message = active.map { "\($0.name): \($0.message ?? ($0.state == .running ? "running" : "next"))" }
        }
        if spec.dryRun == true, phase != .planned {
            status.message = (status.message ?? "") + "; spec.dryRun is ignored: steps beyond validate have run"
        }
        var conditions = status.conditions ?? []
        typealias C = FerryNames.ConditionType
        conditions.set(type: C.specValid, status: true, reason: "Valid", message: "the spec is valid", observedGeneration: generation, now: stamp)
        conditions.set(type: C.ready, status: phase == .succeeded, reason: phase == .succeeded ? "Succeeded" : (phase == .failed ? "Failed" : phase == .planned ? "Planned" : "InProgress"),
                       message: phase == .succeeded ? "all steps finished" : status.message ?? "", observedGeneration: generation, now: stamp)
        conditions.set(type: C.progressing, status: phase == .pending || phase == .running, reason: phase == .failed ? "StepFailed" : phase.rawValue,
                       message: active.map { "step \($0.name)" } ?? "no step to run", observedGeneration: generation, now: stamp)
        conditions.set(type: C.degraded, status: !failedOptional.isEmpty,
                       reason: failedOptional.isEmpty ? "AllStepsHealthy" : "OptionalStepFailed",
                       message: failedOptional.isEmpty ? "no optional step failed" : failedOptional.map { "\($0.name): \($0.message ?? "")" }.joined(separator: "; "),
                       observedGeneration: generation, now: stamp)
        if let running = active, running.state == .running, StepKind(running.name).runsAsJob, let stall = stalled(running, spec: spec, now: now) {
            conditions.set(type: C.progressing, status: false, reason: "Stalled", message: stall, observedGeneration: generation, now: stamp)
        }
        status.conditions = conditions
        return status
    }

    /// "mysql/wiki: no progress for 312 s (last: …)" when a running step has not moved for
    /// `spec.steps.stallSeconds`; nil while it moves.
    public static func stalled(_ step: StepStatus, spec: MigrationSpec, now: Date) -> String? {
        guard let at = (step.progressAt ?? step.startedAt).flatMap(Timestamps.parse) else { return nil }
        let limit = Double(spec.steps?.stallSeconds ?? MigrationDefaults.stepStallSeconds)
        let idle = now.timeIntervalSince(at)
        guard idle > limit else { return nil }
        return "\(step.name): no progress for \(Int(idle)) s\(step.progress.map { " (last: \($0))" } ?? ""); is the server answering? See kubectl logs job/\(step.job ?? "<job>")"
    }

    /// The file sync's part of the summary: phase Paused and condition Paused while a paused
    /// sync is the current step; Progressing=False with the reason when it has not moved for
    /// `spec.fileSync.stallSeconds`.
    public static func summarizeFileSync(_ status: MigrationStatus, spec: MigrationSpec, paused: Bool, generation: Int64, now: Date) -> MigrationStatus {
        var status = status
        let stamp = Timestamps.format(now)
        var conditions = status.conditions ?? []
        typealias C = FerryNames.ConditionType
        let active = current(status, spec: spec)
        let syncing = active.map { StepKind($0.name).isFileSync && $0.state == .running } ?? false
        if syncing && paused {
            status.phase = .paused
            conditions.set(type: C.paused, status: true, reason: "PausedByAnnotation", message: "\(FerryNames.filesAnnotation)=paused: no file is written until it is set to running", observedGeneration: generation, now: stamp)
        } else {
            conditions.set(type: C.paused, status: false, reason: paused ? "NothingToPause" : "Running", message: paused ? "the file sync is not running" : "not paused", observedGeneration: generation, now: stamp)
        }
        if syncing, let files = status.files, let last = files.lastProgressAt.flatMap(Timestamps.parse) {
            let limit = Double(spec.fileSync?.stallSeconds ?? MigrationDefaults.fileSyncStallSeconds)
            if now.timeIntervalSince(last) > limit {
                let reason: String
                switch files.state {
                case "paused": reason = "Paused"
                case "waitingForWindow": reason = "WindowClosed"
                case "podNotRunning": reason = "PodNotRunning"
                default: reason = files.lastError != nil ? "Errors" : "Stalled"
                }
                conditions.set(type: C.progressing, status: false, reason: reason,
                               message: "no file progress for \(Int(now.timeIntervalSince(last))) s\(files.lastError.map { ": \($0)" } ?? "")", observedGeneration: generation, now: stamp)
            }
        }
        status.conditions = conditions
        return status
    }

    // MARK: - helpers

    static func update(_ name: String, in status: MigrationStatus, _ change: (inout StepStatus) -> Void) -> MigrationStatus {
        var status = status
        guard var steps = status.steps, let i = steps.firstIndex(where: { $0.name == name }) else { return status }
        change(&steps[i])
        status.steps = steps
        return status
    }
}
