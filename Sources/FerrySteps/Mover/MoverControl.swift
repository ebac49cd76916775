import FerryProtocol
import Foundation

extension DailyWindow {
    /// Parses the mover's `--window-*` options; a malformed one is refused naming its spec field.
    public init(start: String, end: String, timeZone: String = "UTC") throws {
        for (field, value) in [("start", start), ("end", end)] where DailyWindow.minutes(value) == nil {
            throw StepError.configuration("\(field) \"\(value)\" must be HH:MM (spec.fileSync.window.\(field))")
        }
        guard let window = DailyWindow(parsing: start, end: end, timeZone: timeZone) else {
            throw StepError.configuration("time zone \"\(timeZone)\" is unknown (spec.fileSync.window.timeZone), e.g. Europe/Berlin")
        }
        self = window
    }
}

/// Shared state of one mover run: the pause gate, the bandwidth budget, the
/// window, counters and errors. Workers call ``admit(_:)`` before writing
/// each chunk, so pausing stops writes within one chunk.
public final class MoverControl: @unchecked Sendable {
    private let condition = NSCondition()
    private var paused = false
    private var bandwidth: Int64  // bytes/s, 0 = unlimited
    private var tokens: Double = 0
    private var lastRefill = Date()
    private var window: DailyWindow?
    private var stopReason: String?

    // Counters (under `condition`'s lock).
    private(set) var filesTotal: Int64 = 0
    private(set) var bytesTotal: Int64 = 0
    private(set) var scanComplete = false
    private(set) var filesDone: Int64 = 0
    private(set) var filesCopied: Int64 = 0
    private(set) var bytesDone: Int64 = 0
    private(set) var bytesCopied: Int64 = 0
    /// Files made as reflinks in this pass (counted in filesCopied too).
    private(set) var filesCloned: Int64 = 0
    private(set) var errors: [String] = []
    private(set) var errorCount = 0
    private var phase: MoverState = .scanning
    private var samples: [(Date, Int64)] = []
    let started = Date()

    public init(bandwidth: Int64 = 0, window: DailyWindow? = nil) {
        self.bandwidth = max(0, bandwidth)
        self.window = window
    }

    // MARK: control

    public func pause() { condition.lock(); paused = true; condition.unlock() }
    public func resume() { condition.lock(); paused = false; condition.broadcast(); condition.unlock() }
    public func setBandwidth(_ bytesPerSecond: Int64) {
        condition.lock(); bandwidth = max(0, bytesPerSecond); tokens = 0; lastRefill = Date(); condition.broadcast(); condition.unlock()
    }
    public var isPaused: Bool { condition.lock(); defer { condition.unlock() }; return paused }

    /// Stops every worker at its next chunk (a fatal error such as a full disk).
    func stop(_ reason: String) {
        condition.lock()
        if stopReason == nil { stopReason = reason }
        condition.broadcast()
        condition.unlock()
    }
    var stopped: String? { condition.lock(); defer { condition.unlock() }; return stopReason }

    /// Blocks while paused or outside the window, then until `bytes` fit the bandwidth budget.
    /// Returns false when the run is stopping.
    func admit(_ bytes: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopReason != nil { return false }
            if paused {
                _ = condition.wait(until: Date().addingTimeInterval(0.2))
                continue
            }
            if let w = window, !w.contains(Date()) {
                _ = condition.wait(until: Date().addingTimeInterval(1))
                continue
            }
            guard bandwidth > 0 else { return true }
            let now = Date()
            tokens = min(Double(bandwidth), tokens + now.timeIntervalSince(lastRefill) * Double(bandwidth))
            lastRefill = now
            if tokens >= Double(bytes) || (tokens >= 0 && Double(bytes) > Double(bandwidth)) {
                tokens -= Double(bytes)
                return true
            }
            let wait = (Double(bytes) - tokens) / Double(bandwidth)
            _ = condition.wait(until: now.addingTimeInterval(min(wait, 0.2)))
        }
    }

    // MARK: counters

    func setPhase(_ p: MoverState) { condition.lock(); phase = p; condition.unlock() }
    func scanned(files: Int64, bytes: Int64) { condition.lock(); filesTotal += files; bytesTotal += bytes; condition.unlock() }
    func scanFinished() { condition.lock(); scanComplete = true; condition.unlock() }
    func fileDone(bytes: Int64, copied: Bool) {
        condition.lock()
        filesDone += 1
        bytesDone += bytes
        if copied { filesCopied += 1 }
        condition.unlock()
    }
    func wrote(_ bytes: Int64) { condition.lock(); bytesCopied += bytes; condition.unlock() }
    /// Files moved by rename (a folder: everything under it at once).
    func moved(files: Int64, bytes: Int64) {
        condition.lock()
        (filesDone, filesCopied, bytesDone, bytesCopied) = (filesDone + files, filesCopied + files, bytesDone + bytes, bytesCopied + bytes)
        condition.unlock()
    }
    func cloned() { condition.lock(); filesCloned += 1; condition.unlock() }
    var clonedFiles: Int64 { condition.lock(); defer { condition.unlock() }; return filesCloned }
    func error(_ message: String) {
        condition.lock()
        errorCount += 1
        if errors.count < 100 { errors.append(message) }
        condition.unlock()
    }


    private var finalRequested = false
    private var journalReports: [JournalReport]?
    private var firstPass: FileSyncResult?
    func setFirstPass(_ r: FileSyncResult) { condition.lock(); firstPass = r; condition.unlock() }

    /// POST /final: the watching mover may run its final pass.
    public func requestFinal() { condition.lock(); finalRequested = true; condition.broadcast(); condition.unlock() }
    /// Blocks until ``requestFinal()``.
    func waitForFinal() {
        condition.lock()
        while !finalRequested { condition.wait() }
        condition.unlock()
    }
    /// Counters back to zero for another pass (the final pass after the watch).
    func startPass() {
        condition.lock()
        (filesTotal, bytesTotal, filesDone, filesCopied, bytesDone, bytesCopied, scanComplete, filesCloned) = (0, 0, 0, 0, 0, 0, false, 0)
        samples.removeAll()
        condition.unlock()
    }
    func setJournals(_ reports: [JournalReport]) { condition.lock(); journalReports = reports; condition.unlock() }

    public func progress() -> MoverProgress {
        condition.lock()
        defer { condition.unlock() }
        let now = Date()
        samples.append((now, bytesDone))
        samples.removeAll { now.timeIntervalSince($0.0) > 10 }
        var rate: Int64 = 0
        if let first = samples.first, now.timeIntervalSince(first.0) > 0.5 {
            rate = Int64(Double(bytesDone - first.1) / now.timeIntervalSince(first.0))
        } else if now.timeIntervalSince(started) > 0.2 {
            rate = Int64(Double(bytesDone) / now.timeIntervalSince(started))
        }
        var state = phase
        if state == .copying || state == .scanning {
            if paused { state = .paused } else if let w = window, !w.contains(now) { state = .waitingForWindow }
        }
        let left = max(0, bytesTotal - bytesDone)
        let percent = bytesTotal > 0 ? (Double(bytesDone) / Double(bytesTotal) * 1000).rounded() / 10 : (scanComplete ? 100 : 0)
        return MoverProgress(
            state: state, filesDone: filesDone, filesTotal: filesTotal, filesCopied: filesCopied, bytesDone: bytesDone, bytesTotal: bytesTotal,
            bytesCopied: bytesCopied, totalsFinal: scanComplete, bytesPerSecond: rate,
            etaSeconds: rate > 0 && scanComplete ? left / rate : nil, percent: min(100, percent), bandwidth: bandwidth,
            errorCount: errorCount, errors: errors, seconds: (now.timeIntervalSince(started) * 100).rounded() / 100, journals: journalReports, firstPass: firstPass)
    }
}
