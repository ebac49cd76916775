import Foundation

/// Names in `spec.clickhouse.copy` that the spec's validation and the copy Job read alike. Pure.
public enum ClickHouseNames {
    /// Engines copied partition by partition (and rewritten to their Replicated forms).
    public static let mergeTrees: Set<String> = ["MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree", "CollapsingMergeTree",
                                                 "VersionedCollapsingMergeTree", "GraphiteMergeTree"]

    public static func isIdentifier(_ s: some StringProtocol) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } }

    /// `db.table` or `db.prefix*` as (database, table or pattern); nil when neither.
    public static func tablePattern(_ s: String) -> (database: String, table: String)? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, isIdentifier(parts[0]) else { return nil }
        let t = parts[1]
        if t.contains("*") {
            guard t.hasSuffix("*"), t.filter({ $0 == "*" }).count == 1, t.dropLast().allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { return nil }
        } else if !isIdentifier(t) {
            return nil
        }
        return (String(parts[0]), String(t))
    }

    /// Whether `table` matches the table part of a pattern (`*` a suffix wildcard).
    public static func matches(_ pattern: String, _ table: String) -> Bool {
        pattern.hasSuffix("*") ? table.hasPrefix(pattern.dropLast()) : table == pattern
    }

    /// `count` → [], `distinct` → [] (the sorting key), `distinct(a, b)` → [a, b]; nil when neither.
    public static func verifyColumns(_ s: String) -> [String]? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t == "count" || t == "distinct" { return [] }
        guard t.hasPrefix("distinct("), t.hasSuffix(")") else { return nil }
        let cols = t.dropFirst("distinct(".count).dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return !cols.isEmpty && cols.allSatisfy(isIdentifier) ? cols : nil
    }
}
