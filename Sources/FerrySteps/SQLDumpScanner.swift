import KubeClient

/// What a mysqldump / mariadb-dump file holds, found by one pass over its
/// bytes: the session settings of its header, each table's CREATE TABLE and
/// the byte ranges of its INSERT statements (with row counts), and the
/// statements that must run after the data (triggers, views, routines).
///
/// The import replays these phases on several connections: schema first,
/// INSERT ranges in parallel, then the rest, in the dump's order.
public struct DumpPlan: Sendable {
    /// One table's part of the dump.
    public struct Table: Sendable, Equatable {
        public var name: String
        /// The CREATE TABLE statement as written in the dump.
        public var createStatement: String
        /// Byte ranges (in the file) of its INSERT statements, each ending with ';'.
        public var insertRanges: [Range<Int>]
        /// Rows in those INSERT statements.
        public var rows: Int
        public var insertBytes: Int { insertRanges.reduce(0) { $0 + $1.count } }
    }

    /// `SET ...` statements of the header (character set, time zone, SQL mode), each without ';'.
    public var sessionSettings: [String] = []
    /// DROP/CREATE TABLE and the SET statements around them, in dump order, each with its ';'.
    public var schemaStatements: [String] = []
    /// Tables in dump order.
    public var tables: [Table] = []
    /// Everything that runs after the data (views, triggers, routines), as a client script
    /// (including DELIMITER lines).
    public var postScript: String = ""
    /// The database named by `CREATE DATABASE` / `USE`, when the dump has one.
    public var sourceDatabase: String?
    /// The options of the dump's CREATE DATABASE (e.g. `DEFAULT CHARACTER SET utf8mb4`).
    public var databaseOptions: String?
    /// The dump ends with mysqldump's completion line ("-- Dump completed").
    public var completed = false
    /// A statement was still open at the end of the file.
    public var truncatedStatement = false
    public var totalRows: Int { tables.reduce(0) { $0 + $1.rows } }
    /// Tables the dump creates (not only inserts into).
    public var createdTables: [Table] { tables.filter { !$0.createStatement.isEmpty } }
}

/// A single-pass scanner over a dump held in memory (usually a mapped file).
/// It understands quotes, backtick identifiers, comments (including
/// `/*!NNNNN ... */` executable ones) and DELIMITER changes.
public enum SQLDumpScanner {
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> DumpPlan {
        var plan = DumpPlan()
        var tableIndex: [String: Int] = [:]
        var delimiter: [UInt8] = [UInt8(ascii: ";")]
        var sawTable = false
        var postStarted = false
        let n = bytes.count
        var i = 0

        func table(_ name: String) -> Int {
            if let k = tableIndex[name] { return k }
            plan.tables.append(DumpPlan.Table(name: name, createStatement: "", insertRanges: [], rows: 0))
            tableIndex[name] = plan.tables.count - 1
            return plan.tables.count - 1
        }

        while i < n {
            // Skip whitespace between statements.
            let c = bytes[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1; continue }
            let lineEnd = endOfLine(bytes, from: i)
            // Line comments: "-- ..." and "# ...".
            if startsWith(bytes, i, "--") || c == UInt8(ascii: "#") {
                if startsWith(bytes, i, "-- Dump completed") { plan.completed = true }
                i = lineEnd
                continue
            }
            // MariaDB's sandbox-mode marker: a client command, not a statement.
            if startsWith(bytes, i, "/*M!999999") { i = lineEnd; continue }
            // DELIMITER is a client command that ends at the line's end.
            if startsWithKeyword(bytes, i, "DELIMITER") {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<lineEnd]), as: UTF8.self)
                let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
                if parts.count >= 2 { delimiter = Array(parts[1].utf8) }
                plan.postScript += text.trimmingTrailingNewline() + "\n"
                postStarted = true
                i = lineEnd
                continue
            }
            // Plain comments between statements.
            if startsWith(bytes, i, "/*") && !startsWith(bytes, i, "/*!") && !startsWith(bytes, i, "/*M!") {
                i = endOfComment(bytes, from: i)
                continue
            }
            // A statement: find its end (the delimiter outside quotes and comments).
            let start = i
            let isInsert = delimiter == [UInt8(ascii: ";")] && startsWithKeyword(bytes, i, "INSERT")
            var rows = 0
            var depth = 0
            var end = -1
            var j = i
            let special = delimiter[0] == UInt8(ascii: ";") ? semicolonSpecial : specialBytes(delimiter[0])
            let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            scanning: while j < n {
                let b = p[j]
                if !special[Int(b)] { j += 1; continue }
                switch b {
                case UInt8(ascii: "'"), UInt8(ascii: "\""):
                    j = endOfQuoted(bytes, from: j, quote: b)
                    continue scanning
                case UInt8(ascii: "`"):
                    j += 1
                    while j < n && bytes[j] != UInt8(ascii: "`") { j += 1 }
                    j += 1
                    continue scanning
                case UInt8(ascii: "/") where j + 1 < n && bytes[j + 1] == UInt8(ascii: "*"):
                    j = endOfComment(bytes, from: j)
                    continue scanning
                case UInt8(ascii: "("):
                    if isInsert && depth == 0 { rows += 1 }
                    depth += 1
                case UInt8(ascii: ")"):
                    depth -= 1
                default:
                    if b == delimiter[0] && matches(bytes, j, delimiter) {
                        end = j + delimiter.count
                        break scanning
                    }
                }
                j += 1
            }
            if end < 0 {
                // No delimiter before the end of the file.
                if !allWhitespace(bytes, from: start) { plan.truncatedStatement = true }
                break
            }
            i = end
            if isInsert {
                if let name = identifierAfter(bytes, start, keywords: ["INSERT", "INTO"]) {
                    let k = table(name)
                    plan.tables[k].insertRanges.append(start..<end)
                    plan.tables[k].rows += rows
                }
                continue
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            if delimiter != [UInt8(ascii: ";")] {
                plan.postScript += text + "\n"
                continue
            }
            let head = executableText(text).uppercased()
            if head.hasPrefix("LOCK TABLES") || head.hasPrefix("UNLOCK TABLES")
                || (head.hasPrefix("ALTER TABLE") && (head.contains("DISABLE KEYS") || head.contains("ENABLE KEYS"))) {
                continue
            }
            if head.hasPrefix("CREATE DATABASE") {
                let (name, options) = parseCreateDatabase(executableText(text))
                plan.sourceDatabase = plan.sourceDatabase ?? name
                plan.databaseOptions = options
                continue
            }
            if head.hasPrefix("USE ") {
                if let name = firstIdentifier(in: String(executableText(text).dropFirst(4))) { plan.sourceDatabase = plan.sourceDatabase ?? name }
                continue
            }
            if head.hasPrefix("SET ") && !sawTable {
                var statement = executableText(text)
                if statement.hasSuffix(";") { statement.removeLast() }
                plan.sessionSettings.append(statement.trimmedWhitespace)
                continue
            }
            if head.hasPrefix("SET ") {
                // Session settings between tables (character_set_client, sql_mode): needed by the
                // schema statements and by the views/triggers that follow them.
                plan.schemaStatements.append(text)
                if postStarted { plan.postScript += text + "\n" }
                continue
            }
            if head.hasPrefix("CREATE TABLE") || head.hasPrefix("DROP TABLE") {
                if head.hasPrefix("CREATE TABLE") {
                    sawTable = true
                    if let name = identifierAfter(text, keywords: ["CREATE", "TABLE"]) {
                        plan.tables[table(name)].createStatement = text
                    }
                }
                if head.hasPrefix("DROP TABLE") { sawTable = true }
                plan.schemaStatements.append(text)
                continue
            }
            postStarted = true
            plan.postScript += text + "\n"
        }
        return plan
    }

    // MARK: - Byte helpers

    /// Bytes the statement scan must look at: quotes, backticks, comment starts, parentheses, the delimiter.
    static func specialBytes(_ delimiterStart: UInt8) -> [Bool] {
        var t = [Bool](repeating: false, count: 256)
        for c in "'\"`/()".utf8 { t[Int(c)] = true }
        t[Int(delimiterStart)] = true
        return t
    }

    static let semicolonSpecial = specialBytes(UInt8(ascii: ";"))

    static func endOfLine(_ b: UnsafeRawBufferPointer, from i: Int) -> Int {
        var j = i
        while j < b.count && b[j] != 0x0A { j += 1 }
        return min(j + 1, b.count)
    }

    static func endOfComment(_ b: UnsafeRawBufferPointer, from i: Int) -> Int {
        var j = i + 2
        while j + 1 < b.count {
            if b[j] == UInt8(ascii: "*") && b[j + 1] == UInt8(ascii: "/") { return j + 2 }
            j += 1
        }
        return b.count
    }

    /// The index just past the closing quote; backslash escapes the next byte.
    static func endOfQuoted(_ b: UnsafeRawBufferPointer, from i: Int, quote: UInt8) -> Int {
        var j = i + 1
        let n = b.count
        while j < n {
            let c = b[j]
            if c == UInt8(ascii: "\\") { j += 2; continue }
            if c == quote { return j + 1 }
            j += 1
        }
        return n
    }

    static func startsWith(_ b: UnsafeRawBufferPointer, _ i: Int, _ s: StaticString) -> Bool {
        let len = s.utf8CodeUnitCount
        guard i + len <= b.count else { return false }
        return s.withUTF8Buffer { p in
            for k in 0..<len where b[i + k] != p[k] { return false }
            return true
        }
    }

    /// A keyword at `i`, case-insensitive, followed by a space or end of line.
    static func startsWithKeyword(_ b: UnsafeRawBufferPointer, _ i: Int, _ s: StaticString) -> Bool {
        let len = s.utf8CodeUnitCount
        guard i + len < b.count else { return false }
        let ok = s.withUTF8Buffer { p in
            for k in 0..<len where b[i + k] & 0xDF != p[k] { return false }
            return true
        }
        let next = b[i + len]
        return ok && (next == 0x20 || next == 0x0A || next == 0x0D || next == 0x09)
    }

    static func matches(_ b: UnsafeRawBufferPointer, _ i: Int, _ d: [UInt8]) -> Bool {
        guard i + d.count <= b.count else { return false }
        for k in 0..<d.count where b[i + k] != d[k] { return false }
        return true
    }

    static func allWhitespace(_ b: UnsafeRawBufferPointer, from i: Int) -> Bool {
        for k in i..<b.count where !(b[k] == 0x20 || b[k] == 0x0A || b[k] == 0x0D || b[k] == 0x09) { return false }
        return true
    }

    /// The table name of `INSERT INTO `name` ...` read straight from the bytes.
    static func identifierAfter(_ b: UnsafeRawBufferPointer, _ i: Int, keywords: [String]) -> String? {
        let limit = min(b.count, i + 512)
        return identifierAfter(String(decoding: UnsafeRawBufferPointer(rebasing: b[i..<limit]), as: UTF8.self), keywords: keywords)
    }

    /// The identifier after the given leading keywords (skipping `IF NOT EXISTS`), unquoting backticks.
    static func identifierAfter(_ text: String, keywords: [String]) -> String? {
        var rest = Substring(executableText(text))
        for k in keywords + ["IF", "NOT", "EXISTS"] {
            let trimmed = rest.drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
            if trimmed.uppercased().hasPrefix(k + " ") || trimmed.uppercased().hasPrefix(k + "\n") {
                rest = trimmed.dropFirst(k.count)
            } else {
                rest = trimmed
                if keywords.contains(k) { return nil }
            }
        }
        return firstIdentifier(in: String(rest))
    }

    static func firstIdentifier(in text: String) -> String? {
        let t = text.drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        if t.first == "`" {
            let body = t.dropFirst()
            guard let close = body.firstIndex(of: "`") else { return nil }
            return String(body[..<close])
        }
        let name = t.prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" })
        return name.isEmpty ? nil : String(name)
    }

    /// Statement text with executable-comment markers (`/*!40101 `, `/*M!100101 `, `*/`) removed and spaces collapsed.
    static func executableText(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(min(text.utf8.count, 4096))
        var chars = Substring(text)
        while let first = chars.first {
            if chars.hasPrefix("/*!") || chars.hasPrefix("/*M!") {
                chars = chars.dropFirst(chars.hasPrefix("/*M!") ? 4 : 3).drop(while: { $0.isNumber })
                continue
            }
            if chars.hasPrefix("*/") {
                chars = chars.dropFirst(2)
                continue
            }
            out.append(first)
            chars = chars.dropFirst()
        }
        return out.trimmedWhitespace
    }

    /// Name and options of `CREATE DATABASE [IF NOT EXISTS] name options`.
    static func parseCreateDatabase(_ text: String) -> (String?, String?) {
        guard let name = identifierAfter(text, keywords: ["CREATE", "DATABASE"]) else { return (nil, nil) }
        guard let range = text.range(of: "`\(name)`") ?? text.range(of: name) else { return (name, nil) }
        var options = String(text[range.upperBound...]).trimmedWhitespace
        if options.hasSuffix(";") { options.removeLast() }
        options = options.trimmedWhitespace
        return (name, options.isEmpty ? nil : options)
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
