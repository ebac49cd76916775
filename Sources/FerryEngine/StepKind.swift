import FerryAPI
import FerryProtocol

/// What a step name means, and everything the engine knows of each kind: where it stands in
/// the plan and which steps a spec gives it, who carries it out (a Job running `ferry restore
/// …`, or the controller itself: scaling, ConfigMaps, Jobs from templates, the transfer pod),
/// whether it replaces data, and the type of its report. A new kind is one case here; the
/// switches below have no `default`, so the compiler names every place it must answer.
public enum StepKind: Equatable, Sendable {
    case validate
    case presync
    case quiesce
    /// Mode replicate: a consistent copy of the source, then the target replicates from it.
    case mysqlSnapshot
    /// Mode replicate: the target follows the source until the cutover is asked for and the lag allows it.
    case mysqlReplicate
    /// Mode replicate, with `spec.mysql.cutover.stopSource`: the user's Job that stops the old application.
    case mysqlStopSource
    /// Mode replicate: the source read-only, the target caught up and promoted.
    case mysqlCutover
    /// With `reverseReplication`: the old server made a replica of the new one.
    case mysqlReverse
    /// With `reverseReplication`, on `ferry.dev/cutover=reverse` only: back to the old server.
    case mysqlCutback
    /// nil: the placeholder before validate has read which databases the package holds.
    case mysql(String?)
    /// `spec.mysql.external`: nothing restored; the application's config pointed at the external database.
    case mysqlExternal
    /// `db.table`; nil: the placeholder before validate.
    case clickhouse(String?)
    /// `spec.clickhouse.copy`: the source's tables created on the target, engines rewritten.
    case clickhouseSchema
    /// `spec.clickhouse.copy.incremental`: copied online, the newest partitions kept in step until the cutover.
    case clickhouseSync
    /// A `spec.clickhouse.copy.tables` entry (`db.table` or a pattern) copied live from the source servers.
    case clickhouseCopy(String)
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
        case "mysql-snapshot" where argument == nil: self = .mysqlSnapshot
        case "mysql-replicate" where argument == nil: self = .mysqlReplicate
        case "mysql-stop-source" where argument == nil: self = .mysqlStopSource
        case "mysql-cutover" where argument == nil: self = .mysqlCutover
        case "mysql-reverse" where argument == nil: self = .mysqlReverse
        case "mysql-cutback" where argument == nil: self = .mysqlCutback
        case "mysql": self = .mysql(argument)
        case "mysql-external" where argument == nil: self = .mysqlExternal
        case "clickhouse": self = .clickhouse(argument)
        case "clickhouse-schema" where argument == nil: self = .clickhouseSchema
        case "clickhouse-sync" where argument == nil: self = .clickhouseSync
        case "clickhouse-copy": self = argument.map { .clickhouseCopy($0) } ?? .unknown(name)
        case "kafka": self = .kafka
        case "config": self = .config
        case "resume": self = .resume
        case "cache": self = .cache
        case "rebuild": self = argument.map { .rebuild($0) } ?? .unknown(name)
        case "files": self = .files
        default: self = .unknown(name)
        }
    }

    /// One of each kind, in plan order.
    public static let all: [StepKind] = [.validate, .presync, .quiesce, .mysqlSnapshot,
                                        // Online copies before the MySQL cutover, so one ferry.dev/cutover=now ends both.
                                        .clickhouseSchema, .clickhouseSync, .mysqlReplicate, .mysqlStopSource, .mysqlCutover, .mysql(nil), .mysqlExternal, .clickhouse(nil), .clickhouseCopy(""), .kafka, .config, .resume,
                                        // The way back is set up once the app runs again (a failure there must not hold it down).
                                        .mysqlReverse, .mysqlCutback, .cache, .rebuild(""), .files]

    /// The name's first part: `mysql` for `mysql/crm` (what `spec.steps.skip` may name).
    public var family: String {
        switch self {
        case .validate: return "validate"
        case .presync: return "presync"
        case .quiesce: return "quiesce"
        case .mysqlSnapshot: return "mysql-snapshot"
        case .mysqlReplicate: return "mysql-replicate"
        case .mysqlStopSource: return "mysql-stop-source"
        case .mysqlCutover: return "mysql-cutover"
        case .mysqlReverse: return "mysql-reverse"
        case .mysqlCutback: return "mysql-cutback"
        case .mysql: return "mysql"
        case .mysqlExternal: return "mysql-external"
        case .clickhouse: return "clickhouse"
        case .clickhouseSchema: return "clickhouse-schema"
        case .clickhouseSync: return "clickhouse-sync"
        case .clickhouseCopy: return "clickhouse-copy"
        case .kafka: return "kafka"
        case .config: return "config"
        case .resume: return "resume"
        case .cache: return "cache"
        case .rebuild: return "rebuild"
        case .files: return "files"
        case .unknown(let name): return String(name.split(separator: "/").first ?? "")
        }
    }

    /// Where the kind stands in the plan (an unknown kind last).
    public var order: Int { Self.all.firstIndex { $0.family == family } ?? Self.all.count }

    /// The steps of this kind a spec plans: one per database or table once validate has read the
    /// package (`contents`), a placeholder before; one per rebuild; none when the spec has no section.
    public static func planned(_ family: StepKind, in spec: MigrationSpec, contents: PackageContents?) -> [String] {
        let hasFiles = !(spec.files ?? []).isEmpty
        switch family {
        case .validate: return ["validate"]
        case .presync: return hasFiles && spec.fileSync?.preSync == true ? ["presync"] : []
        case .quiesce: return spec.workloads != nil ? ["quiesce"] : []
        case .mysqlSnapshot, .mysqlReplicate, .mysqlCutover: return spec.mysql?.replicates == true ? [family.family] : []
        case .mysqlStopSource: return spec.mysql?.replicates == true && spec.mysql?.cutover?.stopSource != nil ? [family.family] : []
        case .mysqlReverse, .mysqlCutback: return spec.mysql?.reverses == true ? [family.family] : []
        case .mysql:
            guard let m = spec.mysql, m.restoresDumps else { return [] }
            if let dbs = m.databases, !dbs.isEmpty { return dbs.map { "mysql/\($0)" } }
            return contents.map { $0.mysql.map { "mysql/\($0)" } } ?? ["mysql"]
        case .mysqlExternal: return spec.mysql?.isExternal == true ? ["mysql-external"] : []
        case .clickhouseSchema: return spec.clickhouse?.copy != nil ? ["clickhouse-schema"] : []
        case .clickhouseSync: return spec.clickhouse?.copy?.incremental != nil ? ["clickhouse-sync"] : []
        case .clickhouseCopy: return (spec.clickhouse?.copy?.tables ?? []).map { "clickhouse-copy/\($0)" }
        case .clickhouse:
            guard let c = spec.clickhouse, c.copy == nil else { return [] }
            if let tables = c.tables, !tables.isEmpty { return tables.map { "clickhouse/\($0)" } }
            return contents.map { $0.clickhouse.map { "clickhouse/\($0)" } } ?? ["clickhouse"]
        case .kafka: return spec.kafka != nil ? ["kafka"] : []
        case .config: return spec.config != nil ? ["config"] : []
        case .resume: return spec.workloads != nil ? ["resume"] : []
        case .cache: return spec.redis != nil ? ["cache"] : []
        case .rebuild: return (spec.rebuilds ?? []).map { "rebuild/\($0.name)" }
        case .files: return hasFiles ? ["files"] : []
        case .unknown: return []
        }
    }

    /// The type of the step's report (`status.steps[].result`), when the engine reads one.
    public var resultType: (any StepResult.Type)? {
        switch self {
        case .validate: return ValidateResult.self
        case .mysqlSnapshot: return MySQLSnapshotResult.self
        case .mysqlReplicate: return ReplicationStatus.self
        case .mysqlCutover, .mysqlCutback: return MySQLCutoverResult.self
        case .mysqlReverse: return MySQLReverseResult.self
        case .mysql: return MySQLResult.self
        case .mysqlExternal: return MySQLExternalResult.self
        case .clickhouse: return ClickHouseResult.self
        case .clickhouseSchema: return ClickHouseSchemaResult.self
        case .clickhouseCopy: return ClickHouseCopyResult.self
        case .kafka: return KafkaResult.self
        case .config: return ConfigResult.self
        case .cache: return CacheResult.self
        case .presync, .files: return FileSyncResult.self
        case .quiesce, .resume: return QuiesceResult.self
        case .mysqlStopSource, .clickhouseSync, .rebuild, .unknown: return nil
        }
    }

    /// Whether a Job (the data plane) runs it; otherwise the controller does (the file
    /// sync is a long-running pod the controller drives).
    public var runsAsJob: Bool {
        switch self {
        case .validate, .mysqlSnapshot, .mysqlCutover, .mysqlReverse, .mysqlCutback, .mysql, .clickhouse, .clickhouseSchema, .clickhouseCopy, .kafka, .config, .cache: return true
        // The replication monitor is a Job too, but it never ends on its own: its driver decides.
        case .quiesce, .mysqlReplicate, .clickhouseSync, .mysqlStopSource, .mysqlExternal, .resume, .rebuild, .presync, .files, .unknown: return false
        }
    }

    /// Steps that drop or overwrite data on the target (a database, a table, consumer offsets,
    /// a Secret): once one has run, the app must not be started on a failed migration.
    public var changesData: Bool {
        switch self {
        case .mysql(let db): return db != nil
        case .clickhouse(let table): return table != nil
        // Each partition is dropped on the target before it is copied.
        case .clickhouseCopy, .clickhouseSync: return true
        // The snapshot replaces the target's databases; the cutover sets the source read-only and promotes the target.
        // Going back sets the new server read-only and makes the old one the primary again.
        case .mysqlSnapshot, .mysqlCutover, .mysqlCutback, .kafka, .config: return true
        // Reverse replication changes the old server's replication, not the data.
        // The schema step creates tables; it drops nothing.
        // Pointing the application's config at the external database keeps the value it replaced.
        case .validate, .presync, .quiesce, .mysqlReplicate, .mysqlStopSource, .mysqlReverse, .mysqlExternal, .clickhouseSchema, .resume, .cache, .rebuild, .files, .unknown: return false
        }
    }

    /// The file sync (`presync` or `files`).
    public var isFileSync: Bool { self == .presync || self == .files }

    /// A failure marks the migration Degraded and the plan continues (`optional: true` in the spec section).
    public func isOptional(in spec: MigrationSpec) -> Bool {
        switch self {
        case .mysql, .mysqlExternal: return spec.mysql?.optional == true
        case .clickhouse, .clickhouseSchema, .clickhouseSync, .clickhouseCopy: return spec.clickhouse?.optional == true
        case .kafka: return spec.kafka?.optional == true
        // A cutover half done is never optional.
        case .validate, .presync, .quiesce, .mysqlSnapshot, .mysqlReplicate, .mysqlStopSource, .mysqlCutover, .mysqlReverse, .mysqlCutback, .config, .resume, .cache, .rebuild,
             .files, .unknown: return false
        }
    }
}
