import Foundation

/// The SQL that compares one table on two servers in primary-key chunks, as VDiff and
/// pt-table-checksum do: each chunk's row count and a 128-bit XOR of its rows' MD5s, over the
/// same key ranges on both sides. Pure.
struct TableChecksum: Equatable {
    struct Column: Equatable {
        var name: String
        /// information_schema `DATA_TYPE` (`int`, `varchar`, …).
        var type: String
        var charset: String?
        var collation: String?
    }

    var database: String
    var table: String
    var columns: [Column]
    /// The primary key's columns in key order (empty: no primary key).
    var key: [Column]

    var qualified: String { MySQLClient.quoteIdentifier(database) + "." + MySQLClient.quoteIdentifier(table) }
    var name: String { "\(database).\(table)" }

    enum KeyKind { case number, text, binary, temporal, address }

    /// How a key column's values travel as SQL literals; nil: not a type chunks can be cut by.
    static func kind(_ type: String) -> KeyKind? {
        switch type.lowercased() {
        case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric": .number
        case "char", "varchar", "tinytext", "text", "mediumtext", "longtext": .text
        case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob": .binary
        case "date", "datetime", "timestamp", "time", "year": .temporal
        case "uuid", "inet4", "inet6": .address
        default: nil
        }
    }

    /// Chunks are cut by the primary key when it has one and every key column is of a type above.
    var chunkable: Bool { !key.isEmpty && key.allSatisfy { Self.kind($0.type) != nil } }

    /// The key `every` rows after `from` (inclusive; nil: the table's start) in key order, each
    /// column as its literal's raw text (hex for strings); no row: the last chunk runs to the end.
    /// One index range read per chunk (keyset), not a scan of the whole table at once.
    func nextBoundaryQuery(from: [String]?, every: Int) -> String {
        let keyList = key.map { MySQLClient.quoteIdentifier($0.name) }.joined(separator: ", ")
        let selected = key.map { c -> String in
            let q = MySQLClient.quoteIdentifier(c.name)
            switch Self.kind(c.type) {
            case .text?, .binary?: return "HEX(\(q))"
            default: return q
            }
        }.joined(separator: ", ")
        let start = from.map { " WHERE " + compare($0, .atLeast) } ?? ""
        return "SELECT \(selected) FROM \(qualified)\(start) ORDER BY \(keyList) LIMIT 1 OFFSET \(from == nil ? max(0, every - 1) : every)"
    }

    /// A key value (one field per key column, as `nextBoundaryQuery` prints them) as SQL literals;
    /// nil when a field is not what its type prints (a server's answer is checked, not trusted).
    func literals(_ fields: [String]) -> [String]? {
        guard fields.count == key.count else { return nil }
        var out: [String] = []
        for (c, f) in zip(key, fields) {
            switch Self.kind(c.type) {
            case .number?:
                guard !f.isEmpty, f.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") }) else { return nil }
                out.append(f)
            case .binary?:
                guard f.allSatisfy(\.isHexDigit) else { return nil }
                out.append("X'\(f)'")
            case .text?:
                guard f.allSatisfy(\.isHexDigit), let cs = c.charset, let co = c.collation, Self.isName(cs), Self.isName(co) else { return nil }
                out.append("CONVERT(X'\(f)' USING \(cs)) COLLATE \(co)")
            case .temporal?:
                guard f.allSatisfy({ $0.isASCII && ($0.isNumber || " -:.".contains($0)) }) else { return nil }
                out.append("'\(f)'")
            case .address?:
                guard !f.isEmpty, f.allSatisfy({ $0.isASCII && ($0.isHexDigit || ":.-".contains($0)) }) else { return nil }
                out.append("'\(f)'")
            case nil:
                return nil
            }
        }
        return out
    }

    static func isName(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } }

    enum Bound { case atLeast, below }

    /// `key >= b` or `key < b`, lexicographic over the key columns.
    func compare(_ b: [String], _ bound: Bound) -> String {
        let cols = key.map { MySQLClient.quoteIdentifier($0.name) }
        var terms: [String] = []
        for i in cols.indices {
            let equal = (0..<i).map { "\(cols[$0]) = \(b[$0])" }
            let last = i == cols.count - 1
            let op = bound == .below ? "<" : (last ? ">=" : ">")
            terms.append("(" + (equal + ["\(cols[i]) \(op) \(b[i])"]).joined(separator: " AND ") + ")")
        }
        return "(" + terms.joined(separator: " OR ") + ")"
    }

    /// The WHERE of the chunk from `lower` (inclusive; nil: the start) to `upper` (exclusive; nil: the end).
    func range(lower: [String]?, upper: [String]?) -> String {
        let parts = [lower.map { compare($0, .atLeast) }, upper.map { compare($0, .below) }].compactMap { $0 }
        return parts.isEmpty ? "1=1" : parts.joined(separator: " AND ")
    }

    /// One row: the chunk's row count, the XOR of its rows' MD5s in two 64-bit halves, and a sum
    /// of their first 32 bits (identical rows in a table without a key cancel out in a XOR).
    func checksumQuery(where condition: String) -> String {
        let cols = columns.map { MySQLClient.quoteIdentifier($0.name) }
        // Each value after its length, so ('x#', 'y') and ('x', '#y') differ; CONCAT_WS skips
        // NULLs: the ISNULL flags keep NULL apart from an empty value.
        let nulls = "CONCAT(" + cols.map { "ISNULL(\($0))" }.joined(separator: ", ") + ")"
        let row = "MD5(CONCAT_WS('#', \((cols.flatMap { ["LENGTH(\($0))", $0] } + [nulls]).joined(separator: ", "))))"
        return "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(ferry_h, 1, 16), 16, 10) AS UNSIGNED)), 0), "
            + "COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(ferry_h, 17, 16), 16, 10) AS UNSIGNED)), 0), "
            + "COALESCE(SUM(CAST(CONV(SUBSTRING(ferry_h, 1, 8), 16, 10) AS UNSIGNED)), 0) FROM (SELECT \(row) AS ferry_h FROM \(qualified) WHERE \(condition)) ferry_c"
    }

    /// A key as people read it: `(1, 'abc')`, strings decoded from their hex.
    func display(_ fields: [String]?) -> String {
        guard let fields else { return "" }
        let shown = zip(key, fields).map { c, f -> String in
            switch Self.kind(c.type) {
            case .text?, .binary?:
                // A string key may be a secret (a session id, a token): status shows its length and a hash, never the value.
                var h: UInt64 = 0xcbf29ce484222325
                for b in f.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
                return "<\(f.count / 2) bytes, hash \(String(h, radix: 16).prefix(8))>"
            default:
                return f
            }
        }
        return shown.count == 1 ? shown[0] : "(" + shown.joined(separator: ", ") + ")"
    }

    /// `[lower, upper)` as people read it.
    func displayRange(lower: [String]?, upper: [String]?) -> String {
        guard chunkable else { return "the whole table" }
        return "key [\(lower == nil ? "start" : display(lower)), \(upper == nil ? "end]" : display(upper) + ")")"
    }
}
