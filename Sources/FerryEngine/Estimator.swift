import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// How long each step and the downtime should take (`status.estimate`, `kubectl ferry plan`).
/// Pure: the plan's steps, the package's sizes (validate), and what earlier Migrations measured.
///
/// A data step takes `fixed + bytes / rate`. With earlier runs of its kind, the median of their
/// runs scaled to this size (their fixed part kept, the rest scaled by the bytes); without,
/// the documented defaults below. Other steps take the median of their earlier runs, else a
/// default. The downtime is the sum of the steps from the moment writes stop (quiesce, or the
/// old application's stop, or the cutover) to resume.
public enum Estimator {
    /// Defaults when no earlier run measured a kind: seconds of fixed cost, and bytes per second.
    public static let defaults: [String: (fixed: Double, bytesPerSecond: Double?)] = [
        "validate": (5, nil), "presync": (5, 100e6), "quiesce": (10, nil), "mysql-snapshot": (10, 25e6), "mysql-replicate": (0, nil),
        "mysql-stop-source": (10, nil), "mysql-cutover": (5, nil), "mysql": (5, 25e6), "clickhouse": (5, 60e6), "clickhouse-schema": (5, nil),
        "clickhouse-sync": (0, nil), "clickhouse-copy": (10, 100e6), "kafka": (5, nil), "config": (5, nil), "resume": (15, nil), "mysql-reverse": (10, nil),
        "cache": (3, nil), "rebuild": (30, nil), "files": (5, 100e6),
    ]

    /// One earlier run of a step: how long it took and how many bytes it moved.
    public struct Sample: Sendable, Equatable {
        public var seconds: Double
        public var bytes: Int64?
        public init(seconds: Double, bytes: Int64?) {
            self.seconds = seconds
            self.bytes = bytes
        }
    }

    /// How long a finished step ran.
    public static func duration(_ s: StepStatus?) -> Double? {
        guard let a = s?.startedAt.flatMap(Timestamps.parse), let b = s?.finishedAt.flatMap(Timestamps.parse), b >= a else { return nil }
        return b.timeIntervalSince(a)
    }

    /// How long validate ran, from its process's start (its result's `startedAt`) when that falls
    /// within the step: the pod's start before it, on a node's first pod the image pull, is a cost
    /// later steps do not pay again, so it is no measure of this cluster's pace.
    public static func validateRun(_ s: StepStatus?) -> Double? {
        guard let whole = duration(s), let b = s?.finishedAt.flatMap(Timestamps.parse) else { return nil }
        guard case .string(let text)? = s?.result?["startedAt"], let began = Timestamps.parse(text), began <= b else { return whole }
        return min(whole, b.timeIntervalSince(began))
    }

    /// Earlier runs by kind (`StepKind.family`), from the steps other Migrations finished.
    public static func history(_ statuses: [MigrationStatus]) -> [String: [Sample]] {
        var out: [String: [Sample]] = [:]
        for status in statuses {
            for s in status.steps ?? [] where s.state == .succeeded {
                guard let a = s.startedAt.flatMap(Timestamps.parse), let b = s.finishedAt.flatMap(Timestamps.parse), b >= a else { continue }
                out[StepKind(s.name).family, default: []].append(Sample(seconds: b.timeIntervalSince(a), bytes: bytes(s.result)))
            }
        }
        return out
    }

    /// Bytes a finished step moved, from its result whatever its kind.
    static func bytes(_ result: JSONValue?) -> Int64? {
        for key in ["bytes", "bytesTotal", "sourceBytes"] {
            switch result?[key] {
            case .int(let n)?: return n
            case .double(let d)?: return Int64(d)
            default: continue
            }
        }
        return nil
    }

    /// The bytes a step restores, from validate's sizes (`files` and `presync`: every folder).
    static func size(of step: String, in sizes: [String: Int64]) -> Int64? {
        if step == "files" || step == "presync" {
            let folders = sizes.filter { $0.key.hasPrefix("files/") }
            return folders.isEmpty ? nil : folders.values.reduce(0, +)
        }
        return sizes[step]
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// One step's estimate and where it comes from. `pace`: this cluster's validate run against the
    /// default's 5 s (how fast it starts and stops pods), applied to the defaults' fixed parts.
    static func seconds(_ step: String, bytes: Int64?, history: [String: [Sample]], pace: Double = 1) -> (Double, String) {
        let family = StepKind(step).family
        if ["mysql-replicate", "clickhouse-sync"].contains(family) { return (0, "runs while the application writes, until the cutover is asked for") }
        let d = defaults[family] ?? (10, nil)
        let runs = history[family] ?? []
        if let bytes, d.bytesPerSecond != nil {
            let sized = runs.filter { ($0.bytes ?? 0) > 0 }
            if !sized.isEmpty {
                let scaled = sized.map { r in min(r.seconds, d.fixed) + max(0, r.seconds - d.fixed) * Double(bytes) / Double(r.bytes ?? 1) }
                return (median(scaled), "\(sized.count) earlier run\(sized.count == 1 ? "" : "s") scaled to \(bytes) bytes")
            }
            return (d.fixed * pace + Double(bytes) / (d.bytesPerSecond ?? 1), "default: \(Int(d.fixed)) s\(paced(pace)) + \(Int((d.bytesPerSecond ?? 0) / 1e6)) MB/s over \(bytes) bytes")
        }
        if !runs.isEmpty { return (median(runs.map(\.seconds)), "median of \(runs.count) earlier run\(runs.count == 1 ? "" : "s")") }
        return (d.fixed * pace, "default: \(Int(d.fixed)) s\(paced(pace))" + (bytes == nil && d.bytesPerSecond != nil ? " (size unknown)" : ""))
    }

    static func paced(_ pace: Double) -> String { pace == 1 ? "" : String(format: " × %.2f (this cluster's validate run)", pace) }

    /// How fast this cluster runs a step against the defaults: its validate run over the default's
    /// 5 s, kept within 0.05…4. Pure.
    public static func pace(validateSeconds: Double?) -> Double {
        guard let s = validateSeconds, s > 0 else { return 1 }
        return min(4, max(0.05, s / (defaults["validate"]?.fixed ?? 5)))
    }

    /// The steps while the application cannot write: from the first step that stops writes to
    /// resume (or, without workloads, to the cutover).
    public static func downtimeSteps(_ steps: [String]) -> Set<String> {
        // As Engine.downtime counts it: the old application's stop, else the cutover (the source read-only), else quiesce.
        guard let from = ["mysql-stop-source", "mysql-cutover", "quiesce"].lazy.compactMap({ s in steps.firstIndex(of: s) }).first else { return [] }
        var first = from
        // An incremental ClickHouse sync runs while the application writes; the downtime starts at its end.
        if let sync = steps.firstIndex(of: "clickhouse-sync"), sync >= first { first = sync + 1 }
        let to = steps.firstIndex(of: "resume") ?? steps.firstIndex(of: "mysql-cutover") ?? steps.count - 1
        guard first <= to else { return [] }
        return Set(steps[first...to].filter { !["mysql-replicate", "clickhouse-sync"].contains($0) })
    }

    /// The steps a spec's whole plan runs, for an estimate: a dry run's too, never the skipped
    /// ones nor the way back (it runs only when asked for).
    public static func steps(for spec: MigrationSpec, contents: PackageContents?) -> [String] {
        var whole = spec
        whole.dryRun = nil
        return Planner.stepNames(for: whole, contents: contents).filter { !Planner.isSkipped($0, spec: spec) && StepKind($0) != .mysqlCutback }
    }

    /// The estimate of a spec's whole plan: what validate found (sizes, and how fast this cluster
    /// ran it) and what the `others` Migrations measured. The controller's and `kubectl ferry plan`'s.
    /// The pace comes from this cluster's fastest validate run, this one's or an earlier
    /// Migration's: one run slowed by a busy moment would otherwise inflate every step.
    public static func forPlan(_ spec: MigrationSpec, contents: PackageContents?, validate: StepStatus?, others: [MigrationStatus], blockers: [String] = []) -> Estimate {
        let earlier = history(others)
        var validates: [StepStatus] = others.flatMap { $0.steps ?? [] }.filter { $0.name == "validate" }
        if let validate { validates.append(validate) }
        let runs: [Double] = validates.filter { $0.state == .succeeded }.compactMap { validateRun($0) }.filter { $0 > 0 }
        return estimate(steps: steps(for: spec, contents: contents), sizes: contents?.sizes ?? [:], history: earlier, blockers: blockers,
                        pace: pace(validateSeconds: runs.min()), between: downtimeFactor(others), validatedAt: validate?.finishedAt)
    }

    /// What earlier Migrations' downtimes were against the sum of their steps in the window: the
    /// time between steps (the controller's looks, pods starting), as a factor of 1…3. Pure.
    public static func downtimeFactor(_ statuses: [MigrationStatus]) -> (factor: Double, runs: Int) {
        let ratios: [Double] = statuses.compactMap { s in
            guard let measured = s.downtime?.seconds, measured > 0, let steps = s.steps else { return nil }
            let window = downtimeSteps(steps.map(\.name))
            let sum = steps.filter { window.contains($0.name) }.compactMap(duration).reduce(0, +)
            return sum > 0 ? measured / sum : nil
        }
        return ratios.isEmpty ? (1, 0) : (min(3, max(1, median(ratios))), ratios.count)
    }

    public static func estimate(steps: [String], sizes: [String: Int64], history: [String: [Sample]], blockers: [String] = [], pace: Double = 1,
                                between: (factor: Double, runs: Int) = (1, 0), validatedAt: String? = nil) -> Estimate {
        // The way back runs only when asked for.
        let steps = steps.filter { StepKind($0) != .mysqlCutback }
        let down = downtimeSteps(steps)
        let out = steps.map { name in
            let (s, basis) = seconds(name, bytes: size(of: name, in: sizes), history: history, pace: pace)
            return Estimate.Step(name: name, seconds: (s * 10).rounded() / 10, basis: basis, downtime: down.contains(name))
        }
        let total = out.map(\.seconds).reduce(0, +), sum = out.filter(\.downtime).map(\.seconds).reduce(0, +)
        let downtime = sum * between.factor
        let basis = between.runs == 0 ? "the steps from quiesce (or the cutover) to resume"
            : String(format: "the steps from quiesce (or the cutover) to resume × %.2f, ", between.factor) + "the time between steps \(between.runs) earlier Migration\(between.runs == 1 ? "" : "s") showed"
        return Estimate(steps: out, seconds: (total * 10).rounded() / 10, downtimeSeconds: (downtime * 10).rounded() / 10, blockers: blockers.isEmpty ? nil : blockers,
                        downtimeBasis: basis, validatedAt: validatedAt)
    }
}
