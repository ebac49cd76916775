import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient

/// `kubectl ferry status NAME`: one report of a Migration, as `kubectl cnpg status` gives of a
/// cluster. Built from the Migration and its events only (pure), printed as text or JSON.
public struct StatusReport: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var state: String
        public var attempts: Int
        public var started: String?
        public var seconds: Double?
        /// What it moved: `1200000 rows, 21 tables, 131.2 MiB`.
        public var moved: String?
        /// `241000 rows/s`, `118.0 MiB/s`.
        public var rate: String?
        public var message: String?
    }

    public struct Event: Codable, Sendable, Equatable {
        public var time: String
        public var type: String
        public var reason: String
        public var note: String
    }

    public var namespace: String
    public var name: String
    public var phase: String
    public var step: String?
    public var progress: String?
    public var message: String?
    public var conditions: [String]
    public var steps: [Step]
    /// Seconds the application has been down (so far, or in all once it is back).
    public var downtimeSeconds: Double?
    public var downtimeOngoing: Bool
    /// The file sync: `41% 118MiB/s ETA 3m`, `paused`, `outside its window`.
    public var files: String?
    /// Replication, once a replicated mode runs: `lag 0s, verified`.
    public var replication: String?
    public var events: [Event]
    /// What to do next, as a command where there is one.
    public var next: String

    /// The report of `migration` at `now`, with its `events` (newest last).
    public static func of(_ migration: Migration, events: [Event], now: Date) -> StatusReport {
        let status = migration.status ?? MigrationStatus()
        let name = migration.metadata.name ?? ""
        let steps = (status.steps ?? []).map { s in
            let started = s.startedAt.flatMap(Timestamps.parse)
            let ended = s.state == .running ? now : s.finishedAt.flatMap(Timestamps.parse)
            let moved = Moved.of(s.result)
            return Step(name: s.name, state: s.state.rawValue, attempts: s.attempts ?? 0, started: s.startedAt,
                        seconds: started.flatMap { a in ended.map { max(0, $0.timeIntervalSince(a)) } }, moved: moved.moved, rate: moved.rate,
                        message: s.state == .succeeded ? nil : s.message)
        }
        var downtime = status.downtime?.seconds
        let ongoing = status.downtime?.from != nil && status.downtime?.to == nil
        if ongoing, let from = status.downtime?.from.flatMap(Timestamps.parse) { downtime = max(0, now.timeIntervalSince(from)) }
        let conditions = (status.conditions ?? []).map { "\($0.type)=\($0.status) (\($0.reason))" }
        return StatusReport(namespace: migration.metadata.namespace ?? "default", name: name, phase: status.phase?.rawValue ?? "Pending", step: status.step,
                            progress: status.progress, message: status.message, conditions: conditions, steps: steps, downtimeSeconds: downtime, downtimeOngoing: ongoing,
                            files: status.files?.summary, replication: status.mysql?.summary, events: Array(events.suffix(5)),
                            next: NextStep.hint(migration))
    }

    // MARK: - text

    /// The report as a person reads it; ANSI colour when `color`.
    public func text(color: Bool) -> String {
        let paint = Paint(on: color)
        var out = "\(paint.bold("Migration \(namespace)/\(name)")): \(paint.phase(phase))"
        if let step { out += "  step \(step)" }
        if let progress { out += "  (\(progress))" }
        out += "\n"
        if let message, !message.isEmpty { out += "  \(message)\n" }
        if !conditions.isEmpty { out += "  \(conditions.joined(separator: "  "))\n" }
        out += "\n"
        let header = ["STEP", "STATE", "ATTEMPTS", "STARTED", "DURATION", "MOVED", "RATE"]
        let rows = steps.map { s in
            [s.name, s.state, "\(s.attempts)", s.started.map(Self.clock) ?? "-", s.seconds.map(Self.duration) ?? "-", s.moved ?? "-", s.rate ?? "-"]
        }
        out += Self.table([header] + rows) { row, column, cell in row == 0 ? paint.dim(cell) : column == 1 ? paint.state(cell) : cell }
        out += "\n"
        if let downtimeSeconds { out += "Downtime: \(Self.duration(downtimeSeconds))\(downtimeOngoing ? " so far" : "")\n" }
        if let files { out += "Files: \(files)\n" }
        if let replication { out += "Replication: \(replication)\n" }
        let failing = steps.filter { $0.state == "Failed" || ($0.state == "Pending" && $0.message != nil && $0.attempts > 0) }
        for s in failing { out += "\(paint.warn(s.name)): \(s.message ?? "")\n" }
        if !events.isEmpty {
            out += "Events:\n"
            for e in events { out += "  \(Self.clock(e.time))  \(e.type == "Warning" ? paint.warn(e.type) : e.type)  \(e.reason)  \(e.note)\n" }
        }
        out += "\(paint.bold("Next")): \(next)\n"
        return out
    }

    /// Columns padded to their widest cell (measured before colour is added).
    static func table(_ rows: [[String]], style: (Int, Int, String) -> String) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.enumerated().map { r, row in
            row.enumerated().map { c, cell in
                let padded = c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
                return style(r, c, padded)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// `10:04:31` from a timestamp (UTC, as status holds it).
    static func clock(_ stamp: String) -> String {
        guard let t = stamp.firstIndex(of: "T") else { return stamp }
        return String(stamp[stamp.index(after: t)...].prefix(8))
    }

    /// `4.2s`, `3m12s`, `2h05m`.
    public static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.1fs", s) }
        let n = Int(s.rounded())
        if n < 3600 { return "\(n / 60)m\(String(format: "%02d", n % 60))s" }
        return "\(n / 3600)h\(String(format: "%02d", (n % 3600) / 60))m"
    }
}

/// ANSI colour, or nothing.
struct Paint {
    var on: Bool
    func wrap(_ s: String, _ code: String) -> String { on ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    func bold(_ s: String) -> String { wrap(s, "1") }
    func dim(_ s: String) -> String { wrap(s, "2") }
    func warn(_ s: String) -> String { wrap(s, "33") }
    func phase(_ p: String) -> String {
        switch p {
        case "Succeeded": return wrap(p, "32")
        case "Failed": return wrap(p, "31")
        case "Cancelled", "Paused": return wrap(p, "33")
        default: return wrap(p, "36")
        }
    }
    func state(_ s: String) -> String {
        switch s.trimmingCharacters(in: .whitespaces) {
        case "Succeeded": return wrap(s, "32")
        case "Failed": return wrap(s, "31")
        case "Running": return wrap(s, "36")
        default: return s
        }
    }
}

/// What a step moved and how fast, read from its result whatever its kind. Pure.
enum Moved {
    static func of(_ result: JSONValue?) -> (moved: String?, rate: String?) {
        guard let r = result else { return (nil, nil) }
        func int(_ k: String) -> Int64? {
            switch r[k] {
            case .int(let n)?: return n
            case .double(let d)?: return Int64(d)
            default: return nil
            }
        }
        var parts: [String] = []
        if let rows = int("rows") { parts.append("\(rows) rows") }
        if let tables = int("tables") { parts.append("\(tables) tables") } else if case .array(let a)? = r["tables"] { parts.append("\(a.count) tables") }
        if let partitions = int("partitions"), partitions > 0 { parts.append("\(partitions) partitions") }
        if let files = int("filesTotal") { parts.append("\(files) files (\(int("filesCopied") ?? 0) copied)") }
        if let bytes = int("bytesCopied") ?? int("bytes") { parts.append(bytesText(bytes)) }
        if let groups = int("groups") { parts.append("\(groups) groups") }
        var rate: String?
        if let rps = int("rowsPerSecond"), rps > 0 { rate = "\(rps) rows/s" } else if let bps = int("bytesPerSecond"), bps > 0 { rate = bytesText(bps) + "/s" }
        return (parts.isEmpty ? nil : parts.joined(separator: ", "), rate)
    }

    static func bytesText(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), u = 0
        while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[u]
    }
}
