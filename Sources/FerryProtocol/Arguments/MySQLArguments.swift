/// `ferry restore mysql`: drop, create, import and verify one database from the package.
/// Credentials come from files in `credentialsDir` (a mounted Secret), never from argv.
public struct MySQLArguments: StepArguments {
    public static let command = ["restore", "mysql"]
    public var package: String
    /// The database in the package.
    public var database: String
    /// Its name on the target (nil: the same).
    public var targetDatabase: String?
    public var host: String
    public var port: Int
    public var credentialsDir: String?
    /// Connections importing; 0: auto (`--parallelism auto`).
    public var parallelism: Int
    public var resultFile: String

    public init(package: String, database: String, targetDatabase: String? = nil, host: String = "127.0.0.1", port: Int = 3306,
                credentialsDir: String? = nil, parallelism: Int = 2, resultFile: String = TerminationMessage.path) {
        self.package = package
        self.database = database
        self.targetDatabase = targetDatabase
        self.host = host
        self.port = port
        self.credentialsDir = credentialsDir
        self.parallelism = parallelism
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("package", package)
        w.option("database", database)
        w.option("target-database", targetDatabase)
        w.option("host", host)
        w.option("port", port)
        w.option("credentials-dir", credentialsDir)
        // 0: `auto` (from the server's cores and the parts).
        w.count("parallelism", parallelism)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["package", "database", "target-database", "host", "port", "credentials-dir", "parallelism", "result-file"])
        self.init(package: try r.required("package"), database: try r.required("database"), targetDatabase: try r.optional("target-database"),
                  host: try r.optional("host") ?? "127.0.0.1", port: try r.int("port", default: 3306), credentialsDir: try r.optional("credentials-dir"),
                  parallelism: try r.count("parallelism", default: 2), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
