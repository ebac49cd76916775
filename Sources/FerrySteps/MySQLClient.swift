import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a MySQL/MariaDB server is and who to log in as. The password comes
/// from a Secret (environment or mounted file), never from argv.
public struct MySQLEndpoint: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String

    public init(host: String, port: Int, user: String, password: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }
}

/// Talks to MySQL/MariaDB through its command-line client (`mariadb`, else
/// `mysql`): credentials go in a private defaults file (mode 0600 in a 0700
/// directory, deleted on close), statements go on stdin. Blocking.
public final class MySQLClient: @unchecked Sendable {
    public let endpoint: MySQLEndpoint
    public let program: String
    let workDirectory: String
    let defaultsFile: String

    public init(_ endpoint: MySQLEndpoint) throws {
        self.endpoint = endpoint
        program = MySQLClient.findProgram(["mariadb", "mysql"]) ?? "mariadb"
        var template = Array((NSTemporaryDirectory() + "/ferry-mysql.XXXXXX").utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw StepError.io("cannot create a private temporary directory: \(String(cString: strerror(errno)))")
        }
        workDirectory = String(cString: dir)
        defaultsFile = workDirectory + "/client.cnf"
        let text = """
        [client]
        host=\(endpoint.host)
        port=\(endpoint.port)
        protocol=TCP
        user=\(MySQLClient.optionValue(endpoint.user))
        password=\(MySQLClient.optionValue(endpoint.password))

        """
        let fd = open(defaultsFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StepError.io("cannot write \(defaultsFile): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw StepError.io("cannot write \(defaultsFile)") }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// The first of `names` on PATH (`mariadb` before `mysql`, `mariadb-dump` before `mysqldump`).
    static func findProgram(_ names: [String]) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in names {
            for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return name }
        }
        return nil
    }

    /// An option-file value: double-quoted with backslash escapes.
    static func optionValue(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    /// Starts a client reading statements from stdin, for `database` (or none).
    func start(database: String?, extra: [String] = []) throws -> ChildProcess {
        var args = ["--defaults-file=\(defaultsFile)", "--batch", "--max-allowed-packet=1073741824"]
        if let database { args.append("--database=\(database)") }
        return try ChildProcess(program, args + extra, pipeStdin: true, outputDirectory: workDirectory)
    }

    /// Runs a script; throws the client's error message (with where it ran) on failure.
    @discardableResult
    public func run(_ script: String, database: String? = nil, what: String) throws -> String {
        let child = try start(database: database, extra: ["--skip-column-names"])
        defer { child.removeOutputs() }
        _ = child.write(script)
        let code = child.wait()
        guard code == 0 else { throw StepError.target(Self.failure(child, what: what, endpoint: endpoint, code: code)) }
        return child.stdout
    }

    /// Rows of a query in batch mode: tab-separated fields, unescaped.
    public func query(_ sql: String, database: String? = nil) throws -> [[String]] {
        let out = try run(sql, database: database, what: "query")
        return out.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }.map { line in
            line.split(separator: "\t", omittingEmptySubsequences: false).map { Self.unescapeBatchField(String($0)) }
        }
    }

    /// Batch mode writes \n, \t, \\ and \0 escaped.
    static func unescapeBatchField(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var escaping = false
        for c in s {
            if escaping {
                switch c {
                case "n": out += "\n"
                case "t": out += "\t"
                case "0": out += "\0"
                default: out.append(c)
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// The client's own message, e.g. `ERROR 1045 (28000): Access denied ...`, with the endpoint.
    static func failure(_ child: ChildProcess, what: String, endpoint: MySQLEndpoint, code: Int32) -> String {
        let message = child.stderr.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("--------------") }.suffix(3).joined(separator: " ")
        return "\(what) on \(endpoint.host):\(endpoint.port) failed (\(child.program) exit \(code)): \(message.isEmpty ? "no message" : message)"
    }

    /// A backtick-quoted identifier.
    public static func quoteIdentifier(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "`", with: "``") + "`"
    }

    /// A single-quoted string literal.
    public static func quoteString(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
