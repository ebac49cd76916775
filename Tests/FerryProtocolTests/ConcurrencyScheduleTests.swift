import FerryProtocol
import Foundation
import Testing

/// Copies at once by time of day (`spec.clickhouse.copy.concurrency`). Pure.
@Suite("ClickHouse concurrency schedule")
struct ConcurrencyScheduleTests {
    /// 2026-12-04 is a Friday.
    func at(_ text: String, _ zone: String = "UTC") -> Date {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: zone)
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.date(from: text)!
    }

    let nightsAndWeekends = ConcurrencySchedule(default: 2, timeZone: "Europe/Berlin", schedule: [
        .init(days: ["Sat", "Sun"], from: "00:00", to: "00:00", value: 8),
        .init(days: ["Mon", "Tue", "Wed", "Thu", "Fri"], from: "20:00", to: "07:00", value: 6),
    ])

    @Test("the default in the daytime; a night rule that wraps midnight holds on the evening of its day and the morning after; weekends all day; read in the schedule's zone")
    func rules() {
        let s = nightsAndWeekends
        #expect(s.value(at: at("2026-12-04 12:00", "Europe/Berlin")) == 2, "Friday noon")
        #expect(s.value(at: at("2026-12-04 20:00", "Europe/Berlin")) == 6, "Friday evening, the rule starts")
        #expect(s.value(at: at("2026-12-04 19:59", "Europe/Berlin")) == 2)
        #expect(s.value(at: at("2026-12-05 03:00", "Europe/Berlin")) == 8, "Saturday: the weekend rule comes first")
        #expect(s.value(at: at("2026-12-07 06:59", "Europe/Berlin")) == 2, "Monday morning: Sunday night has no night rule, and Monday's starts at 20:00")
        #expect(s.value(at: at("2026-12-08 06:59", "Europe/Berlin")) == 6, "Tuesday morning: Monday night's rule")
        #expect(s.value(at: at("2026-12-08 07:00", "Europe/Berlin")) == 2, "it ends at 07:00")
        // 19:30 UTC is 20:30 in Berlin (winter).
        #expect(s.value(at: at("2026-12-04 19:30")) == 6, "the rules are read in the schedule's zone")
        #expect(ConcurrencySchedule().value(at: Date(), fallback: 3) == 3, "no default: the fallback")
        #expect(ConcurrencySchedule(default: 4, timeZone: "Nowhere/City", schedule: [.init(from: "00:00", to: "00:00", value: 9)]).value(at: Date()) == 4, "an unknown zone: the default")
    }

    @Test("problems name the field: the default and values out of 1…64, a zone that is not IANA, times that are not HH:MM, days that are not Sun…Sat")
    func problems() {
        let bad = ConcurrencySchedule(default: 0, timeZone: "Mars/Base", schedule: [.init(days: ["Fri", "Friday"], from: "7", to: "24:00", value: 65)])
        #expect(bad.problems(field: "c").map(\.field) == ["c.default", "c.timeZone", "c.schedule[0].from", "c.schedule[0].to", "c.schedule[0].value", "c.schedule[0].days"])
        #expect(nightsAndWeekends.problems(field: "c").isEmpty)
    }

    @Test("the file the controller writes reads back as the same schedule")
    func file() throws {
        let path = NSTemporaryDirectory() + "schedule-\(UUID().uuidString).json"
        try nightsAndWeekends.json.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(ConcurrencySchedule.read(path) == nightsAndWeekends)
        #expect(ConcurrencySchedule.read(path + ".missing") == nil)
        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(ConcurrencySchedule.read(path) == nil)
    }
}
