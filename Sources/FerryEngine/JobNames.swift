/// The names of step Jobs: stamped into `status.steps[].job` when a run starts, so a restarted
/// controller finds the Job it made.
public enum JobNames {
    /// `<migration>-<step>-<hash>-<attempt>` as a DNS label (≤ 63 characters). The hash is of
    /// the migration and the full step name, so steps whose slugs agree (`crm_a`, `crm-a`) or
    /// whose names share a long prefix never share a Job.
    public static func name(migration: String, step: String, attempt: Int) -> String {
        let hash = stepHash(migration: migration, step: step)
        let suffix = "-\(hash)-\(attempt)"
        var base = String("\(migration)-\(slug(step))".prefix(63 - suffix.count))
        while base.hasSuffix("-") { base.removeLast() }
        return base + suffix
    }

    /// 10 hex digits of FNV-1a (64 bit) over `migration NUL step`.
    static func stepHash(migration: String, step: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Array(migration.utf8) + [0] + Array(step.utf8) { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h >> 24, radix: 16)
        return String(repeating: "0", count: max(0, 10 - hex.count)) + hex
    }

    /// A step name as a label value: `mysql/project` → `mysql-project` (not unique: the
    /// full name is in ``stepNameAnnotation``).
    public static func slug(_ step: String) -> String {
        var s = String(step.lowercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "-" }.prefix(63))
        while s.hasSuffix("-") { s.removeLast() }
        while s.hasPrefix("-") { s.removeFirst() }
        return s
    }
}
