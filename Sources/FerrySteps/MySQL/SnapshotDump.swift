import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One consistent dump of several databases (`mariadb-dump --databases a b --single-transaction
/// --gtid --master-data=2`: one snapshot, its GTID position in a comment after the data), cut into one
/// plain dump per database, each with the dump's session header and footer, so every database
/// goes through the same checked, parallel restore as a package dump. The cut is byte ranges
/// over the mapped file: a dump of any size is never held in memory. Pure.
enum SnapshotDump {
    struct Split: Equatable {
        /// The source's `gtid_binlog_pos` at the snapshot, e.g. `0-1-42` (several domains comma-separated).
        var gtidPosition: String
        /// The session settings before the first database, and the restoring ones after the last.
        var header: Range<Int>
        var footer: Range<Int>
        /// Database → its own part of the dump.
        var databases: [String: Range<Int>]
    }

    static let marker = Array("\n--\n-- Current Database: `".utf8)
    static let footerStart = Array("\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;".utf8)
    static let gtidLine = Array("\n-- SET GLOBAL gtid_slave_pos='".utf8)
    static let completed = Array("\n-- Dump completed".utf8)

    /// Cuts `bytes`; refuses a dump without its completion line, without a GTID position in its
    /// header, or whose databases are not exactly `expected`.
    static func split(_ bytes: UnsafeRawBufferPointer, expected: [String]) throws -> Split {
        let tail = max(0, bytes.count - 65536)..<bytes.count
        guard find(completed, in: bytes, tail) != nil else {
            throw StepError.target("the source's dump ended without its \"-- Dump completed\" line; nothing was restored")
        }
        guard let first = find(marker, in: bytes, 0..<bytes.count) else {
            throw StepError.target("the source's dump holds no database; nothing was restored")
        }
        var footerAt = bytes.count
        var from = tail.lowerBound
        while let f = find(footerStart, in: bytes, from..<bytes.count) {
            footerAt = f
            from = f + 1
        }
        guard footerAt > first else { throw StepError.target("the source's dump is not in mariadb-dump's --databases shape; nothing was restored") }
        // mariadb-dump writes the position after the data, just before the footer, on a line of
        // its own (a row never holds a raw newline, so no row can pose as it).
        var g: Int?
        from = max(first, footerAt - 4096)
        while let hit = find(gtidLine, in: bytes, from..<footerAt) {
            g = hit
            from = hit + 1
        }
        guard let g, let end = find(Array("'".utf8), in: bytes, (g + gtidLine.count)..<footerAt) else {
            throw StepError.configuration("the source's dump holds no GTID position: is the binary log on (log_bin) on the source? Replication needs it")
        }
        let position = String(decoding: bytes[(g + gtidLine.count)..<end], as: UTF8.self)
        guard !position.isEmpty, position.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ",") }) else {
            throw StepError.configuration("the source's GTID position \"\(position.prefix(80))\" is not domain-server-sequence[,…]; does the source write GTIDs (MariaDB ≥ 10.0)?")
        }
        var parts: [String: Range<Int>] = [:]
        var cursor = first
        while cursor < footerAt {
            let nameStart = cursor + marker.count
            guard let lineEnd = find([UInt8(ascii: "\n")], in: bytes, nameStart..<footerAt) else { break }
            var quoted = String(decoding: bytes[nameStart..<lineEnd], as: UTF8.self)
            guard quoted.hasSuffix("`") else { throw StepError.target("cannot read the database name in the source's dump: `\(quoted.prefix(80))") }
            quoted.removeLast()
            let name = quoted.replacingOccurrences(of: "``", with: "`")
            let next = find(marker, in: bytes, lineEnd..<footerAt) ?? footerAt
            guard parts[name] == nil else { throw StepError.target("the source's dump holds database \(name) twice; nothing was restored") }
            parts[name] = cursor..<next
            cursor = next
        }
        let got = Set(parts.keys), want = Set(expected)
        guard got == want else {
            let missing = want.subtracting(got).sorted(), extra = got.subtracting(want).sorted()
            throw StepError.target("the source's dump holds \(got.sorted().joined(separator: ", ")), not the databases asked for"
                + (missing.isEmpty ? "" : " (missing: \(missing.joined(separator: ", ")))") + (extra.isEmpty ? "" : " (extra: \(extra.joined(separator: ", ")))"))
        }
        return Split(gtidPosition: position, header: 0..<first, footer: footerAt..<bytes.count, databases: parts)
    }

    /// Database `name`'s own dump: the header, its part and the footer.
    static func pieces(_ split: Split, database name: String) -> [Range<Int>] {
        guard let part = split.databases[name] else { return [] }
        return [split.header, part, split.footer]
    }

    /// Where `needle` first starts in `bytes[range]`.
    static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard let base = bytes.baseAddress, !range.isEmpty, needle.count <= range.count else { return nil }
        let first = Int32(needle[0])
        var at = range.lowerBound
        let last = range.upperBound - needle.count
        while at <= last {
            guard let hit = memchr(base + at, first, last - at + 1) else { return nil }
            at = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + at, needle, needle.count) == 0 { return at }
            at += 1
        }
        return nil
    }
}
