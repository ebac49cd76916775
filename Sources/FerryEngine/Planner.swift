import Foundation
import FerryAPI
import FerryProtocol
import KubeClient

/// Decides the ordered step list of a Migration and merges it with the
/// checkpoint already in status. Pure: no I/O, every decision a unit test.
public enum Planner {
    /// Step names in run order for a spec. Without a database (table) list in
    /// the spec, `mysql` (`clickhouse`) is one placeholder step until validate
    /// has read the package; with `contents` it becomes one step per database
    /// (table) the package holds.
    public static func stepNames(for spec: MigrationSpec, contents: PackageContents? = nil) -> [String] {
        StepKind.all.flatMap { StepKind.planned($0, in: spec, contents: contents) }
    }

    /// `spec.dryRun` before anything but validate has run: validate, plan and estimate only.
    public static func isDryRun(_ spec: MigrationSpec, existing: [StepStatus]) -> Bool {
        spec.dryRun == true && !existing.contains { $0.name != "validate" && ($0.attempts ?? 0) > 0 }
    }

    /// Whether `spec.steps.skip` names this step (by full name or by kind).
    public static func isSkipped(_ step: String, spec: MigrationSpec) -> Bool {
        let kind = StepKind(step).family
        return (spec.steps?.skip ?? []).contains { $0 == step || $0 == kind }
    }

    /// The planned steps: existing entries keep their state (the checkpoint),
    /// new ones start Pending (or Skipped), steps no longer planned drop out.
    public static func plan(spec: MigrationSpec, existing: [StepStatus]) -> [StepStatus] {
        let byName = Dictionary(existing.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let validated = byName["validate"].flatMap { $0.state == .succeeded ? StepResults.contents(ofValidate: $0.result) : nil }
        var names = stepNames(for: spec, contents: validated)
        // A dry run validates only (the estimate covers the whole plan); once more than validate has run it no longer holds steps back.
        if isDryRun(spec, existing: existing) { names = names.filter { $0 == "validate" } }
        // Workloads stopped by quiesce come back through resume even if spec.workloads went away.
        if spec.workloads == nil, (byName["quiesce"]?.attempts ?? 0) > 0, byName["resume"]?.state != .succeeded {
            let at = names.firstIndex { StepKind($0).order > StepKind.quiesce.order } ?? names.count
            names.insert("quiesce", at: at)
            let back = names.firstIndex { StepKind($0).order > StepKind.resume.order } ?? names.count
            names.insert("resume", at: back)
        }
        var planned = names.map { name -> StepStatus in
            // Going back runs only when asked for (Engine.prepare, ferry.dev/cutover=reverse).
            if StepKind(name) == .mysqlCutback, byName[name].map({ $0.state == .skipped }) ?? true {
                return StepStatus(name: name, state: .skipped, message: "runs on \(FerryNames.cutoverAnnotation)=reverse")
            }
            let skipped = isSkipped(name, spec: spec)
            if var s = byName[name] {
                if skipped && s.dataChanged == true && (s.state == .pending || s.state == .failed) && StepKind(name).changesData {
                    // Skipping cannot hide a database an earlier run dropped or replaced in part.
                    s.state = .failed
                    s.message = "cannot be skipped: an earlier run dropped or replaced its data and it was not restored; remove it from spec.steps.skip and re-run it (\(FerryNames.rerunAnnotation)=\(name))"
                    return s
                }
                if skipped && s.state == .pending { s.state = .skipped }
                if !skipped && s.state == .skipped { s.state = .pending }
                return s
            }
            return StepStatus(name: name, state: skipped ? .skipped : .pending)
        }
        // A data step dropped from the spec after it changed data stays, failed, so nothing reports success over it.
        for s in existing where !names.contains(s.name) && s.dataChanged == true && s.state != .succeeded && StepKind(s.name).changesData {
            var kept = s
            kept.state = .failed
            kept.message = "no longer in the spec, but an earlier run dropped or replaced its data and it was not restored; put it back and re-run it, or restore that data by hand"
            planned.append(kept)
        }
        return planned
    }

    /// "3/11 steps": finished (succeeded, skipped, or failed but optional) of all planned; while a
    /// ClickHouse copy runs, what it has copied too ("3/11 steps, events 5/12 partitions, 81234 rows/s, ETA 40 s").
    public static func progress(_ steps: [StepStatus], spec: MigrationSpec) -> String {
        let finished = steps.filter { isFinished($0, spec: spec) }.count
        let copying = steps.first { s in s.state == .running && ["clickhouse-sync", "clickhouse-copy"].contains(StepKind(s.name).family) }
        return "\(finished)/\(steps.count) steps" + (copying?.progress.flatMap(copyProgress).map { ", \($0)" } ?? "")
    }

    /// The short form of a copy's progress line. Pure.
    ///
    ///     db.t: partition 202503 copied; 5/12 partitions, 81234 rows/s, ETA 40 s, 2 at once → t 5/12 partitions, 81234 rows/s, ETA 40 s
    ///     in step: round 7 at …                                                          → in step (round 7)
    public static func copyProgress(_ line: String) -> String? {
        if line.hasPrefix("in step: round ") { return "in step (round \(line.dropFirst("in step: round ".count).prefix { $0.isNumber }))" }
        if line.hasPrefix("behind: round ") { return "behind (round \(line.dropFirst("behind: round ".count).prefix { $0.isNumber }))" }
        // The counts follow the last "copied; " (a partition's value cannot push them aside); a
        // line cut short (the controller keeps 200 characters) loses its partial parts, never shows them.
        guard let semi = line.range(of: " copied; ", options: .backwards), let colon = line.range(of: ": partition ") else { return nil }
        let name = line[..<colon.lowerBound]
        let table = name.firstIndex(of: ".").map { String(name[name.index(after: $0)...]) } ?? String(name)
        let shapes = [#"^\d+/\d+ partitions$"#, #"^\d+ rows/s$"#, #"^ETA \d+ s$"#]
        var kept: [String] = []
        for (part, shape) in zip(line[semi.upperBound...].components(separatedBy: ", "), shapes) {
            guard part.range(of: shape, options: .regularExpression) != nil else { break }
            kept.append(part)
        }
        guard let done = kept.first else { return nil }
        return ([table + " " + done] + kept.dropFirst()).joined(separator: ", ")
    }

    /// A step the plan has moved past: succeeded, skipped, or an optional step that failed for good.
    public static func isFinished(_ step: StepStatus, spec: MigrationSpec) -> Bool {
        switch step.state {
        case .succeeded, .skipped: return true
        // An optional step may fail without stopping the plan only if it changed nothing: once it
        // dropped or replaced data, the app must not start on that (issue: no success over dropped data).
        case .failed: return StepKind(step.name).isOptional(in: spec) && step.dataChanged != true
        case .pending, .running: return false
        }
    }

    /// The overall phase implied by the steps: Failed when a required step failed for good.
    public static func phase(_ steps: [StepStatus], spec: MigrationSpec) -> Phase {
        if steps.contains(where: { $0.state == .failed && !isFinished($0, spec: spec) }) { return .failed }
        if !steps.isEmpty && steps.allSatisfy({ isFinished($0, spec: spec) }) { return .succeeded }
        if steps.contains(where: { $0.state != .pending && $0.state != .skipped }) { return .running }
        return .pending
    }
}
