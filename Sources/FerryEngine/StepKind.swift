import FerryAPI

/// What a step name means, and who carries it out: a Job running
/// `ferry restore …` (data plane) or the controller itself (Kubernetes API
/// work: scaling, ConfigMaps, Jobs from templates).
public enum StepKind: Equatable, Sendable {
    case validate
    case presync
    case quiesce
    /// nil: the placeholder before validate has read which databases the package holds.
    case mysql(String?)
    /// `db.table`; nil: the placeholder before validate.
    case clickhouse(String?)
    case kafka
    /// Decrypt the package's config into a Secret.
    case config
    case resume
    case cache
    case rebuild(String)
    case files
    case unknown(String)

    public init(_ name: String) {
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        let argument = parts.count == 2 ? parts[1] : nil
        switch parts.first ?? "" {
        case "validate": self = .validate
        case "presync": self = .presync
        case "quiesce": self = .quiesce
        case "mysql": self = .mysql(argument)
        case "clickhouse": self = .clickhouse(argument)
        case "kafka": self = .kafka
        case "config": self = .config
        case "resume": self = .resume
        case "cache": self = .cache
        case "rebuild": self = argument.map { .rebuild($0) } ?? .unknown(name)
        case "files": self = .files
        default: self = .unknown(name)
        }
    }

    /// Whether a Job (the data plane) runs it; otherwise the controller does (the file
    /// sync is a long-running pod the controller drives).
    public var runsAsJob: Bool {
        switch self {
        case .validate, .mysql, .clickhouse, .kafka, .config, .cache: return true
        case .quiesce, .resume, .rebuild, .presync, .files, .unknown: return false
        }
    }

    /// Steps that drop or overwrite data on the target (a database, a table, consumer offsets,
    /// a Secret): once one has run, the app must not be started on a failed migration.
    public var changesData: Bool {
        switch self {
        case .mysql(let db): return db != nil
        case .clickhouse(let table): return table != nil
        case .kafka, .config: return true
        default: return false
        }
    }

    /// The file sync (`presync` or `files`).
    public var isFileSync: Bool { self == .presync || self == .files }

    /// A failure marks the migration Degraded and the plan continues (`optional: true` in the spec section).
    public func isOptional(in spec: MigrationSpec) -> Bool {
        switch self {
        case .mysql: return spec.mysql?.optional == true
        case .clickhouse: return spec.clickhouse?.optional == true
        case .kafka: return spec.kafka?.optional == true
        default: return false
        }
    }
}
