/// `ferry restore validate`: check the package, its version, the target endpoints and volumes
/// before anything is stopped; reports the package's contents (``ValidateResult``).
public struct ValidateArguments: StepArguments {
    public static let command = ["restore", "validate"]

    /// A target server to reach, named by the spec field that names it (`spec.mysql`).
    public struct Endpoint: Codable, Equatable, Sendable {
        public var name: String
        public var host: String
        public var port: Int
        public init(name: String, host: String, port: Int) {
            self.name = name
            self.host = host
            self.port = port
        }

        /// `name=host:port` (the host may hold colons: the port is after the last).
        public var text: String { "\(name)=\(host):\(port)" }

        public init(text: String) throws {
            guard let eq = text.firstIndex(of: "="), let colon = text.lastIndex(of: ":"), colon > eq, let port = Int(text[text.index(after: colon)...]) else {
                throw ArgvError("--endpoint \(text) must be name=host:port")
            }
            self.init(name: String(text[..<eq]), host: String(text[text.index(after: eq)..<colon]), port: port)
        }
    }

    /// A mounted target volume: what the spec calls it and where it is.
    public struct Volume: Codable, Equatable, Sendable {
        public var name: String
        public var path: String
        public init(name: String, path: String) {
            self.name = name
            self.path = path
        }

        /// `name=path` (the name holds no `=`).
        public var text: String { "\(name)=\(path)" }

        public init(text: String) throws {
            let (name, path) = try ArgvReader.pair(text, option: "volume", shape: "name=path", emptyRight: true)
            self.init(name: name, path: path)
        }
    }

    /// `spec.mysql.external`: a database checked where it is (reachable, the expected schemas there), never restored.
    public struct External: Codable, Equatable, Sendable {
        /// Empty: the address the package names.
        public var host: String
        /// nil: the package's, else 3306.
        public var port: Int?
        /// The mounted Secret with username and password.
        public var credentialsDir: String
        public init(host: String, port: Int?, credentialsDir: String) {
            self.host = host
            self.port = port
            self.credentialsDir = credentialsDir
        }
    }

    public var package: String
    /// spec.appVersion.
    public var appVersion: String
    public var allowVersionMismatch: Bool
    /// Databases the spec restores (empty: all in the package).
    public var databases: [String]
    /// ClickHouse `db.table`s the spec restores (empty: all).
    public var tables: [String]
    /// Package folders the spec copies (`spec.files[].from`).
    public var folders: [String]
    /// Kinds the spec restores (mysql, clickhouse, kafka, config): a package without one is refused.
    public var required: [String]
    public var endpoints: [Endpoint]
    public var volumes: [Volume]
    public var external: External?
    /// Package folders whose `.tar.gz` archives are unpacked before the copy (`spec.files[].unpack`): each read through here.
    public var unpack: [String] = []
    public var resultFile: String

    public init(package: String, appVersion: String, allowVersionMismatch: Bool = false, databases: [String] = [], tables: [String] = [], folders: [String] = [],
                required: [String] = [], endpoints: [Endpoint] = [], volumes: [Volume] = [], external: External? = nil, resultFile: String = TerminationMessage.path) {
        self.external = external
        self.package = package
        self.appVersion = appVersion
        self.allowVersionMismatch = allowVersionMismatch
        self.databases = databases
        self.tables = tables
        self.folders = folders
        self.required = required
        self.endpoints = endpoints
        self.volumes = volumes
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("package", package)
        w.option("app-version", appVersion)
        w.flag("allow-version-mismatch", allowVersionMismatch)
        w.options("database", databases)
        w.options("table", tables)
        w.options("folder", folders)
        w.options("require", required)
        w.options("endpoint", endpoints.map(\.text))
        w.options("volume", volumes.map(\.text))
        if let external {
            w.option("external-host", external.host)
            if let port = external.port { w.option("external-port", String(port)) }
            w.option("external-credentials", external.credentialsDir)
        }
        w.options("unpack", unpack)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["package", "app-version", "database", "table", "folder", "require", "endpoint", "volume", "external-host", "external-port", "external-credentials", "unpack", "result-file"],
                               flags: ["allow-version-mismatch"])
        self.init(package: try r.required("package"), appVersion: try r.required("app-version"), allowVersionMismatch: r.flag("allow-version-mismatch"),
                  databases: r.list("database"), tables: r.list("table"), folders: r.list("folder"), required: r.list("require"),
                  endpoints: try r.list("endpoint").map(Endpoint.init(text:)), volumes: try r.list("volume").map(Volume.init(text:)),
                  external: try r.optional("external-credentials").map { External(host: try r.optional("external-host") ?? "", port: try r.int("external-port"), credentialsDir: $0) },
                  resultFile: try r.optional("result-file") ?? TerminationMessage.path)
        unpack = r.list("unpack")
    }
}
