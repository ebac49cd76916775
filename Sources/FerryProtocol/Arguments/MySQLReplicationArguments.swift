/// Where the old server (the replication source) and the new one (the target) are. Credentials
/// come from files in the two folders (mounted Secrets), never from argv.
public struct MySQLServers: Equatable, Sendable {
    public var sourceHost: String
    public var sourcePort: Int
    public var sourceCredentialsDir: String?
    public var host: String
    public var port: Int
    public var credentialsDir: String?

    public init(sourceHost: String, sourcePort: Int = 3306, sourceCredentialsDir: String? = nil, host: String = "127.0.0.1", port: Int = 3306, credentialsDir: String? = nil) {
        self.sourceHost = sourceHost
        self.sourcePort = sourcePort
        self.sourceCredentialsDir = sourceCredentialsDir
        self.host = host
        self.port = port
        self.credentialsDir = credentialsDir
    }

    static let options: Set<String> = ["source-host", "source-port", "source-credentials-dir", "host", "port", "credentials-dir"]

    func write(_ w: inout ArgvWriter) {
        w.option("source-host", sourceHost)
        w.option("source-port", sourcePort)
        w.option("source-credentials-dir", sourceCredentialsDir)
        w.option("host", host)
        w.option("port", port)
        w.option("credentials-dir", credentialsDir)
    }

    init(_ r: ArgvReader) throws {
        self.init(sourceHost: try r.required("source-host"), sourcePort: try r.int("source-port", default: 3306), sourceCredentialsDir: try r.optional("source-credentials-dir"),
                  host: try r.optional("host") ?? "127.0.0.1", port: try r.int("port", default: 3306), credentialsDir: try r.optional("credentials-dir"))
    }
}

/// `ferry mysql snapshot`: one consistent dump of the source's databases with its GTID position,
/// restored into the target (checked, parallel, verified), which then replicates from the source
/// at that position, read-only.
public struct MySQLSnapshotArguments: StepArguments {
    public static let command = ["mysql", "snapshot"]
    public var servers: MySQLServers
    /// Empty: every database on the source but the system ones.
    public var databases: [String]
    /// Connections restoring each database; 0: auto (`--parallelism auto`).
    public var parallelism: Int
    /// Where the dump is written while it is restored (default: TMPDIR).
    public var workDir: String?
    /// Replace databases already on the target (only those an earlier run of this step wrote).
    public var replaceExisting: Bool
    /// Reverse replication will be set up after the cutover: check now that it can be.
    public var reversible: Bool
    /// Restore the package's dumps (exported with `mysql.gtid: true`) and replicate from the
    /// position they recorded, instead of dumping the running source.
    public var package: String?
    public var resultFile: String

    public init(servers: MySQLServers, databases: [String] = [], parallelism: Int = 2, workDir: String? = nil, replaceExisting: Bool = false, reversible: Bool = false,
                package: String? = nil, resultFile: String = TerminationMessage.path) {
        self.package = package
        self.servers = servers
        self.databases = databases
        self.parallelism = parallelism
        self.workDir = workDir
        self.replaceExisting = replaceExisting
        self.reversible = reversible
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        servers.write(&w)
        w.options("database", databases)
        w.count("parallelism", parallelism)
        w.option("work-dir", workDir)
        w.flag("replace-existing", replaceExisting)
        w.flag("reversible", reversible)
        w.option("package", package)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: MySQLServers.options.union(["database", "parallelism", "work-dir", "package", "result-file"]), flags: ["replace-existing", "reversible"])
        self.init(servers: try MySQLServers(r), databases: r.list("database"), parallelism: try r.count("parallelism", default: 2), workDir: try r.optional("work-dir"),
                  replaceExisting: r.flag("replace-existing"), reversible: r.flag("reversible"), package: try r.optional("package"), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}

/// `ferry mysql status`: how far the target's replication is behind the source, once.
public struct MySQLStatusArguments: StepArguments {
    public static let command = ["mysql", "status"]
    public var servers: MySQLServers
    public var resultFile: String

    public init(servers: MySQLServers, resultFile: String = TerminationMessage.path) {
        self.servers = servers
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        servers.write(&w)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: MySQLServers.options.union(["result-file"]))
        self.init(servers: try MySQLServers(r), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}

/// `ferry mysql cutover`: the source read-only, the target caught up to the source's last
/// transaction (within `timeoutSeconds`, else the source is made writable again), then promoted:
/// replication stopped and reset, writable.
public struct MySQLCutoverArguments: StepArguments {
    public static let command = ["mysql", "cutover"]
    public var servers: MySQLServers
    public var timeoutSeconds: Int
    /// Refuse, before the source is touched, when the target is further behind than this (a fresh look).
    public var maxLagSeconds: Int?
    /// Kill the connections still holding write transactions on the source once it is read-only.
    public var killWriters: Bool
    /// Back to the old server: the new one (`host`) read-only, the old one (`sourceHost`), which
    /// replicates from it through `reverseHost:reversePort`, caught up and promoted.
    public var back: Bool
    public var reverseHost: String?
    public var reversePort: Int?
    /// The migrated databases (recorded for reverse replication).
    public var databases: [String]
    public var resultFile: String

    public init(servers: MySQLServers, timeoutSeconds: Int = 30, maxLagSeconds: Int? = nil, killWriters: Bool = false, back: Bool = false, reverseHost: String? = nil, reversePort: Int? = nil,
                databases: [String] = [], resultFile: String = TerminationMessage.path) {
        self.databases = databases
        self.servers = servers
        self.timeoutSeconds = timeoutSeconds
        self.maxLagSeconds = maxLagSeconds
        self.killWriters = killWriters
        self.back = back
        self.reverseHost = reverseHost
        self.reversePort = reversePort
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        servers.write(&w)
        w.option("timeout-seconds", timeoutSeconds)
        w.option("max-lag-seconds", maxLagSeconds)
        w.flag("kill-writers", killWriters)
        w.flag("back", back)
        w.option("reverse-host", reverseHost)
        w.option("reverse-port", reversePort)
        w.options("database", databases)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: MySQLServers.options.union(["timeout-seconds", "max-lag-seconds", "reverse-host", "reverse-port", "database", "result-file"]),
                               flags: ["kill-writers", "back"])
        self.init(servers: try MySQLServers(r), timeoutSeconds: try r.int("timeout-seconds", default: 30), maxLagSeconds: try r.int("max-lag-seconds"), killWriters: r.flag("kill-writers"),
                  back: r.flag("back"), reverseHost: try r.optional("reverse-host"), reversePort: try r.int("reverse-port"), databases: r.list("database"), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}

/// `ferry mysql reverse`: after the cutover, the old server (the source) becomes a replica of
/// the new one from `from` (the new one's position at its promotion), for `databases`, reaching
/// it through `reverseHost:reversePort`; refused when the old server holds transactions the new
/// one never applied.
public struct MySQLReverseArguments: StepArguments {
    public static let command = ["mysql", "reverse"]
    public var servers: MySQLServers
    public var from: String
    public var databases: [String]
    public var reverseHost: String
    public var reversePort: Int
    public var resultFile: String

    public init(servers: MySQLServers, from: String, databases: [String], reverseHost: String, reversePort: Int = 3306, resultFile: String = TerminationMessage.path) {
        self.servers = servers
        self.from = from
        self.databases = databases
        self.reverseHost = reverseHost
        self.reversePort = reversePort
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        servers.write(&w)
        w.option("from", from)
        w.options("database", databases)
        w.option("reverse-host", reverseHost)
        w.option("reverse-port", reversePort)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: MySQLServers.options.union(["from", "database", "reverse-host", "reverse-port", "result-file"]))
        self.init(servers: try MySQLServers(r), from: try r.optional("from") ?? "", databases: r.list("database"), reverseHost: try r.required("reverse-host"),
                  reversePort: try r.int("reverse-port", default: 3306), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}

/// `ferry mysql watch`: looks at replication every `intervalSeconds` and prints each look as one
/// ``ReplicationStatus/logLine(_:at:)`` line, until it is stopped (the replication step's monitor Job).
public struct MySQLWatchArguments: StepArguments {
    public static let command = ["mysql", "watch"]
    public var servers: MySQLServers
    public var intervalSeconds: Int
    /// Compare every replicated table on both sides while replication runs (``ReplicationVerification``).
    public var verify: Bool
    /// Rows per compared chunk.
    public var chunkRows: Int
    /// The migrated databases: the target's replication filter must be exactly these (a restarted
    /// server forgets it), and they are what is compared. Empty: read the filter.
    public var databases: [String]
    public var resultFile: String

    public init(servers: MySQLServers, intervalSeconds: Int = 5, verify: Bool = false, chunkRows: Int = 10_000, databases: [String] = [], resultFile: String = TerminationMessage.path) {
        self.databases = databases
        self.servers = servers
        self.intervalSeconds = intervalSeconds
        self.verify = verify
        self.chunkRows = chunkRows
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        servers.write(&w)
        w.option("interval-seconds", intervalSeconds)
        w.flag("verify", verify)
        w.option("chunk-rows", chunkRows)
        w.options("database", databases)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: MySQLServers.options.union(["interval-seconds", "chunk-rows", "database", "result-file"]), flags: ["verify"])
        self.init(servers: try MySQLServers(r), intervalSeconds: try r.int("interval-seconds", default: 5), verify: r.flag("verify"), chunkRows: try r.int("chunk-rows", default: 10_000),
                  databases: r.list("database"), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
