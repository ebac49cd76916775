import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// `status.files` and the Files column, from what the transfer pod reports. Pure.
public enum FileSyncStatus {
    /// From the mover's progress document; `lastProgressAt` moves only when a counter moved.
    public static func running(_ p: MoverProgress, previous: FilesStatus?, now: Date) -> FilesStatus {
        var f = FilesStatus()
        f.filesDone = p.filesDone
        f.filesTotal = p.filesTotal
        f.bytesDone = p.bytesDone
        f.bytesTotal = p.bytesTotal
        f.bytesPerSecond = p.bytesPerSecond
        f.etaSeconds = p.etaSeconds
        f.state = p.state.rawValue
        f.paused = p.state == .paused
        f.lastError = p.errors.last
        let moved = f.filesDone != previous?.filesDone || f.bytesDone != previous?.bytesDone
        f.lastProgressAt = moved || previous?.lastProgressAt == nil ? Timestamps.format(now) : previous?.lastProgressAt
        f.summary = summary(percent: p.percent, rate: p.bytesPerSecond, eta: p.etaSeconds, state: f.state)
        f.journals = p.journals ?? previous?.journals
        return f
    }

    /// When the transfer pod has ended: all done with its totals, or failed with the reason.
    public static func ended(_ outcome: StepOutcome, previous: FilesStatus?) -> FilesStatus {
        var files = previous ?? FilesStatus()
        switch outcome {
        case .succeeded(let result, _):
            let done = result.flatMap { try? $0.decode(as: FileSyncResult.self) }
            files.filesDone = done?.filesTotal ?? files.filesDone
            files.filesTotal = done?.filesTotal ?? files.filesTotal
            files.bytesDone = done?.bytesTotal ?? files.bytesDone
            files.bytesTotal = done?.bytesTotal ?? files.bytesTotal
            files.etaSeconds = 0
            files.state = "done"
            files.paused = false
            files.summary = "100% done"
            files.journals = done?.journals ?? files.journals
        case .failed(let m, _, _):
            files.lastError = String(m.prefix(300))
            files.state = "failed"
        case .running:
            break
        }
        return files
    }

    /// The Files column: `41% 118MiB/s ETA 3m`, or `41% paused`.
    public static func summary(percent: Double, rate: Int64, eta: Int64?, state: String?) -> String {
        let pct = "\(Int(percent.rounded(.down)))%"
        switch state {
        case "paused": return "\(pct) paused"
        case "waitingForWindow": return "\(pct) waiting for window"
        case "verifying": return "\(pct) verifying"
        case "watching": return "100% watching for changes"
        default: break
        }
        let mib = Double(rate) / 1_048_576
        let rateText = mib >= 10 ? "\(Int(mib.rounded()))MiB/s" : String(format: "%.1fMiB/s", mib)
        guard let eta else { return "\(pct) \(rateText)" }
        let etaText = eta >= 3600 ? "\(eta / 3600)h\((eta % 3600) / 60)m" : eta >= 60 ? "\(eta / 60)m" : "\(eta)s"
        return "\(pct) \(rateText) ETA \(etaText)"
    }

    /// The step's message while it runs.
    public static func message(_ f: FilesStatus) -> String {
        "\(f.state ?? "copying"): \(f.filesDone ?? 0)/\(f.filesTotal ?? 0) files, \(f.bytesDone ?? 0)/\(f.bytesTotal ?? 0) bytes"
    }
}
