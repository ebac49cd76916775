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
/// `mysql`): credentials go in an option file that lives only in memory (a
/// memfd, handed to each client as `/dev/fd/3`), so no ending of the process,
/// not even SIGKILL, leaves a password on disk; statements go on stdin.
/// Blocking.
public final class MySQLClient: @unchecked Sendable {
    public let endpoint: MySQLEndpoint
    public let program: String
    /// Holds the clients' stdout/stderr files (never a secret).
    let workDirectory: String
    /// The in-memory option file (close-on-exec here; each client gets it as fd 3).
    let defaultsFD: Int32
    /// What the clients are told: `/dev/fd/3`.
    let defaultsFile = "/dev/fd/3"

    public init(_ endpoint: MySQLEndpoint) throws {
        self.endpoint = endpoint
        program = MySQLClient.findProgram(["mariadb", "mysql"]) ?? "mariadb"
        var template = Array((NSTemporaryDirectory() + "/ferry-mysql.XXXXXX").utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw StepError.io("cannot create a private temporary directory: \(String(cString: strerror(errno)))")
        }
        workDirectory = String(cString: dir)
        let text = """
        [client]
        host=\(MySQLClient.optionValue(endpoint.host))
        port=\(endpoint.port)
        protocol=TCP
        user=\(MySQLClient.optionValue(endpoint.user))
        password=\(MySQLClient.optionValue(endpoint.password))

        """
        var fd = MySQLClient.memoryFile("ferry-mysql-client")
        guard fd >= 0 else {
            rmdir(workDirectory)
            throw StepError.io("cannot create an in-memory option file: \(String(cString: strerror(errno)))")
        }
        if fd == 3 {
            // dup2(3, 3) would keep close-on-exec: move it out of the child's slot.
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            close(fd)
            fd = moved
        }
        // A memfd starts 0777; the client ignores a world-writable option file.
        fchmod(fd, 0o400)
        defaultsFD = fd
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            close(fd)
            rmdir(workDirectory)
            throw StepError.io("cannot write the in-memory option file")
        }
    }

    /// glibc's memfd_create(name, MFD_CLOEXEC), looked up (Swift's Glibc module does not export it).
    static func memoryFile(_ name: String) -> Int32 {
        typealias MemFDCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "memfd_create") else {
            errno = ENOSYS
            return -1
        }
        let create = unsafeBitCast(symbol, to: MemFDCreate.self)
        return name.withCString { create($0, 1 /* MFD_CLOEXEC */) }
    }

    deinit {
        close(defaultsFD)
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
        // --binary-mode: no client commands (\\! runs a shell, \\. reads a file) from what is piped in.
        var args = ["--defaults-file=\(defaultsFile)", "--batch", "--binary-mode", "--max-allowed-packet=1073741824"]
        if let database { args.append("--database=\(database)") }
        return try ChildProcess(program, args + extra, pipeStdin: true, outputDirectory: workDirectory, inherit: defaultsFD)
    }

    /// Runs a script; throws the client's error message (with where it ran) on failure.
    @discardableResult
    public func run(_ script: String, database: String? = nil, what: String, columnNames: Bool = false) throws -> String {
        let child = try start(database: database, extra: columnNames ? [] : ["--skip-column-names"])
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
            line.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) }
        }
    }

    /// Rows of a query as column name → value (`SHOW SLAVE STATUS` and the like).
    public func queryNamed(_ sql: String, what: String = "query") throws -> [[String: String]] {
        let lines = try run(sql, what: what, columnNames: true).split(separator: "\n").map { line in
            line.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) }
        }
        guard let names = lines.first else { return [] }
        return lines.dropFirst().map { Dictionary(zip(names, $0), uniquingKeysWith: { a, _ in a }) }
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
