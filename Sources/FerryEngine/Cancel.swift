import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// `ferry.dev/cancel=true`, decided from status alone. The controller stops the running step (its
/// Job or pods deleted and waited for), brings the workloads back (the guaranteed scale-up) and
/// runs nothing more: phase Cancelled. Nothing further is dropped. Once the annotation is
/// removed the Migration continues from its checkpoint; if the workloads were brought back,
/// quiesce runs again before any data step.
///
/// Each change is written to status before it is acted on, so removing the annotation halfway
/// never runs a step twice at once, nor a data step with the workloads up:
/// 1. the running step is marked *stopping* (it stays Running until its Jobs and pods are gone,
///    even if the annotation goes meanwhile), then Pending;
/// 2. quiesce and resume are marked Pending *before* the workloads are scaled up.
public enum Cancel {
    /// The annotation says `true`.
    public static func requested(_ annotations: [String: String]?) -> Bool {
        annotations?[FerryNames.cancelAnnotation]?.trimmingCharacters(in: .whitespaces).lowercased() == "true"
    }

    /// Steps that must not be stopped halfway (the old server would stay read-only, or a server
    /// half promoted): a cancel waits for them to end, then takes effect.
    public static func finishesFirst(_ kind: StepKind) -> Bool {
        [.mysqlStopSource, .mysqlCutover, .mysqlCutback].contains(kind)
    }

    /// The step the cancel waits for: a cutover (or the old application's stop before it, or a
    /// cut back) that has begun and not finished — running, or waiting to be tried again.
    public static func waitsFor(_ status: MigrationStatus) -> StepStatus? {
        let steps = status.steps ?? []
        let begun = { (s: StepStatus) in (s.attempts ?? 0) > 0 && s.state != .succeeded && s.state != .skipped }
        if let s = steps.first(where: { finishesFirst(StepKind($0.name)) && begun($0) }) { return s }
        // The old application stopped: the cutover after it is one unit with it.
        if steps.contains(where: { $0.name == "mysql-stop-source" && $0.state == .succeeded }),
           let cutover = steps.first(where: { $0.name == "mysql-cutover" && $0.state != .succeeded && $0.state != .skipped }) {
            return cutover
        }
        return nil
    }

    /// Whether there is anything to cancel: the plan is not through.
    public static func applies(_ status: MigrationStatus, spec: MigrationSpec) -> Bool {
        Planner.phase(status.steps ?? [], spec: spec) != .succeeded
    }

    static let stoppingNote = "stopping for \(FerryNames.cancelAnnotation)"
    static let stoppedNote = "stopped by \(FerryNames.cancelAnnotation)"
    static let bringingNote = "bringing the workloads back for \(FerryNames.cancelAnnotation)"
    static let backNote = "the workloads were brought back by \(FerryNames.cancelAnnotation)"

    /// The step being stopped (its Jobs and pods not all gone yet), if any.
    public static func stopping(_ status: MigrationStatus) -> StepStatus? {
        status.steps?.first { $0.state == .running && ($0.message ?? "").hasPrefix(stoppingNote) }
    }

    /// The running step marked as being stopped (written before its Jobs and pods are deleted).
    public static func markStopping(_ status: MigrationStatus, now: Date) -> MigrationStatus {
        var status = status
        guard let i = status.steps?.firstIndex(where: { $0.state == .running }), !(status.steps?[i].message ?? "").hasPrefix(stoppingNote) else { return status }
        status.steps?[i].message = "\(stoppingNote) at \(Timestamps.format(now)): deleting its Jobs and pods"
        return status
    }

    /// The step's Jobs and pods gone: Pending again, runs from its start when the Migration
    /// continues. A data step stopped mid-run may have dropped or partly restored its data: it
    /// says so, and counts as having changed data. ClickHouse copies may still run on the server.
    public static func stopped(_ status: MigrationStatus, now: Date) -> MigrationStatus {
        var status = status
        guard let i = status.steps?.firstIndex(where: { $0.state == .running }), var step = status.steps?[i] else { return status }
        let kind = StepKind(step.name)
        step.state = .pending
        step.job = nil
        step.progress = nil
        step.finishedAt = Timestamps.format(now)
        if kind.changesData { step.dataChanged = true }
        var text = "\(stoppedNote) at \(Timestamps.format(now))"
        if kind.changesData { text += "; its data may be dropped or partly restored" }
        if ["clickhouse-copy", "clickhouse-sync"].contains(kind.family) {
            text += "; INSERTs it started may still run on the target ClickHouse until they end (its next run stops them before it drops anything)"
        }
        step.message = text + "; runs again when the annotation is removed"
        status.steps?[i] = step
        return status
    }

    /// Whether the workloads are to be brought back: quiesce has started (it may have been
    /// stopped halfway), resume has not finished, they are not back already, and
    /// `spec.workloads.leaveStoppedOnFailure` does not keep them down.
    public static func needsResume(_ status: MigrationStatus, spec: MigrationSpec) -> Bool {
        guard spec.workloads?.leaveStoppedOnFailure != true, let q = status.steps?.first(where: { $0.name == "quiesce" }), (q.attempts ?? 0) > 0 else { return false }
        let resume = status.steps?.first { $0.name == "resume" }
        return resume?.state != .succeeded && !(resume?.message ?? "").hasPrefix(backNote)
    }

    /// Before the workloads are scaled up: quiesce and resume Pending (continuing stops them
    /// again first), unless every step between them is done, when resume's work is all that is left.
    public static func bringingBack(_ status: MigrationStatus, now: Date) -> MigrationStatus {
        var status = status
        guard var steps = status.steps, let q = steps.firstIndex(where: { $0.name == "quiesce" }), let r = steps.firstIndex(where: { $0.name == "resume" }) else { return status }
        guard !(steps[r].message ?? "").hasPrefix(bringingNote) else { return status }
        let between = q < r ? steps[(q + 1)..<r] : []
        let dataDone = steps[q].state == .succeeded && between.allSatisfy { $0.state == .succeeded || $0.state == .skipped }
        if !dataDone, !(steps[q].message ?? "").hasPrefix(stoppedNote) {
            steps[q].state = .pending
            steps[q].job = nil
            steps[q].message = "runs again when the Migration continues (the workloads were brought back by \(FerryNames.cancelAnnotation))"
        }
        steps[r].state = .pending
        steps[r].job = nil
        steps[r].message = "\(bringingNote) since \(Timestamps.format(now))"
        status.steps = steps
        return status
    }

    /// The workloads are back (Ready). With every data step done, that was resume's work: it is Succeeded.
    public static func workloadsBack(_ status: MigrationStatus, now: Date) -> MigrationStatus {
        var status = status
        guard let r = status.steps?.firstIndex(where: { $0.name == "resume" }) else { return status }
        let quiesceDone = status.steps?.first { $0.name == "quiesce" }?.state == .succeeded
        if quiesceDone {
            status.steps?[r].state = .succeeded
            status.steps?[r].finishedAt = Timestamps.format(now)
            status.steps?[r].message = "\(backNote) at \(Timestamps.format(now)), every step before it being done"
        } else {
            status.steps?[r].message = "\(backNote) at \(Timestamps.format(now)); runs after quiesce when the Migration continues"
        }
        return status
    }

    /// Phase Cancelled, with what was stopped, where the workloads are and the state of the data.
    /// Conditions are only changed where they differ, so a cancelled Migration's status is still.
    public static func summarize(_ status: MigrationStatus, previous: [Condition]?, workloads: String, generation: Int64, now: Date) -> MigrationStatus {
        var status = status
        let stamp = Timestamps.format(now)
        status.phase = .cancelled
        let stopped = status.steps?.first { s in s.message.map { $0.hasPrefix(stoppedNote) || $0.hasPrefix(stoppingNote) } ?? false }
        var text = "cancelled (\(FerryNames.cancelAnnotation)=true)" + (stopped.map { ": \($0.name) was stopped" } ?? ": no step was running") + "; \(workloads)"
        if Engine.dataChanged(status) { text += "; data: \(Engine.dataState(status))" }
        if let s = stopped, (s.message ?? "").contains("INSERTs it started") { text += "; ClickHouse INSERTs \(s.name) started may still run on the target until they end" }
        text += ". Nothing more runs; remove the annotation to continue from the checkpoint"
        status.message = text
        var conditions = previous ?? []
        typealias C = FerryNames.ConditionType
        conditions.set(type: C.ready, status: false, reason: "Cancelled", message: text, observedGeneration: generation, now: stamp)
        conditions.set(type: C.progressing, status: false, reason: "Cancelled", message: "nothing runs while \(FerryNames.cancelAnnotation)=true", observedGeneration: generation, now: stamp)
        status.conditions = conditions
        // While they were stopped: from quiesce to their return (not growing once they are back).
        if let q = status.steps?.first(where: { $0.name == "quiesce" }), let from = q.startedAt, let back = backTime(status) {
            let seconds = Timestamps.parse(back).flatMap { b in Timestamps.parse(from).map { max(0, b.timeIntervalSince($0)) } }
            status.downtime = Downtime(from: from, to: back, seconds: seconds)
        }
        return status
    }

    /// When the cancel brought the workloads back.
    static func backTime(_ status: MigrationStatus) -> String? {
        guard let m = status.steps?.first(where: { $0.name == "resume" })?.message, m.hasPrefix(backNote + " at ") else { return nil }
        return String(m.dropFirst((backNote + " at ").count).prefix { $0 != "," && $0 != ";" })
    }
}
