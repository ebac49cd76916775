import Foundation

/// How many copies run at once, by time of day and day of week in a time zone: low in the
/// daytime, higher at night and at weekends (`spec.clickhouse.copy.concurrency`). The operator
/// keeps it in a ConfigMap the copy Job mounts, so an edit reaches a running copy. Pure.
public struct ConcurrencySchedule: Codable, Sendable, Hashable {
    /// One rule: on `days` (none: every day), from `from` to `to` (`HH:MM`, may wrap midnight:
    /// the night belongs to the day it starts), `value` copies at once.
    public struct Rule: Codable, Sendable, Hashable {
        public var days: [String]?
        public var from: String
        public var to: String
        public var value: Int
        public init(days: [String]? = nil, from: String, to: String, value: Int) {
            self.days = days
            self.from = from
            self.to = to
            self.value = value
        }
    }

    /// Outside every rule.
    public var `default`: Int?
    /// IANA zone the rules are read in (default UTC).
    public var timeZone: String?
    /// The first rule that holds wins.
    public var schedule: [Rule]?

    public init(default value: Int? = nil, timeZone: String? = nil, schedule: [Rule]? = nil) {
        self.default = value
        self.timeZone = timeZone
        self.schedule = schedule
    }

    public static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    public static let limits = 1...64

    /// The copies allowed at `date` (`fallback` when there is no default).
    public func value(at date: Date, fallback: Int = 2) -> Int {
        let base = self.default ?? fallback
        guard let tz = TimeZone(identifier: timeZone ?? "UTC") else { return base }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        let c = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        let minute = (c.hour ?? 0) * 60 + (c.minute ?? 0), today = (c.weekday ?? 1) - 1
        for rule in schedule ?? [] {
            guard let from = DailyWindow.minutes(rule.from), let to = DailyWindow.minutes(rule.to) else { continue }
            let on = { (day: Int) in rule.days.map { $0.contains(Self.days[(day + 7) % 7]) } ?? true }
            let holds: Bool
            if from < to {
                holds = on(today) && minute >= from && minute < to
            } else if from == to {
                holds = on(today)
            } else {
                // Wrapping midnight: the evening of a listed day, or the morning after one.
                holds = (on(today) && minute >= from) || (on(today - 1) && minute < to)
            }
            if holds { return rule.value }
        }
        return base
    }

    /// What is wrong with it, field by field (`field` is where it sits in the spec); empty when fine.
    public func problems(field: String) -> [(field: String, message: String)] {
        var out: [(String, String)] = []
        if let d = self.default, !Self.limits.contains(d) { out.append(("\(field).default", "must be between 1 and 64")) }
        if let tz = timeZone, TimeZone(identifier: tz) == nil { out.append(("\(field).timeZone", "\"\(tz)\" is not an IANA time zone, e.g. Europe/Berlin")) }
        for (i, r) in (schedule ?? []).enumerated() {
            let at = "\(field).schedule[\(i)]"
            if DailyWindow.minutes(r.from) == nil { out.append(("\(at).from", "\"\(r.from)\" is not HH:MM")) }
            if DailyWindow.minutes(r.to) == nil { out.append(("\(at).to", "\"\(r.to)\" is not HH:MM")) }
            if !Self.limits.contains(r.value) { out.append(("\(at).value", "must be between 1 and 64")) }
            for d in r.days ?? [] where !Self.days.contains(d) { out.append(("\(at).days", "\"\(d)\" is not one of \(Self.days.joined(separator: ", "))")) }
        }
        return out
    }

    /// Read from the file the operator keeps up to date; nil when missing or unreadable.
    public static func read(_ path: String) -> ConcurrencySchedule? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ConcurrencySchedule.self, from: data)
    }

    /// The file's content (sorted keys, so an unchanged schedule is an unchanged ConfigMap).
    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
