/// `ferry restore cache`: flush the Redis cache (all databases, or one). The password comes
/// from a file in `credentialsDir`, never from argv.
public struct CacheArguments: StepArguments {
    public static let command = ["restore", "cache"]
    public var host: String
    public var port: Int
    /// nil: every database (FLUSHALL).
    public var database: Int?
    public var credentialsDir: String?
    public var resultFile: String

    public init(host: String = "127.0.0.1", port: Int = 6379, database: Int? = nil, credentialsDir: String? = nil, resultFile: String = TerminationMessage.path) {
        self.host = host
        self.port = port
        self.database = database
        self.credentialsDir = credentialsDir
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("host", host)
        w.option("port", port)
        w.option("database", database)
        w.option("credentials-dir", credentialsDir)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["host", "port", "database", "credentials-dir", "result-file"])
        self.init(host: try r.optional("host") ?? "127.0.0.1", port: try r.int("port", default: 6379), database: try r.int("database"),
                  credentialsDir: try r.optional("credentials-dir"), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
