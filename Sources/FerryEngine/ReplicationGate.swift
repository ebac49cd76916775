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
        if let w = window, contains(w, now) { return "inside the cutover window \(w.start)–\(w.end) \(w.timeZone ?? MigrationDefaults.windowTimeZone)" }
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
           let applied = sequence(s.appliedPosition), let earlier = sequence(before), applied >= earlier {
            r.applyRate = (Double(applied - earlier) / now.timeIntervalSince(at) * 10).rounded() / 10
        }
        r.summary = r.lastError != nil ? "broken" : "lag \(r.lagSeconds.map { "\($0)s" } ?? "?")"
        return r
    }

    /// The sum of the sequence numbers of a position (it grows by one per transaction applied).
    static func sequence(_ position: String) -> Int64? {
        var sum: Int64 = 0
        for part in position.split(separator: ",") {
            let f = part.split(separator: "-")
            guard f.count == 3, let n = Int64(f[2]) else { return nil }
            sum += n
        }
        return sum
    }

    static func contains(_ w: DailyWindowSpec, _ date: Date) -> Bool {
        func minutes(_ s: String) -> Int? {
            let p = s.split(separator: ":")
            guard p.count == 2, let h = Int(p[0]), let m = Int(p[1]) else { return nil }
            return h * 60 + m
        }
        guard let start = minutes(w.start), let end = minutes(w.end), let tz = TimeZone(identifier: w.timeZone ?? MigrationDefaults.windowTimeZone) else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        let c = calendar.dateComponents([.hour, .minute], from: date)
        let now = (c.hour ?? 0) * 60 + (c.minute ?? 0)
        if start == end { return true }
        return start < end ? (now >= start && now < end) : (now >= start || now < end)
    }
}
