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
    /// Every database the dump names (CREATE DATABASE, USE, DROP DATABASE, ALTER DATABASE), in order.
    public var databaseNames: [String] = []
    /// Where each of them is first named, and by which statement.
    public var databaseOffsets: [String: Int] = [:]
    public var databaseStatements: [String: String] = [:]
    /// Object names written with a database in front (`other`.`t`), where they appear.
    public var qualifiedReferences: [(offset: Int, name: DumpStatementPolicy.QualifiedName)] = []
    /// Statements that are not run because the policy refuses them.
    public var refusals: [(offset: Int, statement: String, reason: String)] = []
    /// What was left out on purpose and a person should know (GTID_PURGED …).
    public var notes: [String] = []
    /// `a.b` names inside views, triggers, routines and events: the restore refuses those whose `a`
    /// is another database on the target server.
    public var bodyReferences: [(offset: Int, name: DumpStatementPolicy.QualifiedName)] = []
    /// Views the dump creates (mysqldump 5.7 first creates a placeholder table of the same name).
    public var viewNames: Set<String> = []
    public var totalRows: Int { tables.reduce(0) { $0 + $1.rows } }
    /// Tables the dump creates (not only inserts into); a view's placeholder table is not one.
    public var createdTables: [Table] { tables.filter { !$0.createStatement.isEmpty && !viewNames.contains($0.name) } }
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
        /// SETs since the last table statement, not yet in the post-data script: the first view,
        /// trigger or routine needs the settings its dump wrote just before it.
        var pendingSets: [String] = []
        /// User variables assigned in the post-data session (a SET reading one never assigned
        /// there restores a value saved in another session, and would set NULL).
        var postVariables = Set<String>()
        func addToPost(_ text: String) {
            plan.postScript += text + "\n"
            postVariables.formUnion(SQLDumpScanner.userVariables(text).assigned)
        }
        func startPost() {
            if !postStarted {
                for set in pendingSets where SQLDumpScanner.userVariables(set).read.isSubset(of: postVariables) { addToPost(set) }
                pendingSets = []
            }
            postStarted = true
        }
        func refuse(_ start: Int, _ text: String, _ reason: String) {
            plan.refusals.append((start, String(text.trimmedWhitespace.prefix(160)), reason))
        }
        var statementStart = 0
        var statementText = ""
        func nameDatabase(_ name: String) {
            if !plan.databaseNames.contains(name) {
                plan.databaseNames.append(name)
                plan.databaseOffsets[name] = statementStart
                plan.databaseStatements[name] = String(statementText.trimmedWhitespace.prefix(160))
            }
        }
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
                // Split on ASCII whitespace bytes (a CRLF line must not make "\r" part of the delimiter).
                let line = Array(UnsafeRawBufferPointer(rebasing: bytes[i..<lineEnd]))
                let words = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A })
                let text = String(decoding: line, as: UTF8.self)
                guard words.count == 2, let word = words.last, (1...8).contains(word.count),
                      word.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !"'\"`\\#".utf8.contains($0) && !(($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A) && !($0 >= 0x30 && $0 <= 0x39) }) else {
                    refuse(i, text, "a DELIMITER line must name one delimiter of 1 to 8 punctuation characters (no quotes, backslash, #, letters or digits)")
                    delimiter = [UInt8(ascii: ";")]
                    i = lineEnd
                    continue
                }
                delimiter = Array(word)
                startPost()
                plan.postScript += "DELIMITER " + String(decoding: word, as: UTF8.self) + "\n"
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
            let isInsert = delimiter == [UInt8(ascii: ";")] && (startsWithKeyword(bytes, i, "INSERT") || startsWithKeyword(bytes, i, "REPLACE"))
            var rows = 0
            var depth = 0
            var end = -1
            // INSERT shape: rows are `(…)` separated by commas after VALUES, holding no nested
            // parentheses (an expression or subquery) and nothing after the last row.
            var gapStart = i
            var insertProblem: String?
            var j = i
            // Split exactly as the mysql/mariadb client will: the delimiter ends a statement outside
            // quotes and plain comments, also inside /*! … */ and /*M! … */; `#` and `-- ` comment
            // to the end of the line; a backslash outside quotes is a client command (refused).
            var inExecutable = false
            var clientCommand = false
            var oddComment = false
            var inRow = false
            let special = isInsert ? insertSpecial : (delimiter[0] == UInt8(ascii: ";") ? semicolonSpecial : specialBytes(delimiter[0]))
            let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            scanning: while j < n {
                let b = p[j]
                if !special[Int(b)] { j += 1; continue }
                if b == delimiter[0] && matches(bytes, j, delimiter) {
                    end = j + delimiter.count
                    break scanning
                }
                let next: UInt8 = j + 1 < n ? p[j + 1] : 0
                switch b {
                case UInt8(ascii: "'"), UInt8(ascii: "\""):
                    j = endOfQuoted(bytes, from: j, quote: b)
                    continue scanning
                case UInt8(ascii: "`"):
                    j += 1
                    while j < n && bytes[j] != UInt8(ascii: "`") { j += 1 }
                    j += 1
                    continue scanning
                case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                    if startsWith(bytes, j, "/*!") || startsWith(bytes, j, "/*M!") {
                        if inExecutable { oddComment = true }
                        // A server older or newer than the comment's version skips it up to the first `*/`,
                        // quotes or not: that end must be the one the quotes give, or skipping it changes the statement.
                        if !executableCommentEndsAlike(bytes, from: j) { oddComment = true }
                        inExecutable = true
                        j += startsWith(bytes, j, "/*M!") ? 4 : 3
                        continue scanning
                    }
                    if inExecutable {
                        // The client would take this for a plain comment inside the executable one; the server would not.
                        oddComment = true
                        j += 1
                        continue scanning
                    }
                    j = endOfComment(bytes, from: j)
                    continue scanning
                case UInt8(ascii: "*") where next == UInt8(ascii: "/") && inExecutable:
                    inExecutable = false
                    j += 2
                    continue scanning
                case UInt8(ascii: "#"):
                    j = endOfLine(bytes, from: j)
                    continue scanning
                case UInt8(ascii: "-") where next == UInt8(ascii: "-") && (j + 2 >= n || p[j + 2] == 0x20 || p[j + 2] == 0x09 || p[j + 2] == 0x0A || p[j + 2] == 0x0D):
                    j = endOfLine(bytes, from: j)
                    continue scanning
                case UInt8(ascii: "\\"):
                    clientCommand = true
                case 0x00...0x08, 0x0B, 0x0C, 0x0E...0x1F, 0x7F:
                    // Control bytes outside quotes: client and server disagree on what they end.
                    oddComment = true
                case UInt8(ascii: "("):
                    if isInsert {
                        if depth == 0 {
                            switch rowGap(bytes, gapStart, j, firstRow: rows == 0) {
                            case .row: rows += 1; inRow = true
                            case .header: break
                            case .bad: insertProblem = insertProblem ?? "text between its rows"
                            }
                        } else if rows > 0 && depth >= 1 {
                            insertProblem = insertProblem ?? "an expression or subquery in its values (nested parentheses)"
                        }
                    }
                    depth += 1
                case UInt8(ascii: ")"):
                    depth -= 1
                    if depth == 0 {
                        gapStart = j + 1
                        inRow = false
                    }
                case UInt8(ascii: "@"):
                    if inRow { insertProblem = insertProblem ?? "a variable in its values" }
                default:
                    // A word in an INSERT's row: only NULL, TRUE, FALSE, a charset introducer (_binary)
                    // or a hex/bit literal's x/b; a letter right after a digit is part of a number.
                    if inRow && isWordByte(b) {
                        var k = j
                        while k < n && isWordByte(p[k]) { k += 1 }
                        let afterNumber = j > 0 && ((p[j - 1] >= 0x30 && p[j - 1] <= 0x39) || p[j - 1] == UInt8(ascii: "."))
                        if !afterNumber && !Self.isLiteralWord(UnsafeRawBufferPointer(rebasing: bytes[j..<k]), next: k < n ? p[k] : 0) {
                            insertProblem = insertProblem ?? "a word in its values (\(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[j..<min(k, j + 40)]), as: UTF8.self)))"
                        }
                        j = k
                        continue scanning
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
            if oddComment {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(end, start + 200)]), as: UTF8.self)
                refuse(start, text, "an executable comment that a server may skip differently, a comment inside one, or a control byte outside quotes: the client and the server would read this statement differently")
                continue
            }
            if clientCommand {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(end, start + 200)]), as: UTF8.self)
                refuse(start, text, "a backslash outside quotes is a client command (\\! runs a shell, \\C changes the character set); a dump never holds one")
                continue
            }
            if isInsert {
                let headText = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(end, start + 512)]), as: UTF8.self)
                if insertProblem == nil && !allWhitespace(bytes, from: gapStart, to: end - delimiter.count) {
                    insertProblem = "text after its last row (ON DUPLICATE KEY UPDATE …)"
                }
                switch DumpStatementPolicy.classify(executableText(headText)) {
                case .insert(let name):
                    if let problem = insertProblem {
                        refuse(start, headText, "\(executableText(headText).prefix(7).uppercased().hasPrefix("REPLACE") ? "REPLACE" : "INSERT") into \(name.name) has \(problem); a dump's rows are plain values")
                        continue
                    }
                    if name.database != nil { plan.qualifiedReferences.append((start, name)) }
                    let k = table(name.name)
                    plan.tables[k].insertRanges.append(start..<end)
                    plan.tables[k].rows += rows
                case .refused(let reason):
                    refuse(start, headText, reason)
                default:
                    refuse(start, headText, "not an INSERT … VALUES statement")
                }
                continue
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            statementStart = start
            var statement = executableText(text)
            statementText = statement
            if statement.hasSuffix(String(decoding: delimiter, as: UTF8.self)) { statement.removeLast(delimiter.count) }
            let verdict = DumpStatementPolicy.classify(statement)
            if delimiter != [UInt8(ascii: ";")] {
                // Inside DELIMITER ;; … DELIMITER ;: routines, triggers, events and their SETs.
                switch verdict {
                case .session: addToPost(text)
                case .postData(let names, _):
                    for n in names where n.database != nil { plan.qualifiedReferences.append((start, n)) }
                    plan.bodyReferences += SQLDumpScanner.pairs(statement).map { (start, $0) }
                    addToPost(text)
                case .alterDatabase(let name, let rewritten):
                    if let name { nameDatabase(name) }
                    addToPost(rewritten + " " + String(decoding: delimiter, as: UTF8.self))
                case .skip(let note):
                    if let note, !plan.notes.contains(note) { plan.notes.append(note) }
                case .refused(let reason): refuse(start, statement, reason)
                default: refuse(start, statement, "not a view, trigger, routine or event definition (inside a DELIMITER block)")
                }
                continue
            }
            switch verdict {
            case .skip(let note):
                if let note, !plan.notes.contains(note) { plan.notes.append(note) }
            case .createDatabase(let name, let options):
                nameDatabase(name)
                plan.sourceDatabase = plan.sourceDatabase ?? name
                if name == plan.sourceDatabase { plan.databaseOptions = options }
            case .useDatabase(let name):
                nameDatabase(name)
                plan.sourceDatabase = plan.sourceDatabase ?? name
            case .dropDatabase(let name):
                // The restore drops and creates the database itself.
                nameDatabase(name)
            case .alterDatabase(let name, let rewritten):
                if let name { nameDatabase(name) }
                startPost()
                addToPost(rewritten + ";")
            case .session where !sawTable:
                plan.sessionSettings.append(statement.trimmedWhitespace)
            case .session:
                // Session settings between tables (character_set_client, sql_mode): needed by the
                // schema statements and by the views/triggers that follow them.
                plan.schemaStatements.append(text)
                if postStarted { addToPost(text) } else { pendingSets.append(text) }
            case .table(let create, let names):
                sawTable = true
                pendingSets = []
                for n in names where n.database != nil { plan.qualifiedReferences.append((start, n)) }
                if create, let name = names.first { plan.tables[table(name.name)].createStatement = text }
                plan.schemaStatements.append(text)
            case .postData(let names, let createsView):
                for n in names where n.database != nil { plan.qualifiedReferences.append((start, n)) }
                plan.bodyReferences += SQLDumpScanner.pairs(statement).map { (start, $0) }
                if createsView, let view = names.first { plan.viewNames.insert(view.name) }
                startPost()
                addToPost(text)
            case .insert:
                refuse(start, statement, "an INSERT the scanner did not recognise as one")
            case .refused(let reason):
                refuse(start, statement, reason)
            }
        }
        return plan
    }

    /// Every `a.b` name in a statement.
    static func pairs(_ statement: String) -> [DumpStatementPolicy.QualifiedName] {
        var t = Tokens(statement)
        var tokens: [String] = []
        while let token = t.next() { tokens.append(token) }
        return Tokens.qualifiedPairs(tokens)
    }

    /// Names in views, triggers, routines and events that point into `others` (the target
    /// server's other databases), as `path:line: db.name`.
    public static func bodyProblems(_ plan: DumpPlan, others: Set<String>, bytes: UnsafeRawBufferPointer, path: String) -> [String] {
        plan.bodyReferences.filter { others.contains($0.name.database ?? "") }.prefix(20).map {
            "\(path):\(lineNumber(bytes, offset: $0.offset)): a view, trigger, routine or event uses `\($0.name.database ?? "")`.`\($0.name.name)`, in another database on this server"
        }
    }

    /// The `@name` user variables a SET assigns (left of `=`) and reads (a value that is one).
    static func userVariables(_ text: String) -> (assigned: Set<String>, read: Set<String>) {
        var assigned = Set<String>(), read = Set<String>()
        let body = executableText(text)
        guard body.uppercased().hasPrefix("SET ") else { return (assigned, read) }
        func name(_ s: String) -> String? {
            guard s.hasPrefix("@") && !s.hasPrefix("@@") else { return nil }
            return String(s.dropFirst().prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" || $0 == "." })).lowercased()
        }
        for part in DumpStatementPolicy.splitTopLevel(String(body.dropFirst(4)), on: ",") {
            if let n = name(part.trimmedWhitespace) { assigned.insert(n) }
            if let n = name(DumpStatementPolicy.valueText(part).trimmedWhitespace) { read.insert(n) }
        }
        return (assigned, read)
    }

    /// What a gap before a `(` at depth 0 of an INSERT means.
    enum RowGap { case header, row, bad }

    static func rowGap(_ b: UnsafeRawBufferPointer, _ from: Int, _ to: Int, firstRow: Bool) -> RowGap {
        var k = to
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        while k > from && isSpace(b[k - 1]) { k -= 1 }
        if firstRow {
            // The header ends with VALUES or VALUE before the first row; else this is a column or partition list.
            for word in ["VALUES", "VALUE"] {
                let len = word.utf8.count
                if k - from >= len {
                    let tail = UnsafeRawBufferPointer(rebasing: b[(k - len)..<k])
                    if zip(tail, word.utf8).allSatisfy({ $0 & 0xDF == $1 }) && (k - len == from || !isWordByte(b[k - len - 1])) { return .row }
                }
            }
            return .header
        }
        // Between rows: whitespace, one comma, whitespace.
        var commas = 0
        for p in from..<to {
            if b[p] == UInt8(ascii: ",") { commas += 1 } else if !isSpace(b[p]) { return .bad }
        }
        return commas == 1 ? .row : .bad
    }

    static func isWordByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c >= 0x80
    }

    /// 1-based line of a byte offset.
    public static func lineNumber(_ b: UnsafeRawBufferPointer, offset: Int) -> Int {
        var line = 1
        for k in 0..<min(offset, b.count) where b[k] == 0x0A { line += 1 }
        return line
    }

    /// Everything in `plan` that would reach outside `database` or is not a dump's statement,
    /// as `path:line: statement — why`. Empty when the dump may be restored into `database`.
    /// `alias`: the database's name in the package, when it is restored under another name.
    public static func confinementProblems(_ plan: DumpPlan, database: String, alias: String? = nil, bytes: UnsafeRawBufferPointer, path: String) -> [String] {
        var out: [String] = []
        let at = { (name: String) in "\(path):\(lineNumber(bytes, offset: plan.databaseOffsets[name] ?? 0)): \(plan.databaseStatements[name] ?? "") —" }
        if plan.databaseNames.count > 1 {
            out.append("\(at(plan.databaseNames[1])) \(path) holds \(plan.databaseNames.count) databases (\(plan.databaseNames.joined(separator: ", "))): a restore step may touch only its own. Export each database into its own file (mysqldump without --databases, or one --databases name per file)")
        } else if let other = plan.databaseNames.first, other != database, other != alias {
            out.append("\(at(other)) \(path) is a dump of database \(other) (CREATE DATABASE, USE or DROP DATABASE name it), not of \(database); export \(database) into its own file")
        }
        if plan.truncatedStatement {
            out.append("\(path): the last statement never ends (a quote or a comment swallows the rest of the dump); export it again")
        }
        for r in plan.refusals.sorted(by: { $0.offset < $1.offset }).prefix(20) {
            out.append("\(path):\(lineNumber(bytes, offset: r.offset)): \(r.statement) — \(r.reason)")
        }
        for q in plan.qualifiedReferences where q.name.database != database {
            out.append("\(path):\(lineNumber(bytes, offset: q.offset)): `\(q.name.database ?? "")`.`\(q.name.name)` is in database \(q.name.database ?? ""), not \(database), which this step restores")
            if out.count > 40 { break }
        }
        return out
    }

    // MARK: - Byte helpers

    /// Bytes the statement scan must look at: quotes, backticks, comment starts, parentheses, the delimiter.
    /// Whether the first `*/` after an executable comment's marker (where a server that skips
    /// the comment resumes, ignoring quotes) is also where it ends when its quotes are honoured.
    static func executableCommentEndsAlike(_ b: UnsafeRawBufferPointer, from i: Int) -> Bool {
        var raw = i + 3
        while raw + 1 < b.count && !(b[raw] == UInt8(ascii: "*") && b[raw + 1] == UInt8(ascii: "/")) { raw += 1 }
        var k = i + 3
        while k + 1 < b.count {
            let c = b[k]
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "`") {
                k = c == UInt8(ascii: "`") ? (b[(k + 1)...].firstIndex(of: c).map { $0 + 1 } ?? b.count) : endOfQuoted(b, from: k, quote: c)
                continue
            }
            if c == UInt8(ascii: "*") && b[k + 1] == UInt8(ascii: "/") { return k == raw }
            k += 1
        }
        return k >= raw
    }

    static func specialBytes(_ delimiterStart: UInt8) -> [Bool] {
        var t = [Bool](repeating: false, count: 256)
        for c in "'\"`/()*#-\\".utf8 { t[Int(c)] = true }
        for c in 0x00...0x08 { t[c] = true }
        for c in [0x0B, 0x0C, 0x7F] { t[c] = true }
        for c in 0x0E...0x1F { t[c] = true }
        t[Int(delimiterStart)] = true
        return t
    }

    static let semicolonSpecial = specialBytes(UInt8(ascii: ";"))
    /// INSERT statements also look at words and variables in their rows.
    static let insertSpecial: [Bool] = {
        var t = specialBytes(UInt8(ascii: ";"))
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
        t[Int(UInt8(ascii: "_"))] = true
        t[Int(UInt8(ascii: "@"))] = true
        return t
    }()

    /// NULL, TRUE, FALSE, a charset introducer (`_binary`) or the x/b of `x'…'`/`b'…'`.
    static func isLiteralWord(_ w: UnsafeRawBufferPointer, next: UInt8) -> Bool {
        if w.first == UInt8(ascii: "_") { return true }
        if w.count == 1, next == UInt8(ascii: "'"), let c = w.first, c | 0x20 == UInt8(ascii: "x") || c | 0x20 == UInt8(ascii: "b") { return true }
        let upper = String(decoding: w.map { $0 & 0xDF }, as: UTF8.self)
        return upper == "NULL" || upper == "TRUE" || upper == "FALSE"
    }

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

    static func allWhitespace(_ b: UnsafeRawBufferPointer, from i: Int, to end: Int? = nil) -> Bool {
        let end = end ?? b.count
        guard i < end else { return true }
        for k in i..<end where !(b[k] == 0x20 || b[k] == 0x0A || b[k] == 0x0D || b[k] == 0x09) { return false }
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

    /// Statement text as the server reads it: executable-comment markers (`/*!40101 `, `/*M!100101 `
    /// and the `*/` that closes them) removed, plain comments (`/* */`, `#`, `-- `) removed, quoted
    /// text kept as it is; trimmed.
    static func executableText(_ text: String) -> String {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(min(b.count, 4096))
        var i = 0
        var inExecutable = false
        // Byte by byte, without a copy: this runs at every byte of every statement.
        func starts(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            for k in 0..<n where b[i + k] != s.utf8Start[k] { return false }
            return true
        }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "`") {
                var k = i + 1
                while k < b.count && b[k] != c {
                    if b[k] == UInt8(ascii: "\\") && c != UInt8(ascii: "`") { k += 1 }
                    k += 1
                }
                k = min(k + 1, b.count)
                out += b[i..<k]
                i = k
                continue
            }
            if starts("/*M!") || starts("/*!") {
                i += starts("/*M!") ? 4 : 3
                while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
                inExecutable = true
                continue
            }
            if inExecutable && starts("*/") {
                inExecutable = false
                i += 2
                continue
            }
            if !inExecutable && starts("/*") {
                var k = i + 2
                while k + 1 < b.count && !(b[k] == UInt8(ascii: "*") && b[k + 1] == UInt8(ascii: "/")) { k += 1 }
                i = min(k + 2, b.count)
                out.append(0x20)
                continue
            }
            if c == UInt8(ascii: "#") || (starts("--") && (i + 2 >= b.count || b[i + 2] <= 0x20)) {
                while i < b.count && b[i] != 0x0A { i += 1 }
                out.append(0x20)
                continue
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self).trimmedWhitespace
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
