import KubeClient

/// What a restore may run from a dump, decided one statement at a time
/// (pure: no I/O). A database's restore may touch only that database, so
/// every statement is one of the forms mysqldump and mariadb-dump write for
/// one database, or it is refused, naming why:
///
/// - session settings: `SET` of user variables and of the session variables
///   in ``sessionVariables`` (no expressions, nothing GLOBAL);
/// - the database: `CREATE DATABASE`, `USE`, `DROP DATABASE`, `ALTER DATABASE`
///   (the restore creates the database itself; a dump naming two databases is
///   refused with their names);
/// - tables: `DROP TABLE`, `CREATE TABLE name (…)`, `INSERT`/`REPLACE … VALUES`;
/// - after the data: `CREATE`/`DROP` of views, triggers, procedures, functions
///   (not `SONAME` libraries), events;
/// - skipped: `LOCK`/`UNLOCK TABLES`, `ALTER TABLE … DISABLE/ENABLE KEYS`,
///   `COMMIT`, `START TRANSACTION`, `SET sql_log_bin` (the restore decides),
///   `SET @@GLOBAL.GTID_PURGED` (the source's replication history, noted).
///
/// Object names may carry a database only when it is the one restored:
/// ``SQLDumpScanner`` records each qualifier and ``SQLDumpScanner/confinementProblems(_:database:alias:bytes:path:)``
/// compares them with the target.
public enum DumpStatementPolicy {
    /// The session variables a dump may set.
    public static let sessionVariables: Set<String> = [
        "character_set_client", "character_set_results", "character_set_connection", "collation_connection",
        "character_set_database", "collation_database", "time_zone", "sql_mode", "foreign_key_checks", "unique_checks",
        "sql_notes", "note_verbosity", "autocommit", "sql_quote_show_create", "default_collation_for_utf8mb4",
        "check_constraint_checks", "system_versioning_insert_history", "sql_auto_is_null", "names", "character set", "charset",
    ]

    /// What one statement is.
    public enum Verdict: Equatable, Sendable {
        /// A session setting (SET).
        case session
        /// Not run; `note` says why when a person should know.
        case skip(note: String?)
        /// CREATE DATABASE (with its options), USE, DROP DATABASE.
        case createDatabase(name: String, options: String?)
        case useDatabase(String)
        case dropDatabase(String)
        /// ALTER DATABASE, rewritten to act on the session's database (the one restored).
        case alterDatabase(name: String?, statement: String)
        /// CREATE TABLE / DROP TABLE, with the names it touches.
        case table(create: Bool, names: [QualifiedName])
        /// INSERT or REPLACE … VALUES into a table.
        case insert(QualifiedName)
        /// A view, trigger, routine or event, created or dropped; `names` includes a trigger's
        /// table; `createsView` for CREATE VIEW.
        case postData(names: [QualifiedName], createsView: Bool = false)
        case refused(String)
    }

    public struct QualifiedName: Equatable, Sendable {
        public var database: String?
        public var name: String
        public init(database: String?, name: String) {
            self.database = database
            self.name = name
        }
    }

    /// Classifies one statement: `text` is its executable text (version comments opened,
    /// without the trailing delimiter).
    public static func classify(_ text: String) -> Verdict {
        var t = Tokens(text)
        guard let first = t.word() else { return .refused("not a statement a dump holds") }
        switch first {
        case "SET": return classifySet(&t)
        case "LOCK", "UNLOCK":
            return t.word() == "TABLES" ? .skip(note: nil) : .refused("\(first) other than LOCK/UNLOCK TABLES")
        case "COMMIT": return .skip(note: nil)
        case "START": return t.word() == "TRANSACTION" ? .skip(note: nil) : .refused("START other than START TRANSACTION")
        case "USE":
            guard let name = t.identifier() else { return .refused("USE without a database name") }
            return .useDatabase(name)
        case "ALTER": return classifyAlter(&t, text: text)
        case "DROP": return classifyDrop(&t)
        case "CREATE": return classifyCreate(&t)
        case "INSERT", "REPLACE": return classifyInsert(&t, verb: first)
        case "SELECT":
            // mariadb-dump restores a sequence's value with SELECT SETVAL(`seq`, n, 0, 1).
            if t.word() == "SETVAL", t.symbol("("), let name = t.qualifiedName() { return .postData(names: [name]) }
            return .refused("SELECT (a dump selects only SETVAL of a sequence)")
        default:
            return .refused("\(first) is not a statement mysqldump writes for one database")
        }
    }

    // MARK: - SET

    static func classifySet(_ t: inout Tokens) -> Verdict {
        if let w = t.peekWord(), ["PASSWORD", "ROLE", "DEFAULT", "TRANSACTION", "STATEMENT", "GLOBAL", "PERSIST", "PERSIST_ONLY"].contains(w) {
            if w == "GLOBAL" || w.hasPrefix("PERSIST") { return globalVerdict(t.rest) }
            return .refused("SET \(w) is not a session setting a dump may make")
        }
        for assignment in splitTopLevel(t.rest, on: ",") {
            var a = Tokens(assignment)
            if a.peek(where: { $0 == "@" }) {
                let text = assignment.trimmedWhitespace
                if text.hasPrefix("@@") {
                    let name = String(text.dropFirst(2).prefix(while: { $0 != "=" && $0 != " " && $0 != ":" })).lowercased()
                    if name.hasPrefix("global.") || name.hasPrefix("persist") { return globalVerdict(assignment) }
                    let variable = name.hasPrefix("session.") ? String(name.dropFirst(8)) : name.hasPrefix("local.") ? String(name.dropFirst(6)) : name
                    if let v = sessionVerdict(variable, value: valueText(text)) { return v }
                    continue
                }
                // A user variable: any plain value.
                if let problem = valueProblem(valueText(text)) { return .refused(problem) }
                continue
            }
            var name = a.word()?.lowercased() ?? ""
            if name == "session" || name == "local" { name = a.word()?.lowercased() ?? "" }
            if name == "global" || name.hasPrefix("persist") { return globalVerdict(assignment) }
            if name == "names" || name == "charset" { continue }
            if name == "character", a.word() == "SET" { continue }
            if let v = sessionVerdict(name, value: valueText(assignment)) { return v }
        }
        return .session
    }

    /// nil: allowed; else skip (sql_log_bin) or refuse.
    static func sessionVerdict(_ variable: String, value: String) -> Verdict? {
        if variable == "sql_log_bin" { return .skip(note: nil) }
        guard sessionVariables.contains(variable) else {
            return .refused("SET \(variable) is not one of the session settings a dump may make (\(sessionVariables.filter { !$0.contains(" ") }.sorted().joined(separator: ", ")))")
        }
        if let problem = valueProblem(value) { return .refused(problem) }
        return nil
    }

    static func globalVerdict(_ text: String) -> Verdict {
        if text.uppercased().contains("GTID_PURGED") {
            return .skip(note: "SET @@GLOBAL.GTID_PURGED was not run: it is the source server's replication history, not data")
        }
        return .refused("SET GLOBAL changes the whole server, not one database")
    }

    /// The text right of the first `=` / `:=`.
    static func valueText(_ assignment: String) -> String {
        guard let eq = assignment.firstIndex(of: "=") else { return "" }
        return String(assignment[assignment.index(after: eq)...])
    }

    /// A value may be a literal, a variable or a name; never an expression that could read or
    /// call something (a parenthesis outside quotes).
    static func valueProblem(_ value: String) -> String? {
        var t = Tokens(value)
        while let token = t.next() {
            if token == "(" { return "SET with an expression (\(value.trimmedWhitespace.prefix(60))); a dump sets plain values" }
        }
        return nil
    }

    // MARK: - DDL

    static func classifyAlter(_ t: inout Tokens, text: String) -> Verdict {
        switch t.word() {
        case "TABLE":
            guard t.qualifiedName() != nil else { return .refused("ALTER TABLE without a name") }
            let rest = t.rest.trimmedWhitespace.uppercased()
            if rest.hasPrefix("DISABLE KEYS") || rest.hasPrefix("ENABLE KEYS") { return .skip(note: nil) }
            return .refused("ALTER TABLE other than DISABLE/ENABLE KEYS")
        case "DATABASE", "SCHEMA":
            // ALTER DATABASE [name] options: the name is optional and then means the session's database.
            let keywords: Set<String> = ["DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT"]
            if let w = t.peekWord(), keywords.contains(w) {
                return .alterDatabase(name: nil, statement: "ALTER DATABASE " + t.rest.trimmedWhitespace)
            }
            guard let name = t.identifier() else { return .refused("ALTER DATABASE without options") }
            if t.peekWord() == "UPGRADE" { return .refused("ALTER DATABASE … UPGRADE DATA DIRECTORY NAME") }
            return .alterDatabase(name: name, statement: "ALTER DATABASE " + t.rest.trimmedWhitespace)
        default:
            return .refused("ALTER other than ALTER TABLE … KEYS or ALTER DATABASE")
        }
    }

    static func classifyDrop(_ t: inout Tokens) -> Verdict {
        guard let what = t.word() else { return .refused("DROP without an object") }
        t.skipIfExists()
        switch what {
        case "DATABASE", "SCHEMA":
            guard let name = t.identifier() else { return .refused("DROP DATABASE without a name") }
            return .dropDatabase(name)
        case "TABLE", "VIEW":
            var names: [QualifiedName] = []
            repeat {
                guard let n = t.qualifiedName() else { return .refused("DROP \(what) without a name") }
                names.append(n)
            } while t.symbol(",")
            return what == "TABLE" ? .table(create: false, names: names) : .postData(names: names)
        case "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT", "SEQUENCE":
            guard let n = t.qualifiedName() else { return .refused("DROP \(what) without a name") }
            return .postData(names: [n])
        default:
            return .refused("DROP \(what) is not something a one-database dump drops")
        }
    }

    static func classifyCreate(_ t: inout Tokens) -> Verdict {
        var word = t.word()
        if word == "OR" {
            guard t.word() == "REPLACE" else { return .refused("CREATE OR without REPLACE") }
            word = t.word()
        }
        if word == "DATABASE" || word == "SCHEMA" {
            t.skipIfNotExists()
            guard let name = t.identifier() else { return .refused("CREATE DATABASE without a name") }
            let options = t.rest.trimmedWhitespace
            return .createDatabase(name: name, options: options.isEmpty ? nil : options)
        }
        if word == "TEMPORARY" { return .refused("CREATE TEMPORARY TABLE") }
        if word == "TABLE" {
            t.skipIfNotExists()
            guard let name = t.qualifiedName() else { return .refused("CREATE TABLE without a name") }
            guard t.peek(where: { $0 == "(" }) else {
                return .refused("CREATE TABLE \(name.name) is not a column definition (LIKE and SELECT forms read other tables)")
            }
            return .table(create: true, names: [name])
        }
        // Views, triggers, routines, events: skip ALGORITHM=…, DEFINER=…, SQL SECURITY …, AGGREGATE.
        while let w = word {
            if w == "ALGORITHM" || w == "DEFINER" {
                guard t.symbol("=") else { return .refused("\(w) without a value") }
                _ = t.definerValue()
            } else if w == "SQL" {
                _ = t.word()
                _ = t.word()
            } else if w == "AGGREGATE" || w == "NONEDITIONABLE" || w == "EDITIONABLE" {
            } else {
                break
            }
            word = t.word()
        }
        switch word {
        case "VIEW", "PROCEDURE", "EVENT", "SEQUENCE":
            t.skipIfNotExists()
            guard let n = t.qualifiedName() else { return .refused("CREATE \(word!) without a name") }
            return .postData(names: [n], createsView: word == "VIEW")
        case "FUNCTION":
            t.skipIfNotExists()
            guard let n = t.qualifiedName() else { return .refused("CREATE FUNCTION without a name") }
            if t.rest.uppercased().contains("SONAME") { return .refused("CREATE FUNCTION … SONAME loads a library into the server") }
            return .postData(names: [n])
        case "TRIGGER":
            t.skipIfNotExists()
            guard let n = t.qualifiedName() else { return .refused("CREATE TRIGGER without a name") }
            // BEFORE|AFTER INSERT|UPDATE|DELETE ON table
            _ = t.word()
            _ = t.word()
            guard t.word() == "ON", let table = t.qualifiedName() else { return .refused("CREATE TRIGGER \(n.name) without ON table") }
            return .postData(names: [n, table])
        default:
            return .refused("CREATE \(word ?? "") is not something a one-database dump creates (users, roles, servers and libraries are not restored)")
        }
    }

    // MARK: - data

    /// INSERT|REPLACE [LOW_PRIORITY|DELAYED|HIGH_PRIORITY] [IGNORE] [INTO] name [PARTITION (…)] [(columns)] VALUES|VALUE …
    static func classifyInsert(_ t: inout Tokens, verb: String) -> Verdict {
        while let w = t.peekWord(), ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"].contains(w) { _ = t.word() }
        guard let name = t.qualifiedName() else { return .refused("\(verb) without a table name") }
        if t.peekWord() == "PARTITION" {
            _ = t.word()
            guard t.skipParenthesized() else { return .refused("\(verb) with an unclosed PARTITION list") }
        }
        if t.peek(where: { $0 == "(" }) { guard t.skipParenthesized() else { return .refused("\(verb) with an unclosed column list") } }
        guard let w = t.word(), w == "VALUES" || w == "VALUE" else {
            return .refused("\(verb) INTO \(name.name) is not a VALUES list (SELECT and SET forms can read other databases)")
        }
        return .insert(name)
    }

    /// Splits at `separator` outside quotes, backticks and parentheses.
    static func splitTopLevel(_ text: String, on separator: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        var depth = 0
        var escaped = false
        for c in text {
            if let q = quote {
                current.append(c)
                if escaped { escaped = false } else if c == "\\" && q != "`" { escaped = true } else if c == q { quote = nil }
                continue
            }
            switch c {
            case "'", "\"", "`": quote = c
            case "(": depth += 1
            case ")": depth -= 1
            default:
                if c == separator && depth == 0 {
                    parts.append(current)
                    current = ""
                    continue
                }
            }
            current.append(c)
        }
        parts.append(current)
        return parts
    }
}

/// A small lexer over a statement's text: words (upper-cased), identifiers
/// (backtick-quoted or bare, unquoted), strings, and single symbols.
struct Tokens {
    private var chars: Substring

    init(_ text: String) { chars = Substring(text) }

    /// What is left, untouched.
    var rest: String { String(chars) }

    mutating func skipSpace() {
        while let c = chars.first {
            if c.isWhitespace { chars = chars.dropFirst(); continue }
            if chars.hasPrefix("/*") {
                if let end = chars.range(of: "*/") { chars = chars[end.upperBound...]; continue }
                chars = chars.dropFirst(chars.count)
                return
            }
            if chars.hasPrefix("-- ") || chars.hasPrefix("#") {
                chars = chars.drop(while: { $0 != "\n" })
                continue
            }
            return
        }
    }

    /// The next token's raw text: a word, a quoted string or identifier, or one symbol.
    mutating func next() -> String? {
        skipSpace()
        guard let c = chars.first else { return nil }
        if c == "`" || c == "'" || c == "\"" {
            var out = String(c)
            var escaped = false
            chars = chars.dropFirst()
            while let d = chars.first {
                chars = chars.dropFirst()
                out.append(d)
                if escaped { escaped = false; continue }
                if d == "\\" && c != "`" { escaped = true; continue }
                if d == c {
                    if chars.first == c { out.append(c); chars = chars.dropFirst(); continue }
                    break
                }
            }
            return out
        }
        if Self.isWordChar(c) {
            let word = chars.prefix(while: Self.isWordChar)
            chars = chars.dropFirst(word.count)
            return String(word)
        }
        chars = chars.dropFirst()
        return String(c)
    }

    static func isWordChar(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" || c == "$" }

    /// The next token as an upper-cased keyword, or nil when it is not a bare word.
    mutating func word() -> String? {
        var probe = self
        guard let token = probe.next(), let f = token.first, Self.isWordChar(f) else { return nil }
        self = probe
        return token.uppercased()
    }

    func peekWord() -> String? {
        var probe = self
        return probe.word()
    }

    /// Whether the next token satisfies `test` (not consumed).
    func peek(where test: (Character) -> Bool) -> Bool {
        var probe = self
        probe.skipSpace()
        return probe.chars.first.map(test) ?? false
    }

    mutating func symbol(_ s: Character) -> Bool {
        var probe = self
        probe.skipSpace()
        guard probe.chars.first == s else { return false }
        probe.chars = probe.chars.dropFirst()
        self = probe
        return true
    }

    /// One identifier: `quoted` (with `` `` `` for a backtick) or bare.
    mutating func identifier() -> String? {
        var probe = self
        guard let token = probe.next() else { return nil }
        if token.hasPrefix("`") && token.hasSuffix("`") && token.count >= 2 {
            self = probe
            return String(token.dropFirst().dropLast()).replacingOccurrences(of: "``", with: "`")
        }
        if token.hasPrefix("\"") && token.hasSuffix("\"") && token.count >= 2 {
            // ANSI_QUOTES dumps quote identifiers with ".
            self = probe
            return String(token.dropFirst().dropLast())
        }
        guard let f = token.first, Self.isWordChar(f) else { return nil }
        self = probe
        return token
    }

    /// `name` or `db`.`name`.
    mutating func qualifiedName() -> DumpStatementPolicy.QualifiedName? {
        guard let first = identifier() else { return nil }
        var probe = self
        if probe.chars.first == "." {
            probe.chars = probe.chars.dropFirst()
            if let second = probe.identifier() {
                self = probe
                return .init(database: first, name: second)
            }
        }
        return .init(database: nil, name: first)
    }

    /// A DEFINER value: `user`@`host`, CURRENT_USER or CURRENT_USER().
    mutating func definerValue() -> Bool {
        guard identifier() != nil || next() != nil else { return false }
        if symbol("@") { _ = identifier() ?? next() }
        if symbol("(") { _ = symbol(")") }
        return true
    }

    mutating func skipIfExists() {
        var probe = self
        if probe.word() == "IF", probe.word() == "EXISTS" { self = probe }
    }

    mutating func skipIfNotExists() {
        var probe = self
        if probe.word() == "IF", probe.word() == "NOT", probe.word() == "EXISTS" { self = probe }
    }

    /// Skips `( … )` with nesting and quotes; false when it does not close.
    mutating func skipParenthesized() -> Bool {
        guard symbol("(") else { return false }
        var depth = 1
        while depth > 0 {
            guard let token = next() else { return false }
            if token == "(" { depth += 1 } else if token == ")" { depth -= 1 }
        }
        return true
    }
}
