import Foundation

/// A daily window (`22:00`–`06:00`, may wrap midnight) in a time zone: the file sync's copy
/// window and the MySQL cutover window.
public struct DailyWindow: Sendable, Equatable {
    public var startMinute: Int
    public var endMinute: Int
    public var timeZone: TimeZone

    /// nil when a time is not `HH:MM` or the time zone is unknown.
    public init?(parsing start: String, end: String, timeZone: String = "UTC") {
        guard let s = Self.minutes(start), let e = Self.minutes(end), let tz = TimeZone(identifier: timeZone) else { return nil }
        startMinute = s
        endMinute = e
        self.timeZone = tz
    }

    /// `HH:MM` as minutes after midnight.
    public static func minutes(_ s: String) -> Int? {
        let parts = s.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    /// Whether `date` falls inside the window (an empty window, start == end, is always open).
    public func contains(_ date: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.hour, .minute], from: date)
        let now = (c.hour ?? 0) * 60 + (c.minute ?? 0)
        if startMinute == endMinute { return true }
        return startMinute < endMinute ? (now >= startMinute && now < endMinute) : (now >= startMinute || now < endMinute)
    }
}
