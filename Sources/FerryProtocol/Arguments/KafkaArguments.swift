/// `ferry restore kafka`: set consumer-group offsets, clamped to each partition's range.
/// SASL credentials and client certificates come from files in `credentialsDir`, never from argv.
public struct KafkaArguments: StepArguments {
    public static let command = ["restore", "kafka"]
    public var package: String
    /// Brokers, `host:port[,host:port…]`.
    public var bootstrap: String
    /// package, earliest, latest or timestamp.
    public var mode: String
    /// Groups to set (empty: every group in the package).
    public var groups: [String]
    /// RFC 3339, for mode timestamp.
    public var timestamp: String?
    public var tls: Bool
    public var tlsServerName: String?
    public var tlsInsecureSkipVerify: Bool
    public var credentialsDir: String?
    public var resultFile: String

    public init(package: String, bootstrap: String, mode: String = "package", groups: [String] = [], timestamp: String? = nil, tls: Bool = false,
                tlsServerName: String? = nil, tlsInsecureSkipVerify: Bool = false, credentialsDir: String? = nil, resultFile: String = TerminationMessage.path) {
        self.package = package
        self.bootstrap = bootstrap
        self.mode = mode
        self.groups = groups
        self.timestamp = timestamp
        self.tls = tls
        self.tlsServerName = tlsServerName
        self.tlsInsecureSkipVerify = tlsInsecureSkipVerify
        self.credentialsDir = credentialsDir
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("package", package)
        w.option("bootstrap", bootstrap)
        w.option("mode", mode)
        w.options("group", groups)
        w.option("timestamp", timestamp)
        w.flag("tls", tls)
        w.option("tls-server-name", tlsServerName)
        w.flag("tls-insecure-skip-verify", tlsInsecureSkipVerify)
        w.option("credentials-dir", credentialsDir)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["package", "bootstrap", "mode", "group", "timestamp", "tls-server-name", "credentials-dir", "result-file"],
                               flags: ["tls", "tls-insecure-skip-verify"])
        self.init(package: try r.required("package"), bootstrap: try r.required("bootstrap"), mode: try r.optional("mode") ?? "package", groups: r.list("group"),
                  timestamp: try r.optional("timestamp"), tls: r.flag("tls"), tlsServerName: try r.optional("tls-server-name"),
                  tlsInsecureSkipVerify: r.flag("tls-insecure-skip-verify"), credentialsDir: try r.optional("credentials-dir"),
                  resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
