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

    /// Cut over only when asked, with replication running, no error, the tables compared equal
    /// (when `verify`), and the lag within `maxLag`.
    public static func decide(_ state: ReplicationState?, requested: String?, maxLag: Int, verify: Bool = false) -> Decision {
        guard let state, state.observedAt != nil else { return .wait("waiting for the first look at replication") }
        let lag = state.summary ?? ""
        if let error = state.lastError {
            return .wait("\(lag): replication is broken (\(error)); the cutover waits until it is fixed, or re-run the snapshot (\(FerryNames.rerunAnnotation)=mysql-snapshot)")
        }
        if verify, let why = unverified(state.verification) {
            return .wait("\(lag); \(why)\(requested.map { "; cutover asked for (\($0)) waits for it" } ?? "")")
        }
        guard let requested else {
            return .wait("\(lag); annotate \(FerryNames.cutoverAnnotation)=now (or set spec.mysql.cutover.window) to cut over")
        }
        guard let seconds = state.lagSeconds, seconds <= Int64(maxLag) else {
            return .wait("\(lag); cutover asked for (\(requested)), waiting for the lag to come under \(maxLag) s (spec.mysql.cutover.maxLagSeconds)")
        }
        return .cutover("lag \(seconds)s ≤ \(maxLag) s\(verify ? ", \(state.verification?.short ?? "verified")" : "") and \(requested): cutting over")
    }

    /// Why the comparison does not let a cutover through yet; nil when every table compared equal.
    static func unverified(_ v: ReplicationVerification?) -> String? {
        guard let v else { return "waiting for the tables to be compared (verify while running)" }
        switch v.state {
        case .verified:
            return nil
        case .waiting:
            return "waiting for replication to keep up before the tables are compared"
        case .verifying:
            return "comparing the tables: \(v.checked)/\(v.tables) done\(v.current.map { ", now \($0)" } ?? "")\(v.lastError.map { " (last try: \($0))" } ?? "")"
        case .mismatch:
            let first = v.mismatches.first.map(\.text) ?? "?"
            return "\(v.short): \(first)\(v.mismatches.count > 1 ? " and \(v.mismatches.count - 1) more" : ""); the cutover is refused until they compare equal "
                + "(they are compared again on the next pass): fix the rows on the target, or copy again (\(FerryNames.rerunAnnotation)=mysql-snapshot); or set spec.mysql.verify: false"
        }
    }

    /// `status.mysql` from a look at replication; the apply rate from the previous look.
    public static func state(_ s: ReplicationStatus, previous: ReplicationState?, now: Date) -> ReplicationState {
        var r = ReplicationState()
        r.lagSeconds = s.secondsBehind.map(Int64.init)
        r.transactionsBehind = s.transactionsBehind >= 0 ? s.transactionsBehind : nil
        r.sourcePosition = s.sourcePosition
        r.appliedPosition = s.appliedPosition
        // Threads the monitor stopped to compare a table are not broken.
        r.lastError = s.lastError ?? ((!s.ioRunning || !s.sqlRunning) && s.pausedToVerify != true ? "replication is not running (IO \(s.ioRunning ? "running" : "stopped"), SQL \(s.sqlRunning ? "running" : "stopped"))" : nil)
        r.observedAt = Timestamps.format(now)
        r.verification = s.verification
        if let before = previous?.appliedPosition, let at = previous?.observedAt.flatMap(Timestamps.parse), now.timeIntervalSince(at) > 0,
           let applied = GTIDPosition(s.appliedPosition), let earlier = GTIDPosition(before), earlier.transactionsAhead(of: applied) == 0 {
            r.applyRate = (Double(applied.transactionsAhead(of: earlier)) / now.timeIntervalSince(at) * 10).rounded() / 10
        }
        r.summary = r.lastError != nil ? "broken" : "lag \(r.lagSeconds.map { "\($0)s" } ?? "?")" + (s.verification.map { ", \($0.short)" } ?? "")
        return r
    }
}
