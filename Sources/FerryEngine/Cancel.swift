import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// `ferry.dev/cancel=true`, decided from status alone. The controller stops the running step (its
/// Job or pods deleted), brings the workloads back (the guaranteed scale-up) and runs nothing
/// more: phase Cancelled. Nothing further is dropped. Once the annotation is removed the
/// Migration continues from its checkpoint: the stopped step and quiesce are Pending again, so
/// the workloads are stopped again before any data step runs.
public enum Cancel {
    /// The annotation says `true`.
    public static func requested(_ annotations: [String: String]?) -> Bool {
        annotations?[FerryNames.cancelAnnotation]?.trimmingCharacters(in: .whitespaces).lowercased() == "true"
    }

    /// Steps that must not be stopped halfway (the old server would stay read-only, or a server
    /// half promoted): a cancel waits for their run to end, then takes effect.
    public static func finishesFirst(_ kind: StepKind) -> Bool {
        [.mysqlStopSource, .mysqlCutover, .mysqlCutback].contains(kind)
    }

    /// The running step the cancel waits for, if any.
    public static func waitsFor(_ status: MigrationStatus) -> StepStatus? {
        status.steps?.first { $0.state == .running && finishesFirst(StepKind($0.name)) }
    }

    /// Whether there is anything to cancel: the plan is not through.
    public static func applies(_ status: MigrationStatus, spec: MigrationSpec) -> Bool {
        Planner.phase(status.steps ?? [], spec: spec) != .succeeded
    }

    static let stoppedNote = "stopped by \(FerryNames.cancelAnnotation)"

    /// The running step, its Job and pods gone: Pending again, runs from its checkpoint when the
    /// Migration continues. A data step stopped mid-run may have dropped or partly restored its
    /// data: it says so, and is counted as having changed data.
    public static func stopped(_ status: MigrationStatus, now: Date) -> MigrationStatus {
        var status = status
        guard let i = status.steps?.firstIndex(where: { $0.state == .running }), var step = status.steps?[i] else { return status }
        let changes = StepKind(step.name).changesData
        step.state = .pending
        step.job = nil
        step.progress = nil
        step.finishedAt = Timestamps.format(now)
        if changes { step.dataChanged = true }
        step.message = "\(stoppedNote) at \(Timestamps.format(now))" + (changes ? "; its data may be dropped or partly restored" : "") + "; runs again when the annotation is removed"
        status.steps?[i] = step
        return status
    }

    /// Whether the workloads are to be brought back: quiesce has started (it may have been stopped
    /// halfway), resume has not run, and they were not brought back by this cancel already.
    public static func needsResume(_ status: MigrationStatus, spec: MigrationSpec) -> Bool {
        guard spec.workloads != nil, let q = status.steps?.first(where: { $0.name == "quiesce" }), (q.attempts ?? 0) > 0 else { return false }
        return !(q.message ?? "").hasPrefix(backNote) && status.steps?.first(where: { $0.name == "resume" })?.state != .succeeded
    }

    static let backNote = "the workloads were brought back by \(FerryNames.cancelAnnotation)"

    /// The workloads are back: quiesce and resume Pending again, so continuing stops them again
    /// before the next data step (the saved replicas are kept for that run).
    public static func workloadsBack(_ status: MigrationStatus, now: Date) -> MigrationStatus {
        var status = status
        for name in ["quiesce", "resume"] {
            guard let i = status.steps?.firstIndex(where: { $0.name == name }) else { continue }
            status.steps?[i].state = .pending
            status.steps?[i].job = nil
            status.steps?[i].message = name == "quiesce"
                ? "\(backNote) at \(Timestamps.format(now)); they are stopped again when the Migration continues"
                : "after quiesce runs again"
        }
        return status
    }

    /// Phase Cancelled, with what was stopped, where the workloads are and the state of the data.
    public static func summarize(_ status: MigrationStatus, workloads: String, generation: Int64, now: Date) -> MigrationStatus {
        var status = status
        let stamp = Timestamps.format(now)
        status.phase = .cancelled
        let stopped = status.steps?.first { $0.state == .pending && ($0.message ?? "").hasPrefix(stoppedNote) }
        var text = "cancelled (\(FerryNames.cancelAnnotation)=true)" + (stopped.map { ": \($0.name) was stopped" } ?? ": no step was running") + "; \(workloads)"
        if Engine.dataChanged(status) { text += "; data: \(Engine.dataState(status))" }
        text += ". Nothing more runs; remove the annotation to continue from the checkpoint"
        status.message = text
        var conditions = status.conditions ?? []
        typealias C = FerryNames.ConditionType
        conditions.set(type: C.ready, status: false, reason: "Cancelled", message: text, observedGeneration: generation, now: stamp)
        conditions.set(type: C.progressing, status: false, reason: "Cancelled", message: "nothing runs while \(FerryNames.cancelAnnotation)=true", observedGeneration: generation, now: stamp)
        status.conditions = conditions
        return status
    }
}
