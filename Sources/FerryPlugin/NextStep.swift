import FerryAPI
import Foundation
import KubeClient

/// The one line under `kubectl ferry status` that says what to do next, as Vitess workflows
/// print `next_steps`. Pure.
public enum NextStep {
    public static func hint(_ migration: Migration) -> String {
        let name = migration.metadata.name ?? "NAME"
        let namespace = migration.metadata.namespace ?? "default"
        let ns = namespace == "default" ? "" : " -n \(namespace)"
        let status = migration.status ?? MigrationStatus()
        let steps = status.steps ?? []
        switch status.phase {
        case .failed?:
            if status.conditions?.condition(FerryNames.ConditionType.specValid)?.status == "False" {
                return "fix the spec as the message says, then kubectl apply it again"
            }
            let step = steps.first { $0.state == .failed }?.name ?? status.step ?? "STEP"
            let message = steps.first { $0.state == .failed }?.message ?? status.message ?? ""
            let rerun = "kubectl ferry rerun\(ns) \(name) \(step)"
            if let r = message.range(of: #"Secret [a-z0-9][-a-z0-9.]*"#, options: .regularExpression) {
                return "fix \(message[r]), then: \(rerun)"
            }
            return "fix the cause above, then: \(rerun)"
        case .paused?:
            return "the file sync is paused: kubectl ferry resume\(ns) \(name)"
        case .cancelled?:
            return "to continue from the checkpoint (the workloads are stopped again first): kubectl ferry cancel\(ns) \(name) --undo"
        case .planned?:
            return "a dry run: read the estimate (kubectl ferry plan\(ns) \(name)); to run it: kubectl patch migration\(ns) \(name) --type=merge -p '{\"spec\":{\"dryRun\":false}}'"
        case .replicating?, .syncing?:
            return "when the lag and the checks allow it: kubectl ferry cutover\(ns) \(name)"
        case .succeeded?:
            return "nothing: the migration is through (kubectl delete migration\(ns) \(name) removes the record; the data stays)"
        case .pending?, nil:
            if status.observedGeneration == nil { return "waiting for the Ferry controller to pick it up; is it running? kubectl get pods -A -l app.kubernetes.io/name=ferry" }
            return "wait; follow it: kubectl ferry status\(ns) \(name)"
        case .running?:
            return "wait; follow it: kubectl ferry status\(ns) \(name), or its output: kubectl ferry logs\(ns) \(name)"
        }
    }
}
