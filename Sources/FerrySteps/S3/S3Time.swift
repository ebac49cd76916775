import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The three time formats S3 speaks, without a formatter per call (a listing of a million keys
/// parses a million dates; a mover signs a request per file). Pure.
enum S3Time {
    /// `20261201T052600Z`, SigV4's stamp.
    static func stamp(_ date: Date) -> String {
        let p = parts(date)
        return pad(Int(p.tm_year) + 1900, 4) + pad(Int(p.tm_mon) + 1, 2) + pad(Int(p.tm_mday), 2) + "T" + pad(Int(p.tm_hour), 2) + pad(Int(p.tm_min), 2) + pad(Int(p.tm_sec), 2) + "Z"
    }

    /// A SigV4 stamp read back (`x-amz-date`); nil when it is not one.
    static func fromStamp(_ s: String) -> Date? {
        let u = Array(s.utf8)
        guard u.count == 16, u[8] == UInt8(ascii: "T"), u[15] == UInt8(ascii: "Z") else { return nil }
        // The same fields, rewritten as ISO 8601.
        let d = { (a: Int, b: Int) in String(decoding: u[a..<b], as: UTF8.self) }
        return iso("\(d(0, 4))-\(d(4, 6))-\(d(6, 8))T\(d(9, 11)):\(d(11, 13)):\(d(13, 15))Z")
    }

    /// `2026-12-01T05:26:00.123Z`, as a listing shows LastModified.
    static func isoString(_ date: Date) -> String {
        let p = parts(date)
        let millis = Int(((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1000).rounded(.down))
        return pad(Int(p.tm_year) + 1900, 4) + "-" + pad(Int(p.tm_mon) + 1, 2) + "-" + pad(Int(p.tm_mday), 2) + "T" + pad(Int(p.tm_hour), 2) + ":"
            + pad(Int(p.tm_min), 2) + ":" + pad(Int(p.tm_sec), 2) + "." + pad(millis, 3) + "Z"
    }

    /// `Tue, 01 Dec 2026 05:26:00 GMT`, HTTP's date (Last-Modified).
    static func http(_ date: Date) -> String {
        let p = parts(date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(days[Int(p.tm_wday)]), \(pad(Int(p.tm_mday), 2)) \(months[Int(p.tm_mon)]) \(pad(Int(p.tm_year) + 1900, 4)) \(pad(Int(p.tm_hour), 2)):\(pad(Int(p.tm_min), 2)):\(pad(Int(p.tm_sec), 2)) GMT"
    }

    static func parts(_ date: Date) -> tm {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return parts
    }

    /// `n` in `width` digits, zeros in front (n ≥ 0).
    static func pad(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// `2026-12-01T05:26:00.123Z` (fractions optional, `Z` or `+00:00`), a listing's LastModified; nil when it is not that.
    static func iso(_ s: String) -> Date? {
        let u = Array(s.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= u.count else { return nil }
            var n = 0
            for b in u[from..<from + count] {
                guard b >= 48 && b <= 57 else { return nil }
                n = n * 10 + Int(b - 48)
            }
            return n
        }
        guard u.count >= 20, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58,
              let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < u.count, u[i] == 46 {
            i += 1
            var scale = 0.1
            while i < u.count, u[i] >= 48 && u[i] <= 57 {
                fraction += Double(u[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        guard i < u.count, u[i] == 90 || (u.count - i == 6 && (u[i] == 43 || u[i] == 45) && num(i + 1, 2) == 0 && num(i + 4, 2) == 0) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)) + fraction)
    }
}
