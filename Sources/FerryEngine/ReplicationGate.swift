import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// MySQL in mode replicate: when the replication step may end so the cutover runs, and what
/// `status.mysql` says. Pure.
public enum ReplicationGate {
    public enum Decision: Equatable, Sendable {
        /// Keep replicating; the reason is the step's message.
        case wait(String)
        case cutover(String)
    }

    /// Whether a cutover is asked for: `ferry.dev/cutover=now`, or now inside `spec.mysql.cutover.window`.
    public static func requested(annotation: String?, window: DailyWindowSpec?, now: Date) -> String? {
        if annotation?.trimmingCharacters(in: .whitespaces).lowercased() == "now" { return "\(FerryNames.cutoverAnnotation)=now" }
        if let w = window, DailyWindow(parsing: w.start, end: w.end, timeZone: w.timeZone ?? MigrationDefaults.windowTimeZone)?.contains(now) == true { return "inside the cutover window \(w.start)–\(w.end) \(w.timeZone ?? MigrationDefaults.windowTimeZone)" }
        return nil
    }

    /// Cut over only when asked, with replication running, no error, and the lag within `maxLag`.
    public static func decide(_ state: ReplicationState?, requested: String?, maxLag: Int) -> Decision {
        guard let state, state.observedAt != nil else { return .wait("waiting for the first look at replication") }
        let lag = state.summary ?? ""
        if let error = state.lastError {
            return .wait("\(lag): replication is broken (\(error)); the cutover waits until it is fixed, or re-run the snapshot (\(FerryNames.rerunAnnotation)=mysql-snapshot)")
        }
        guard let requested else {
            return .wait("\(lag); annotate \(FerryNames.cutoverAnnotation)=now (or set spec.mysql.cutover.window) to cut over")
        }
        guard let seconds = state.lagSeconds, seconds <= Int64(maxLag) else {
            return .wait("\(lag); cutover asked for (\(requested)), waiting for the lag to come under \(maxLag) s (spec.mysql.cutover.maxLagSeconds)")
        }
        return .cutover("\(lag) ≤ \(maxLag) s and \(requested): cutting over")
    }

    /// `status.mysql` from a look at replication; the apply rate from the previous look.
    public static func state(_ s: ReplicationStatus, previous: ReplicationState?, now: Date) -> ReplicationState {
        var r = ReplicationState()
        r.lagSeconds = s.secondsBehind.map(Int64.init)
        r.transactionsBehind = s.transactionsBehind >= 0 ? s.transactionsBehind : nil
        r.sourcePosition = s.sourcePosition
        r.appliedPosition = s.appliedPosition
        r.lastError = s.lastError ?? ((!s.ioRunning || !s.sqlRunning) ? "replication is not running (IO \(s.ioRunning ? "running" : "stopped"), SQL \(s.sqlRunning ? "running" : "stopped"))" : nil)
        r.observedAt = Timestamps.format(now)
        if let before = previous?.appliedPosition, let at = previous?.observedAt.flatMap(Timestamps.parse), now.timeIntervalSince(at) > 0,
           let applied = GTIDPosition(s.appliedPosition), let earlier = GTIDPosition(before), earlier.transactionsAhead(of: applied) == 0 {
            r.applyRate = (Double(applied.transactionsAhead(of: earlier)) / now.timeIntervalSince(at) * 10).rounded() / 10
        }
        r.summary = r.lastError != nil ? "broken" : "lag \(r.lagSeconds.map { "\($0)s" } ?? "?")"
        return r
    }
}
