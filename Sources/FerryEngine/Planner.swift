import FerryAPI
import KubeClient

/// Decides the ordered step list of a Migration and merges it with the
/// checkpoint already in status. Pure: no I/O, every decision a unit test.
public enum Planner {
    /// Step names in run order for a spec (package contents refine `mysql`
    /// and `clickhouse` into per-database steps once validate has read them).
    public static func stepNames(for spec: MigrationSpec) -> [String] {
        var steps = ["validate"]
        let hasFiles = !(spec.files ?? []).isEmpty
        if hasFiles && spec.fileSync?.preSync == true { steps.append("presync") }
        if spec.workloads != nil { steps.append("quiesce") }
        if let m = spec.mysql {
            if let dbs = m.databases, !dbs.isEmpty { steps += dbs.map { "mysql/\($0)" } } else { steps.append("mysql") }
        }
        if let c = spec.clickhouse {
            if let tables = c.tables, !tables.isEmpty { steps += tables.map { "clickhouse/\($0)" } } else { steps.append("clickhouse") }
        }
        if spec.kafka != nil { steps.append("kafka") }
        if spec.workloads != nil { steps.append("resume") }
        if spec.redis != nil { steps.append("cache") }
        steps += (spec.rebuilds ?? []).map { "rebuild/\($0.name)" }
        if hasFiles { steps.append("files") }
        return steps
    }

    /// Whether `spec.steps.skip` names this step (by full name or by kind).
    public static func isSkipped(_ step: String, spec: MigrationSpec) -> Bool {
        let kind = String(step.split(separator: "/").first ?? "")
        return (spec.steps?.skip ?? []).contains { $0 == step || $0 == kind }
    }

    /// The planned steps: existing entries keep their state (the checkpoint),
    /// new ones start Pending (or Skipped), steps no longer planned drop out.
    public static func plan(spec: MigrationSpec, existing: [StepStatus]) -> [StepStatus] {
        let byName = Dictionary(existing.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return stepNames(for: spec).map { name in
            let skipped = isSkipped(name, spec: spec)
            if var s = byName[name] {
                if skipped && s.state == .pending { s.state = .skipped }
                if !skipped && s.state == .skipped { s.state = .pending }
                return s
            }
            return StepStatus(name: name, state: skipped ? .skipped : .pending)
        }
    }

    /// "3/11 steps": finished (succeeded or skipped) of all planned.
    public static func progress(_ steps: [StepStatus]) -> String {
        let finished = steps.filter { $0.state == .succeeded || $0.state == .skipped }.count
        return "\(finished)/\(steps.count) steps"
    }

    /// The overall phase implied by the steps.
    public static func phase(_ steps: [StepStatus]) -> Phase {
        if steps.contains(where: { $0.state == .failed }) { return .failed }
        if !steps.isEmpty && steps.allSatisfy({ $0.state == .succeeded || $0.state == .skipped }) { return .succeeded }
        if steps.contains(where: { $0.state == .running || $0.state == .succeeded }) { return .running }
        return .pending
    }
}
