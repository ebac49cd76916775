import Foundation

/// How a step hands its result to the controller: one JSON object printed as the last stdout
/// line and written to the termination message file (``TerminationMessage/path``), which
/// Kubernetes copies into the pod status; the controller copies `result` into
/// `status.steps[].result`. Kept under the 4 KiB termination-message limit.
///
/// `{"ok":true,"result":{...}}` or `{"ok":false,"error":"...","retryable":…,"changed":…}`.
public struct StepReport: Codable, Equatable, Sendable {
    public var ok: Bool
    public var error: String?
    /// false: another attempt cannot help (bad package, bad options).
    public var retryable: Bool?
    /// false: nothing on the target was dropped or written by this run.
    public var changed: Bool?

    public init(ok: Bool, error: String? = nil, retryable: Bool? = nil, changed: Bool? = nil) {
        self.ok = ok
        self.error = error
        self.retryable = retryable
        self.changed = changed
    }

    /// The report line of a success.
    public static func success<R: Encodable>(_ result: R) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(result)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "{\"ok\":true,\"result\":\(body)}"
    }

    /// The report line of a failure (the message cut until the line, as encoded, fits the termination message).
    public static func failure(_ message: String, retryable: Bool = true, changed: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var trimmed = message, keep = message.count
        while true {
            let report = StepReport(ok: false, error: trimmed, retryable: retryable, changed: changed)
            guard let line = (try? encoder.encode(report)).map({ String(decoding: $0, as: UTF8.self) }) else { return "{\"ok\":false}" }
            if line.utf8.count <= ReportSize.limit || keep == 0 { return line }
            keep = keep * 7 / 8
            trimmed = String(message.prefix(keep)) + "…"
        }
    }

    /// The last report line in a termination message (which may be the whole output, with
    /// `FallbackToLogsOnError`), and that line's text (to read `result` from).
    public static func parse(terminationMessage message: String) -> (report: StepReport, line: String)? {
        for line in message.split(separator: "\n").reversed() where line.hasPrefix("{") {
            if let report = try? JSONDecoder().decode(StepReport.self, from: Data(line.utf8)) { return (report, String(line)) }
        }
        return nil
    }

    /// Writes the report where the kubelet (or KubeSim's pod runner) reads it, when that file can be written.
    public static func write(_ json: String, to path: String?) {
        print(json)
        guard let path, !path.isEmpty else { return }
        let dir = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: path) || FileManager.default.isWritableFile(atPath: dir) else { return }
        try? Data(json.utf8).write(to: URL(fileURLWithPath: path))
    }
}

/// The size of a step's report line, as Kubernetes keeps it (4,096 bytes of the termination message).
public enum ReportSize {
    /// What a report line may take, with room to spare.
    public static let limit = 3_900

    /// The bytes of `StepReport.success(result)`.
    public static func of<R: Encodable>(_ result: R) -> Int { StepReport.success(result).utf8.count }

    /// `s` cut to `n` characters, marked with `…`. Pure.
    public static func cut(_ s: String, _ n: Int) -> String { s.count > n ? String(s.prefix(n - 1)) + "…" : s }
}
