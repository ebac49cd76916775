import FerryEngine
import FerryProtocol
import KubeClient

/// Reading how a step's pod ended: its ``StepReport`` from the termination message, else why
/// the pod failed or waits.
public enum StepPodOutcome {
    /// What a step Job's state and its pods' termination messages say.
    public static func outcome(job: JSONValue, pods unordered: [JSONValue]) -> StepOutcome {
        let conditions = job[path: ["status", "conditions"]]?.arrayValue ?? []
        let isTrue = { (type: String) in conditions.contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" } }
        return outcome(complete: isTrue("Complete"), failed: isTrue("Failed"), pods: unordered,
                       failedDetail: conditions.first { $0["type"]?.stringValue == "Failed" }?["message"]?.stringValue, name: job.name ?? "")
    }

    /// What a finished or running pod says on its own (the transfer pod has no Job).
    static func outcome(pod: JSONValue) -> StepOutcome {
        let phase = pod[path: ["status", "phase"]]?.stringValue
        return outcome(complete: phase == "Succeeded", failed: phase == "Failed", pods: [pod], failedDetail: nil, name: pod.name ?? "")
    }

    private static func outcome(complete: Bool, failed: Bool, pods unordered: [JSONValue], failedDetail: String?, name: String) -> StepOutcome {
        // Newest first: a Job's latest pod says how it ended, not the first in list order.
        let pods = unordered.sorted { finishedOrCreated($0) > finishedOrCreated($1) }
        let report = pods.lazy.compactMap { Self.report(of: $0) }.first
        if complete {
            if let report, report.report.ok { return .succeeded(result: report.result, message: nil) }
            return .succeeded(result: nil, message: "finished (no result was reported)")
        }
        if failed {
            if let r = report?.report, !r.ok {
                return .failed(r.error ?? "failed", permanent: r.retryable == false, untouched: r.changed == false)
            }
            let reason = pods.lazy.compactMap { $0[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated"]] }.first
            let text = reason.map { "exit code \($0["exitCode"]?.intValue ?? -1): \(($0["message"]?.stringValue ?? $0["reason"]?.stringValue ?? "").suffix(500))" }
            return .failed("the step's pod failed (\(text ?? failedDetail ?? "no detail"))", permanent: false)
        }
        // Running or waiting: say why a pod waits.
        for pod in pods {
            if let waiting = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting"]],
               let reason = waiting["reason"]?.stringValue, reason != "ContainerCreating" {
                return .running("pod \(pod.name ?? "") waiting: \(reason)\(waiting["message"]?.stringValue.map { ": \($0)" } ?? "")")
            }
        }
        return .running(pods.isEmpty ? "job \(name) created" : "running in pod \(pods.first?.name ?? "")")
    }

    /// When a pod's container ended, else when the pod was made (RFC 3339 sorts as text).
    static func finishedOrCreated(_ pod: JSONValue) -> String {
        pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated", "finishedAt"]]?.stringValue
            ?? pod[path: ["metadata", "creationTimestamp"]]?.stringValue ?? ""
    }

    /// The report of a finished pod's termination message, and its `result` as JSON.
    static func report(of pod: JSONValue) -> (report: StepReport, result: JSONValue?)? {
        guard let message = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated", "message"]]?.stringValue,
              let (report, line) = StepReport.parse(terminationMessage: message) else { return nil }
        return (report, (try? JSONWire.parse(Array(line.utf8)))?["result"])
    }

    /// The last progress line of a step's output (not its JSON report), at most 200 characters.
    public static func progressLine(fromLog log: String) -> String? {
        for line in log.split(separator: "\n").reversed() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("{") { continue }
            return String(t.prefix(200))
        }
        return nil
    }
}
