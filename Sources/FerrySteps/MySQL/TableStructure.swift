import Foundation
import Crypto

/// Pure helpers over a `CREATE TABLE` statement as mysqldump and
/// `SHOW CREATE TABLE` write it (one column or key per line).
public enum TableStructure {
    /// The structure digest recorded in a package manifest and checked after
    /// an import: sha256 (hex) of the normalised statement. Normalising drops
    /// what differs without a structural change: the AUTO_INCREMENT counter,
    /// executable-comment markers, letter case, whitespace and the final ';'.
    public static func digest(_ createStatement: String) -> String {
        SHA256.hash(data: Array(normalise(createStatement).utf8)).hexString
    }

    /// The column names of a CREATE TABLE as SHOW CREATE TABLE writes it (one `` `name` type``
    /// line per column, indented; keys follow).
    static func columnNames(_ createStatement: String) -> [String] {
        createStatement.split(separator: "\n").compactMap { line -> String? in
            let t = line.drop { $0 == " " }
            guard t.first == "`", t.count < line.count else { return nil }
            var name = "", i = t.index(after: t.startIndex)
            while i < t.endIndex {
                if t[i] == "`" {
                    let next = t.index(after: i)
                    if next < t.endIndex && t[next] == "`" { name.append("`"); i = t.index(after: next); continue }
                    return name
                }
                name.append(t[i])
                i = t.index(after: i)
            }
            return nil
        }
    }

    /// Whether a column is of MySQL's native JSON type.
    static func hasJSONColumn(_ createStatement: String) -> Bool {
        createStatement.split(separator: "\n").contains { line in
            let words = line.split(separator: " ")
            return words.count >= 2 && words[0].hasPrefix("`") && words[1].lowercased().hasPrefix("json")
        }
    }

    public static func normalise(_ createStatement: String) -> String {
        var text = SQLDumpScanner.executableText(createStatement)
        if text.hasSuffix(";") { text.removeLast() }
        var words: [Substring] = []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" || $0 == "\r\n" }) {
            if word.uppercased().hasPrefix("AUTO_INCREMENT=") { continue }
            words.append(word)
        }
        return words.joined(separator: " ").lowercased()
    }

    /// A CREATE TABLE with its plain secondary indexes taken out, and the ALTER
    /// that adds them back. Building an index once after the data is in is
    /// much cheaper than maintaining it row by row (myloader's
    /// --innodb-optimize-keys does the same). Tables with foreign keys keep
    /// their indexes (a foreign key needs its index while rows arrive), as do
    /// keys on an AUTO_INCREMENT column and every PRIMARY or UNIQUE key.
    public struct DeferredKeys: Sendable, Equatable {
        public var createStatement: String
        /// `ALTER TABLE ... ADD KEY ...`, or nil when nothing was deferred.
        public var addKeys: String?
    }

    /// Tables a CREATE TABLE's foreign keys reference (`REFERENCES `t``), unqualified names.
    public static func referencedTables(_ createStatement: String) -> Set<String> {
        var out = Set<String>()
        var rest = Substring(createStatement)
        while let r = rest.range(of: "REFERENCES ", options: .caseInsensitive) {
            rest = rest[r.upperBound...]
            var t = Tokens(String(rest.prefix(300)))
            if let name = t.qualifiedName() { out.insert(name.name) }
        }
        return out
    }

    public static func deferSecondaryKeys(_ createStatement: String, table: String) -> DeferredKeys {
        let unchanged = DeferredKeys(createStatement: createStatement, addKeys: nil)
        let upper = createStatement.uppercased()
        if upper.contains("FOREIGN KEY") || upper.contains("PARTITION BY") { return unchanged }
        let lines = createStatement.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3, let first = lines.first, first.uppercased().contains("CREATE TABLE"),
              let closeIndex = lines.lastIndex(where: { $0.hasPrefix(")") }), closeIndex > 1 else { return unchanged }
        let autoIncrementColumns = lines[1..<closeIndex].compactMap { line -> String? in
            let t = line.trimmingPrefixSpaces()
            guard t.hasPrefix("`"), t.uppercased().contains("AUTO_INCREMENT") else { return nil }
            return SQLDumpScanner.firstIdentifier(in: String(t))
        }
        var kept: [String] = []
        var deferred: [String] = []
        for line in lines[1..<closeIndex] {
            var element = String(line.trimmingPrefixSpaces())
            if element.hasSuffix(",") { element.removeLast() }
            let up = element.uppercased()
            let plainKey = up.hasPrefix("KEY `") || up.hasPrefix("INDEX `") || up.hasPrefix("FULLTEXT KEY `")
            let onAutoIncrement = autoIncrementColumns.contains { element.contains("(`\($0)`") }
            if plainKey && !onAutoIncrement { deferred.append(element) } else { kept.append(element) }
        }
        guard !deferred.isEmpty, !kept.isEmpty else { return unchanged }
        let body = kept.map { "  " + $0 }.joined(separator: ",\n")
        let rebuilt = ([String(first), body] + lines[closeIndex...].map(String.init)).joined(separator: "\n")
        let alter = "ALTER TABLE `\(table)` " + deferred.map { "ADD " + $0 }.joined(separator: ", ")
        return DeferredKeys(createStatement: rebuilt, addKeys: alter)
    }

}

extension Sequence<UInt8> {
    /// Lower-case hex, as sha256 sums are written in manifests.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in self { out += [digits[Int(b >> 4)], digits[Int(b & 0x0F)]] }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Substring {
    func trimmingPrefixSpaces() -> Substring { drop(while: { $0 == " " || $0 == "\t" }) }
}
