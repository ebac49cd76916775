import Foundation

/// One consistent dump of several databases (`mariadb-dump --databases a b --single-transaction
/// --gtid --master-data=2`: one snapshot, its GTID position in a comment), cut into one plain
/// dump per database, each with the dump's session header and footer, so every database goes
/// through the same checked, parallel restore as a package dump. Pure.
enum SnapshotDump {
    struct Split: Equatable {
        /// The source's `gtid_binlog_pos` at the snapshot, e.g. `0-1-42` (several domains comma-separated).
        var gtidPosition: String
        /// Database → its own dump text.
        var databases: [String: String]
    }

    static let marker = "\n--\n-- Current Database: `"
    static let footerStart = "\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;"
    static let gtidLine = "-- SET GLOBAL gtid_slave_pos='"

    /// Cuts `text`; refuses a dump without its completion line, without a GTID position, or whose
    /// databases are not exactly `expected`.
    static func split(_ text: String, expected: [String]) throws -> Split {
        guard text.contains("\n-- Dump completed") else {
            throw StepError.target("the source's dump ended without its \"-- Dump completed\" line; nothing was restored")
        }
        guard let g = text.range(of: gtidLine), let end = text[g.upperBound...].firstIndex(of: "'") else {
            throw StepError.configuration("the source's dump holds no GTID position: is the binary log on (log_bin) on the source? Replication needs it")
        }
        let position = String(text[g.upperBound..<end])
        guard !position.isEmpty, position.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "," }) else {
            throw StepError.configuration("the source's GTID position \"\(position)\" is not domain-server-sequence[,…]; does the source write GTIDs (MariaDB ≥ 10.0)?")
        }
        guard let first = text.range(of: marker) else {
            throw StepError.target("the source's dump holds no database; nothing was restored")
        }
        let footerAt = text.range(of: footerStart, options: .backwards)?.lowerBound ?? text.endIndex
        guard footerAt > first.lowerBound else { throw StepError.target("the source's dump is not in mariadb-dump's --databases shape; nothing was restored") }
        let header = String(text[..<first.lowerBound]) + "\n"
        let footer = String(text[footerAt...])
        var parts: [String: String] = [:]
        var cursor = first.lowerBound
        while cursor < footerAt {
            let nameStart = text.index(cursor, offsetBy: marker.count)
            guard let lineEnd = text[nameStart...].firstIndex(of: "\n") else { break }
            var quoted = String(text[nameStart..<lineEnd])
            guard quoted.hasSuffix("`") else { throw StepError.target("cannot read the database name in the source's dump: `\(quoted.prefix(80))") }
            quoted.removeLast()
            let name = quoted.replacingOccurrences(of: "``", with: "`")
            let next = text.range(of: marker, range: lineEnd..<footerAt)?.lowerBound ?? footerAt
            guard parts[name] == nil else { throw StepError.target("the source's dump holds database \(name) twice; nothing was restored") }
            parts[name] = header + String(text[cursor..<next]) + footer
            cursor = next
        }
        let got = Set(parts.keys), want = Set(expected)
        guard got == want else {
            let missing = want.subtracting(got).sorted(), extra = got.subtracting(want).sorted()
            throw StepError.target("the source's dump holds \(got.sorted().joined(separator: ", ")), not the databases asked for"
                + (missing.isEmpty ? "" : " (missing: \(missing.joined(separator: ", ")))") + (extra.isEmpty ? "" : " (extra: \(extra.joined(separator: ", ")))"))
        }
        return Split(gtidPosition: position, databases: parts)
    }
}
