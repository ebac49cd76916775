import Foundation
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
            guard t.next() == nil else { return .refused("USE with more after the name") }
            return .useDatabase(name)
        case "ALTER": return classifyAlter(&t, text: text)
        case "DROP": return classifyDrop(&t)
        case "CREATE": return classifyCreate(&t)
        case "INSERT", "REPLACE": return classifyInsert(&t, verb: first)
        case "SELECT":
            // mariadb-dump restores a sequence's value with SELECT SETVAL(`seq`, n, 0, 1).
            if t.word() == "SETVAL", t.symbol("("), let name = t.qualifiedName() {
                // SETVAL(seq, number, 0|1[, number]) and nothing else.
                var tokens: [String] = []
                while let token = t.next() { tokens.append(token) }
                let numbersOnly = tokens.dropLast().allSatisfy { $0 == "," || $0 == "-" || $0.allSatisfy(\.isNumber) }
                guard tokens.last == ")", numbersOnly else { return .refused("SELECT SETVAL with more than a sequence and numbers") }
                return .postData(names: [name])
            }
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
                // A user variable holds a saved setting (`@x = @@var`) or another saved one, nothing else:
                // a literal parked in a variable would pass sql_mode or a character set by the back door.
                let value = valueText(text).trimmedWhitespace
                if let problem = valueProblem(value) { return .refused(problem) }
                if !value.hasPrefix("@") {
                    return .refused("SET of a user variable to \(value.prefix(40)): a dump only saves settings in variables (@x = @@setting)")
                }
                continue
            }
            var name = a.word()?.lowercased() ?? ""
            if name == "session" || name == "local" { name = a.word()?.lowercased() ?? "" }
            if name == "global" || name.hasPrefix("persist") { return globalVerdict(assignment) }
            if name == "names" || name == "charset" || (name == "character" && a.word() == "SET") {
                guard let charset = a.next() else { return .refused("SET \(name.uppercased()) without a character set") }
                let plain = charset.trimmingCharacters(in: CharacterSet(charactersIn: "'\"`")).lowercased()
                if !asciiCompatibleCharsets.contains(plain) && plain != "default" {
                    return .refused("SET \(name.uppercased()) \(plain): only ASCII-compatible character sets (\(asciiCompatibleCharsets.sorted().joined(separator: ", "))) keep quotes where the client sees them")
                }
                if a.word() == "COLLATE" { _ = a.next() }
                if a.next() != nil { return .refused("SET \(name.uppercased()) with more than a character set and a collation") }
                continue
            }
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
        let literal = unquoted(value)
        if ["sql_mode", "character_set_client", "character_set_connection", "character_set_results", "collation_connection"].contains(variable),
           let literal, literal.first?.isNumber == true || literal.hasPrefix("-") {
            return .refused("SET \(variable) to a number: a dump names modes and character sets")
        }
        if variable == "sql_mode", let literal {
            let modes = literal.uppercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if let bad = modes.first(where: { changingQuoting.contains($0) }) {
                return .refused("SET sql_mode with \(bad) changes how quotes and backslashes are read, so the client would split the dump differently; export without it")
            }
        }
        if ["character_set_client", "character_set_connection", "character_set_results", "charset", "names", "character set"].contains(variable),
           let literal, !asciiCompatibleCharsets.contains(literal.lowercased()) {
            return .refused("SET \(variable) = \(literal): only ASCII-compatible character sets (\(asciiCompatibleCharsets.sorted().joined(separator: ", "))) keep quotes where the client sees them")
        }
        return nil
    }

    /// sql_mode names under which quotes or backslashes mean something else.
    static let changingQuoting: Set<String> = ["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI", "ORACLE", "MSSQL", "DB2", "POSTGRESQL", "MAXDB"]
    /// Character sets in which every byte below 0x80 is that ASCII character.
    static let asciiCompatibleCharsets: Set<String> = ["utf8", "utf8mb3", "utf8mb4", "latin1", "latin2", "latin5", "latin7", "ascii", "binary",
                                                       "cp1250", "cp1251", "cp1256", "cp1257", "cp850", "cp852", "cp866", "koi8r", "koi8u", "greek", "hebrew", "armscii8", "geostd8", "keybcs2", "macce", "macroman", "swe7", "dec8", "hp8", "tis620"]

    /// The value as plain text when it is one literal or bare word; nil for a variable (`@x`, `@@x`).
    static func unquoted(_ value: String) -> String? {
        var t = Tokens(value)
        guard let token = t.next() else { return nil }
        if token.hasPrefix("@") { return nil }
        if token.hasPrefix("'") || token.hasPrefix("\"") { return String(token.dropFirst().dropLast()) }
        return token
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
        var tokens: [String] = []
        while let token = t.next() { tokens.append(token) }
        let text = value.trimmedWhitespace.prefix(60)
        if tokens.contains("(") { return "SET with an expression (\(text)); a dump sets plain values" }
        // One literal, word or number (signed), or one variable: @x, @@x, @@session.x.
        var rest = tokens[...]
        if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
        if rest.first == "@" {
            rest = rest.dropFirst()
            if rest.first == "@" { rest = rest.dropFirst() }
            if rest.count == 3, rest[rest.startIndex + 1] == "." { return nil }
        }
        if rest.count == 3, rest[rest.startIndex + 1] == ".", rest.allSatisfy({ $0 == "." || $0.allSatisfy(\.isNumber) }) { return nil }
        if rest.count <= 1 { return nil }
        // NAMES x COLLATE y (the caller passes only what follows `=`, so this is a value with more words).
        return "SET with more than one value (\(text)); a dump sets plain values"
    }

    /// A refusal carried through a `Result`.
    struct RefusalVerdict: Error {
        let verdict: Verdict
        static func refused(_ message: String) -> RefusalVerdict { RefusalVerdict(verdict: .refused(message)) }
    }

    /// A database's character set and collation, rebuilt from their names (the restore runs its own
    /// statement with them, so nothing else of the dump's text reaches it); MySQL 8's
    /// `DEFAULT ENCRYPTION='N'` is read and dropped. nil: none given.
    static func databaseOptions(_ t: inout Tokens) -> Result<String?, RefusalVerdict> {
        var options: [String] = []
        while let w = t.word() {
            switch w {
            case "DEFAULT": continue
            case "CHARACTER", "CHARSET", "COLLATE":
                if w == "CHARACTER" { guard t.word() == "SET" else { return .failure(.refused("DATABASE options with CHARACTER but no SET")) } }
                _ = t.symbol("=")
                guard let value = t.identifier(), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    return .failure(.refused("DATABASE options with an odd \(w) value"))
                }
                options.append("\(w == "COLLATE" ? "COLLATE" : "CHARACTER SET") \(value)")
            case "ENCRYPTION":
                _ = t.symbol("=")
                guard let v = t.next(), ["'N'", "'Y'", "\"N\"", "\"Y\""].contains(v.uppercased()) else { return .failure(.refused("DATABASE options with an odd ENCRYPTION value")) }
            default:
                return .failure(.refused("DATABASE options with \(w): only CHARACTER SET and COLLATE are taken from a dump"))
            }
        }
        if t.next() != nil { return .failure(.refused("DATABASE options with more than a character set and a collation")) }
        return .success(options.isEmpty ? nil : "DEFAULT " + options.joined(separator: " "))
    }

    // MARK: - DDL

    static func classifyAlter(_ t: inout Tokens, text: String) -> Verdict {
        switch t.word() {
        case "TABLE":
            guard t.qualifiedName() != nil else { return .refused("ALTER TABLE without a name") }
            let rest = t.rest.trimmedWhitespace.uppercased()
            if rest == "DISABLE KEYS" || rest == "ENABLE KEYS" { return .skip(note: nil) }
            return .refused("ALTER TABLE other than DISABLE/ENABLE KEYS")
        case "DATABASE", "SCHEMA":
            // ALTER DATABASE [name] options: the name is optional and then means the session's database.
            let keywords: Set<String> = ["DEFAULT", "CHARACTER", "CHARSET", "COLLATE"]
            var name: String?
            if !(t.peekWord().map(keywords.contains) ?? false) {
                guard let n = t.identifier() else { return .refused("ALTER DATABASE without options") }
                name = n
            }
            switch databaseOptions(&t) {
            case .failure(let refusal): return refusal.verdict
            case .success(let options):
                guard let options else { return .refused("ALTER DATABASE without a character set or collation") }
                return .alterDatabase(name: name, statement: "ALTER DATABASE " + options)
            }
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
            guard t.next() == nil else { return .refused("DROP DATABASE with more after its name") }
            return .dropDatabase(name)
        case "TABLE", "VIEW":
            var names: [QualifiedName] = []
            repeat {
                guard let n = t.qualifiedName() else { return .refused("DROP \(what) without a name") }
                names.append(n)
            } while t.symbol(",")
            while let w = t.peekWord(), w == "RESTRICT" || w == "CASCADE" { _ = t.word() }
            guard t.next() == nil else { return .refused("DROP \(what) with more after its names") }
            return what == "TABLE" ? .table(create: false, names: names) : .postData(names: names)
        case "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT", "SEQUENCE":
            guard let n = t.qualifiedName() else { return .refused("DROP \(what) without a name") }
            guard t.next() == nil else { return .refused("DROP \(what) with more after its name") }
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
            switch databaseOptions(&t) {
            case .failure(let refusal): return refusal.verdict
            case .success(let options): return .createDatabase(name: name, options: options)
            }
        }
        if word == "TEMPORARY" { return .refused("CREATE TEMPORARY TABLE") }
        if word == "TABLE" {
            t.skipIfNotExists()
            guard let name = t.qualifiedName() else { return .refused("CREATE TABLE without a name") }
            guard t.peek(where: { $0 == "(" }) else {
                return .refused("CREATE TABLE \(name.name) is not a column definition (LIKE and SELECT forms read other tables)")
            }
            var body = t
            guard t.skipParenthesized() else { return .refused("CREATE TABLE \(name.name) with an unclosed column list") }
            // Names with a database inside the definition: foreign keys, generated columns' functions.
            let inner = Tokens.qualifiedPairs(body.tokens(upTo: t))
            var options: [String] = []
            while let token = t.next() { options.append(token.uppercased()) }
            if let bad = options.first(where: { ["SELECT", "AS", "LIKE", "IGNORE", "REPLACE", "UNION", "DIRECTORY", "CONNECTION", "TABLESPACE", "ENCRYPTION_KEY_ID"].contains($0) }) {
                return .refused("CREATE TABLE \(name.name) with \(bad) after its columns (it would read, link or place data outside the database)")
            }
            if let i = options.firstIndex(of: "ENGINE") {
                let value = options[(i + 1)...].first { $0 != "=" } ?? ""
                if !["INNODB", "ARIA", "MYISAM", "MEMORY", "ARCHIVE", "SEQUENCE", "CSV"].contains(value.trimmingCharacters(in: CharacterSet(charactersIn: "`'\""))) {
                    return .refused("CREATE TABLE \(name.name) with ENGINE=\(value): only local storage engines (InnoDB, Aria, MyISAM, MEMORY, ARCHIVE, CSV) are restored")
                }
            }
            return .table(create: true, names: [name] + inner)
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
        let bodyStart = t
        if let problem = bodyProblem(bodyStart.rest) { return .refused(problem) }
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

    /// Statements a view, trigger, routine or event must not hold: they would act outside the
    /// database (as their DEFINER) when they run later. Also names in the server's own schemas.
    static func bodyProblem(_ text: String) -> String? {
        var t = Tokens(text)
        var words: [String] = []
        while let token = t.next() { words.append(token.uppercased()) }
        let pairs: [(String, Set<String>)] = [
            ("GRANT", []), ("REVOKE", []), ("CREATE", ["USER", "ROLE", "DATABASE", "SCHEMA", "SERVER"]), ("DROP", ["USER", "ROLE", "DATABASE", "SCHEMA", "SERVER"]),
            ("ALTER", ["USER", "ROLE", "DATABASE", "SCHEMA", "SERVER"]), ("RENAME", ["USER", "TABLE"]), ("SET", ["GLOBAL", "PASSWORD", "ROLE", "DEFAULT", "PERSIST"]),
            ("INSTALL", []), ("UNINSTALL", []), ("SONAME", []), ("LOAD", ["DATA", "XML"]), ("INTO", ["OUTFILE", "DUMPFILE"]), ("LOAD_FILE", []),
            ("SHUTDOWN", []), ("KILL", []), ("CHANGE", ["MASTER", "REPLICATION"]), ("RESET", ["MASTER", "SLAVE", "REPLICA"]), ("PURGE", []),
            ("FLUSH", []), ("PREPARE", []), ("EXECUTE", []), ("DEALLOCATE", []), ("GLOBAL", []), ("PERSIST", []), ("PERSIST_ONLY", []),
        ]
        if hasTopLevelSemicolon(words) {
            return "a view, trigger, routine or event whose body is several statements outside BEGIN … END: the server would run the rest on its own"
        }
        for (i, w) in words.enumerated() {
            guard let rule = pairs.first(where: { $0.0 == w }) else { continue }
            if rule.1.isEmpty { return "a view, trigger, routine or event holding \(w) would act outside its database when it runs; it is not restored" }
            if i + 1 < words.count, rule.1.contains(words[i + 1]) {
                return "a view, trigger, routine or event holding \(w) \(words[i + 1]) would act outside its database when it runs; it is not restored"
            }
            if w == "SET", i + 2 < words.count, words[i + 1] == "@", words[i + 2] == "@" {
                // SET @@GLOBAL.x inside a body
                if i + 3 < words.count, words[i + 3] == "GLOBAL" { return "a routine holding SET @@GLOBAL changes the whole server; it is not restored" }
            }
        }
        for pair in Tokens.qualifiedPairs(words) where systemSchemas.contains((pair.database ?? "").lowercased()) {
            return "a view, trigger, routine or event reading \((pair.database ?? "").lowercased()).\(pair.name.lowercased()) (the server's own schema) is not restored"
        }
        return nil
    }

    static let systemSchemas: Set<String> = ["mysql", "information_schema", "performance_schema", "sys"]

    /// A `;` outside every BEGIN … END and CASE … END (upper-cased tokens).
    static func hasTopLevelSemicolon(_ words: [String]) -> Bool {
        var depth = 0
        var i = 0
        while i < words.count {
            switch words[i] {
            case "BEGIN", "CASE": depth += 1
            case "END":
                let next = i + 1 < words.count ? words[i + 1] : ""
                if ["IF", "LOOP", "WHILE", "REPEAT", "FOR"].contains(next) { i += 1 } else {
                    depth -= 1
                    if next == "CASE" { i += 1 }
                }
            case ";":
                if depth <= 0 && i != words.count - 1 { return true }
            default: break
            }
            i += 1
        }
        return false
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
                chars = chars.drop(while: { !$0.isNewline })
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
        probe.skipSpace()
        if probe.chars.first == "." {
            probe.chars = probe.chars.dropFirst()
            if let second = probe.identifier() {
                self = probe
                return .init(database: first, name: second)
            }
        }
        return .init(database: nil, name: first)
    }

    /// The raw tokens from here up to where `end` (a later copy of this lexer) stands.
    mutating func tokens(upTo end: Tokens) -> [String] {
        var out: [String] = []
        while chars.count > end.chars.count, let token = next() { out.append(token) }
        return out
    }

    /// `a . b` pairs in a token list (identifiers unquoted), skipping numbers such as 1.5.
    static func qualifiedPairs(_ tokens: [String]) -> [DumpStatementPolicy.QualifiedName] {
        func ident(_ t: String) -> String? {
            if t.count >= 2, let f = t.first, f == "`" || f == "\"", t.last == f { return String(t.dropFirst().dropLast()) }
            guard let f = t.first, isWordChar(f), !t.allSatisfy(\.isNumber) else { return nil }
            return t
        }
        var out: [DumpStatementPolicy.QualifiedName] = []
        var i = 0
        while i + 2 < tokens.count {
            if tokens[i + 1] == ".", let a = ident(tokens[i]), let b = ident(tokens[i + 2]) {
                out.append(.init(database: a, name: b))
                i += 3
                continue
            }
            i += 1
        }
        return out
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
