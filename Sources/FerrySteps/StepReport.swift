import Foundation

/// How a step Job hands its result to the controller: one JSON object
/// printed as the last stdout line and written to the container's
/// termination message file (`/dev/termination-log` by default), which
/// Kubernetes copies into the pod status; the controller copies it into
/// `status.steps[].result`. Kept under the 4 KiB termination-message limit.
public enum StepReport {
    public static let defaultPath = "/dev/termination-log"

    /// `{"ok":true,"result":{...}}` or `{"ok":false,"error":"..."}`.
    public static func success<R: Encodable>(_ result: R) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(result)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "{\"ok\":true,\"result\":\(body)}"
    }

    /// `retryable: false` tells the controller another attempt cannot help (bad package, bad options).
    /// `changed: false` tells it nothing on the target was dropped or written by this run.
    public static func failure(_ message: String, retryable: Bool = true, changed: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let trimmed = message.count > 3500 ? String(message.prefix(3500)) + "…" : message
        let text = (try? encoder.encode(trimmed)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return "{\"ok\":false,\"error\":\(text),\"retryable\":\(retryable),\"changed\":\(changed)}"
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
