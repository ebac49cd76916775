import FerryProtocol
import KubeClient

/// The desired migration: where the backup package is and what to restore where.
/// Field names match `manifests/crd.yaml`; a test keeps the two in agreement.
public struct MigrationSpec: Codable, Sendable, Hashable {
    public var package: PackageSource
    /// Must equal the package's recorded version unless `allowVersionMismatch`.
    public var appVersion: String
    public var allowVersionMismatch: Bool?
    public var workloads: WorkloadsSpec?
    public var mysql: MySQLSpec?
    public var clickhouse: ClickHouseSpec?
    public var kafka: KafkaSpec?
    public var redis: RedisSpec?
    /// The operations config sealed in the package, decrypted into a Secret.
    public var config: ConfigSpec?
    public var files: [FileMapping]?
    public var fileSync: FileSyncSpec?
    public var rebuilds: [RebuildSpec]?
    public var steps: StepsSpec?
    /// Validate, plan and estimate only: nothing is stopped or written (phase Planned, `status.estimate`).
    /// Set it to false (or remove it) to run the migration.
    public var dryRun: Bool?

    public init(package: PackageSource, appVersion: String) {
        self.package = package
        self.appVersion = appVersion
    }
}

/// Where the backup package lives: a node's folder or a volume claim.
public struct PackageSource: Codable, Sendable, Hashable {
    public var hostPath: String?
    /// The node holding `hostPath` (data-plane pods are pinned to it).
    public var nodeName: String?
    public var persistentVolumeClaim: String?
    public var subPath: String?

    public init(hostPath: String? = nil, nodeName: String? = nil, persistentVolumeClaim: String? = nil, subPath: String? = nil) {
        self.hostPath = hostPath
        self.nodeName = nodeName
        self.persistentVolumeClaim = persistentVolumeClaim
        self.subPath = subPath
    }
}

/// A label selector as Kubernetes writes it.
public struct LabelSelectorSpec: Codable, Sendable, Hashable {
    public struct Requirement: Codable, Sendable, Hashable {
        public var key: String
        /// In, NotIn, Exists, DoesNotExist.
        public var `operator`: String
        public var values: [String]?
        public init(key: String, operator: String, values: [String]? = nil) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }
    public var matchLabels: [String: String]?
    public var matchExpressions: [Requirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [Requirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// The query-string form (`a=b,c in (x,y)`).
    public var queryString: String {
        var parts = (matchLabels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        for r in matchExpressions ?? [] {
            let values = (r.values ?? []).joined(separator: ",")
            switch r.operator {
            case "In": parts.append("\(r.key) in (\(values))")
            case "NotIn": parts.append("\(r.key) notin (\(values))")
            case "Exists": parts.append(r.key)
            case "DoesNotExist": parts.append("!\(r.key)")
            default: break
            }
        }
        return parts.joined(separator: ",")
    }
}

/// The Deployments and StatefulSets scaled to zero while data is restored.
public struct WorkloadsSpec: Codable, Sendable, Hashable {
    /// Default: the Migration's namespace.
    public var namespace: String?
    public var selector: LabelSelectorSpec
    /// Keep workloads at zero when the migration fails (default: restore them when no data was changed).
    public var leaveStoppedOnFailure: Bool?
    /// Restore them even when a failure comes after data was dropped or overwritten
    /// (default: they stay stopped so the app never runs on a half-restored database).
    public var resumeOnFailure: Bool?

    public init(namespace: String? = nil, selector: LabelSelectorSpec, leaveStoppedOnFailure: Bool? = nil, resumeOnFailure: Bool? = nil) {
        self.namespace = namespace
        self.selector = selector
        self.leaveStoppedOnFailure = leaveStoppedOnFailure
        self.resumeOnFailure = resumeOnFailure
    }
}

/// MySQL/MariaDB target.
public struct MySQLSpec: Codable, Sendable, Hashable {
    public var host: String
    public var port: Int?
    /// Secret with keys `username` and `password`.
    public var credentialsSecret: String
    /// Databases to restore; default: all that the package holds.
    public var databases: [String]?
    /// Connections used to import one database (1–64), or auto: one per core of the server, at
    /// most 8, and no more than there are parts worth one.
    public var parallelism: CountOrAuto?
    /// A failure marks the migration Degraded instead of Failed.
    public var optional: Bool?
    /// `restore` (default): import the package's dumps with the app stopped. `replicate`: copy
    /// from the running source, follow it by replication, cut over in seconds.
    public var mode: String?
    /// The old server to replicate from (mode replicate).
    public var source: MySQLSourceSpec?
    /// When and how the cutover happens (mode replicate).
    public var cutover: MySQLCutoverSpec?
    /// Mode replicate: compare every table on both sides while replicating, and cut over only
    /// once they compare equal (default true).
    public var verify: Bool?
    /// The database stays where it is, outside the cluster: nothing is restored; validate checks
    /// it answers and holds the expected schemas, and `configRef` is pointed at it. `host` and
    /// `credentialsSecret` above are then not used.
    public var external: MySQLExternalSpec?

    public init(host: String, port: Int? = nil, credentialsSecret: String, databases: [String]? = nil, parallelism: CountOrAuto? = nil, optional: Bool? = nil,
                mode: String? = nil, source: MySQLSourceSpec? = nil, cutover: MySQLCutoverSpec? = nil, verify: Bool? = nil, external: MySQLExternalSpec? = nil) {
        self.host = host
        self.port = port
        self.credentialsSecret = credentialsSecret
        self.databases = databases
        self.parallelism = parallelism
        self.optional = optional
        self.mode = mode
        self.source = source
        self.cutover = cutover
        self.verify = verify
        self.external = external
    }

    /// An external database needs neither `host` nor `credentialsSecret`: absent, they read as empty.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? ""
        port = try c.decodeIfPresent(Int.self, forKey: .port)
        credentialsSecret = try c.decodeIfPresent(String.self, forKey: .credentialsSecret) ?? ""
        databases = try c.decodeIfPresent([String].self, forKey: .databases)
        parallelism = try c.decodeIfPresent(CountOrAuto.self, forKey: .parallelism)
        optional = try c.decodeIfPresent(Bool.self, forKey: .optional)
        mode = try c.decodeIfPresent(String.self, forKey: .mode)
        source = try c.decodeIfPresent(MySQLSourceSpec.self, forKey: .source)
        cutover = try c.decodeIfPresent(MySQLCutoverSpec.self, forKey: .cutover)
        verify = try c.decodeIfPresent(Bool.self, forKey: .verify)
        external = try c.decodeIfPresent(MySQLExternalSpec.self, forKey: .external)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if !host.isEmpty { try c.encode(host, forKey: .host) }
        try c.encodeIfPresent(port, forKey: .port)
        if !credentialsSecret.isEmpty { try c.encode(credentialsSecret, forKey: .credentialsSecret) }
        try c.encodeIfPresent(databases, forKey: .databases)
        try c.encodeIfPresent(parallelism, forKey: .parallelism)
        try c.encodeIfPresent(optional, forKey: .optional)
        try c.encodeIfPresent(mode, forKey: .mode)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(cutover, forKey: .cutover)
        try c.encodeIfPresent(verify, forKey: .verify)
        try c.encodeIfPresent(external, forKey: .external)
    }

    enum CodingKeys: String, CodingKey {
        case host, port, credentialsSecret, databases, parallelism, optional, mode, source, cutover, verify, external
    }

    public var isExternal: Bool { external != nil }
    /// The package's dumps are imported (mode restore, not external).
    public var restoresDumps: Bool { !replicates && !isExternal }
    public var replicates: Bool { mode == "replicate" }
    public var reverses: Bool { replicates && cutover?.reverseReplication == true }
    public var verifies: Bool { verify != false }
}

/// `spec.mysql.external`: a database the application keeps using where it is.
public struct MySQLExternalSpec: Codable, Sendable, Hashable {
    /// Its address; default: the one the package names (the old tool's `info.json`).
    public var host: String?
    public var port: Int?
    /// Secret with keys `username` and `password`: a user that may list the schemas and their tables.
    public var credentialsSecret: String
    /// The ConfigMap or Secret key the application reads its database address from: Ferry writes
    /// the endpoint there while the application is stopped.
    public var configRef: ConfigRefSpec?

    public init(host: String? = nil, port: Int? = nil, credentialsSecret: String, configRef: ConfigRefSpec? = nil) {
        self.host = host
        self.port = port
        self.credentialsSecret = credentialsSecret
        self.configRef = configRef
    }
}

/// One key of a ConfigMap or a Secret in the Migration's namespace.
public struct ConfigRefSpec: Codable, Sendable, Hashable {
    /// `ConfigMap` or `Secret`.
    public var kind: String
    public var name: String
    public var key: String
    /// What is written, `{host}` and `{port}` replaced (default `{host}:{port}`), e.g.
    /// `mysql://{host}:{port}/app`.
    public var format: String?

    public init(kind: String, name: String, key: String, format: String? = nil) {
        self.kind = kind
        self.name = name
        self.key = key
        self.format = format
    }

    /// The value for an endpoint (an IPv6 address in brackets). Pure.
    public func value(host: String, port: Int) -> String {
        (format ?? MigrationDefaults.configRefFormat).replacingOccurrences(of: "{host}", with: host.contains(":") ? "[\(host)]" : host).replacingOccurrences(of: "{port}", with: String(port))
    }
}

/// The old MySQL/MariaDB server the target replicates from.
public struct MySQLSourceSpec: Codable, Sendable, Hashable {
    public var host: String
    public var port: Int?
    /// Secret with keys `username` and `password`: a user with REPLICATION SLAVE, SELECT, READ_ONLY ADMIN and PROCESS.
    public var credentialsSecret: String
    /// Databases to move; default: every one on the source but the system ones.
    public var databases: [String]?
    /// Where the first copy comes from: `live` (default), one consistent dump of the running
    /// source; `package`, the package's dumps and the GTID position they recorded (`ferry export`
    /// with `mysql.gtid: true`), replication catching up from there.
    public var snapshot: String?

    public init(host: String, port: Int? = nil, credentialsSecret: String, databases: [String]? = nil, snapshot: String? = nil) {
        self.host = host
        self.port = port
        self.credentialsSecret = credentialsSecret
        self.databases = databases
        self.snapshot = snapshot
    }

    public var fromPackage: Bool { snapshot == "package" }
}

/// When the replicated target takes over: on `ferry.dev/cutover=now`, or inside `window`; only
/// while the lag is at most `maxLagSeconds`.
public struct MySQLCutoverSpec: Codable, Sendable, Hashable {
    public var window: DailyWindowSpec?
    public var maxLagSeconds: Int?
    /// How long the target may take to apply the source's last transaction before the cutover
    /// gives up and makes the source writable again.
    public var timeoutSeconds: Int?
    /// Kill the source connections still holding write transactions once it is read-only.
    public var killWriters: Bool?
    /// A Job (batch/v1 spec in `template`) that stops the old application, run to completion
    /// before the source is set read-only (step `mysql-stop-source`).
    public var stopSource: RebuildSpec.JobTemplate?
    /// After the cutover the old server replicates from the new one (step `mysql-reverse`), so
    /// `ferry.dev/cutover=reverse` can go back (step `mysql-cutback`).
    public var reverseReplication: Bool?
    /// How the old server reaches the new one (default: `spec.mysql.host` and `port`).
    public var reverseHost: String?
    public var reversePort: Int?

    public init(window: DailyWindowSpec? = nil, maxLagSeconds: Int? = nil, timeoutSeconds: Int? = nil, killWriters: Bool? = nil, stopSource: RebuildSpec.JobTemplate? = nil,
                reverseReplication: Bool? = nil, reverseHost: String? = nil, reversePort: Int? = nil) {
        self.window = window
        self.maxLagSeconds = maxLagSeconds
        self.timeoutSeconds = timeoutSeconds
        self.killWriters = killWriters
        self.stopSource = stopSource
        self.reverseReplication = reverseReplication
        self.reverseHost = reverseHost
        self.reversePort = reversePort
    }
}

/// ClickHouse target (HTTP interface).
public struct ClickHouseSpec: Codable, Sendable, Hashable {
    /// e.g. `http://clickhouse:8123`.
    public var url: String
    /// Secret with keys `username` and `password` (optional).
    public var credentialsSecret: String?
    /// `db.table` names to restore; default: all in the package.
    public var tables: [String]?
    public var maxInsertBlockSize: Int?
    public var parallelism: Int?
    public var optional: Bool?
    /// Copy the tables live from the running source servers, partition by partition (steps
    /// `clickhouse-copy/<db.table>`), instead of restoring them from the package.
    public var copy: ClickHouseCopySpec?

    public init(url: String, credentialsSecret: String? = nil, tables: [String]? = nil, maxInsertBlockSize: Int? = nil, parallelism: Int? = nil, optional: Bool? = nil,
                copy: ClickHouseCopySpec? = nil) {
        self.url = url
        self.credentialsSecret = credentialsSecret
        self.tables = tables
        self.maxInsertBlockSize = maxInsertBlockSize
        self.parallelism = parallelism
        self.optional = optional
        self.copy = copy
    }
}

/// Live ClickHouse tables copied from the source servers through `remote()` on the target.
public struct ClickHouseCopySpec: Codable, Sendable, Hashable {
    public struct Source: Codable, Sendable, Hashable {
        /// One list per shard, of its replicas' `host:port` (the native port, as the target reaches
        /// it); one live replica per shard is read.
        public var shards: [[String]]
        /// Secret with keys `username` and `password` of a user that may read the tables there.
        public var credentialsSecret: String
        public init(shards: [[String]], credentialsSecret: String) {
            self.shards = shards
            self.credentialsSecret = credentialsSecret
        }
    }

    /// Big partitions copied in pieces at once.
    public struct Split: Codable, Sendable, Hashable {
        public var minRows: Int
        public var pieces: Int?
        /// Columns the pieces are cut by.
        public var by: [String]
        public init(minRows: Int, pieces: Int? = nil, by: [String]) {
            self.minRows = minRows
            self.pieces = pieces
            self.by = by
        }
    }

    /// A source engine rewritten on the way (`MergeTree` → `ReplicatedMergeTree`).
    public struct EngineMapping: Codable, Sendable, Hashable {
        /// A MergeTree-family engine as the source names it.
        public var from: String
        /// The same engine, or its Replicated form.
        public var to: String
        /// Replicated engines: the ZooKeeper path (`{database}`, `{table}` filled in by Ferry; `{shard}` and other macros by the server).
        public var zookeeperPath: String?
        /// Replicated engines: the replica name (a macro, default `{replica}`).
        public var replica: String?
        public init(from: String, to: String, zookeeperPath: String? = nil, replica: String? = nil) {
            self.from = from
            self.to = to
            self.zookeeperPath = zookeeperPath
            self.replica = replica
        }
    }

    /// Distributed tables on the target.
    public struct Distributed: Codable, Sendable, Hashable {
        /// The target's cluster: Distributed tables point at it, and the schema is created
        /// `ON CLUSTER` it (every replica gets the table).
        public var cluster: String?
        /// The sharding key of a Distributed table that has none (default `rand()`).
        public var shardingKeyDefault: String?
        public init(cluster: String? = nil, shardingKeyDefault: String? = nil) {
            self.cluster = cluster
            self.shardingKeyDefault = shardingKeyDefault
        }
    }

    /// Copied online before the cutover, the newest partitions re-verified until it.
    public struct Incremental: Codable, Sendable, Hashable {
        /// How many of each table's newest partitions are compared again each round.
        public var lastPartitions: Int?
        /// How often (`30s`, `5m`, `1h`).
        public var every: String?
        public init(lastPartitions: Int? = nil, every: String? = nil) {
            self.lastPartitions = lastPartitions
            self.every = every
        }
    }

    public var source: Source
    /// `db.table` names, or `db.*` / `db.prefix_*` patterns matched on the source.
    public var tables: [String]
    public var engineMap: [EngineMapping]?
    public var distributed: Distributed?
    /// Partitions (or pieces) copied at once, by time of day; changeable while running.
    public var concurrency: ConcurrencySchedule?
    public var split: Split?
    /// `count`, `distinct` (the sorting key) or `distinct(col, …)`; default by engine.
    public var verify: String?
    /// Rounds of copying again what still differs.
    public var rounds: Int?
    public var incremental: Incremental?

    public init(source: Source, tables: [String], engineMap: [EngineMapping]? = nil, distributed: Distributed? = nil, concurrency: ConcurrencySchedule? = nil,
                split: Split? = nil, verify: String? = nil, rounds: Int? = nil, incremental: Incremental? = nil) {
        self.source = source
        self.tables = tables
        self.engineMap = engineMap
        self.distributed = distributed
        self.concurrency = concurrency
        self.split = split
        self.verify = verify
        self.rounds = rounds
        self.incremental = incremental
    }

    /// The shards as `remote()` takes them: replicas joined by `|`, shards by `,`.
    public var remoteAddresses: String { source.shards.map { $0.joined(separator: "|") }.joined(separator: ",") }
}

/// Kafka consumer-group offsets to set.
public struct KafkaSpec: Codable, Sendable, Hashable {
    /// Comma-separated `host:port` list.
    public var bootstrap: String
    /// Secret with SASL `username`/`password`/`mechanism` and TLS `ca.crt`/`tls.crt`/`tls.key` (all optional).
    public var credentialsSecret: String?
    /// TLS to the brokers; present means on.
    public var tls: KafkaTLSSpec?
    /// Groups to seek; default: every group in the package.
    public var groups: [String]?
    /// package (saved offsets), earliest, latest or timestamp.
    public var mode: String?
    /// RFC 3339 time for mode `timestamp`.
    public var timestamp: String?
    public var optional: Bool?

    public init(bootstrap: String, credentialsSecret: String? = nil, tls: KafkaTLSSpec? = nil, groups: [String]? = nil, mode: String? = nil, timestamp: String? = nil, optional: Bool? = nil) {
        self.bootstrap = bootstrap
        self.credentialsSecret = credentialsSecret
        self.tls = tls
        self.groups = groups
        self.mode = mode
        self.timestamp = timestamp
        self.optional = optional
    }
}

/// TLS to the Kafka brokers. The CA and a client certificate, if any, come from the credentials Secret.
public struct KafkaTLSSpec: Codable, Sendable, Hashable {
    /// Name the brokers' certificates must carry (default: the host reached).
    public var serverName: String?
    /// Skip certificate checks (tests only).
    public var insecureSkipVerify: Bool?

    public init(serverName: String? = nil, insecureSkipVerify: Bool? = nil) {
        self.serverName = serverName
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// The package's sealed operations config (`ferry export`'s `config`), decrypted
/// into a Secret before the app comes back.
public struct ConfigSpec: Codable, Sendable, Hashable {
    /// The Secret to create or update; one key per config file.
    public var secretName: String
    /// Secret holding the export's key under `key` (base64 of 32 bytes). Not needed for the old
    /// tool's `conf/latest_config.json` and `conf/options.json`, which are not sealed.
    public var keySecret: String?

    public init(secretName: String, keySecret: String? = nil) {
        self.secretName = secretName
        self.keySecret = keySecret
    }
}

/// Redis cache flushed after the restore.
public struct RedisSpec: Codable, Sendable, Hashable {
    public var host: String
    public var port: Int?
    /// Secret with key `password` (optional).
    public var credentialsSecret: String?
    /// Flush only this database; default: all (FLUSHALL).
    public var database: Int?

    public init(host: String, port: Int? = nil, credentialsSecret: String? = nil, database: Int? = nil) {
        self.host = host
        self.port = port
        self.credentialsSecret = credentialsSecret
        self.database = database
    }
}

/// A bucket, and a key prefix in it, at an S3-compatible endpoint (AWS, MinIO, Ceph, Swift).
public struct S3Spec: Codable, Sendable, Hashable {
    /// `https://s3.example:443`, or `http://` for a store inside the cluster.
    public var endpoint: String
    public var region: String?
    public var bucket: String
    /// Keys under this prefix (a folder: `app/files`).
    public var prefix: String?
    /// The bucket in the path (MinIO, Swift, Ceph; the default), else in the host name (AWS).
    public var pathStyle: Bool?
    /// A Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys).
    public var credentialsSecret: String
    /// A Secret with `ca.crt`: certificates the endpoint's TLS certificate may chain to.
    public var caSecret: String?

    public init(endpoint: String, region: String? = nil, bucket: String, prefix: String? = nil, pathStyle: Bool? = nil, credentialsSecret: String, caSecret: String? = nil) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.pathStyle = pathStyle
        self.credentialsSecret = credentialsSecret
        self.caSecret = caSecret
    }
}

/// Where a `spec.files[]` entry's files come from: a folder of the package (`from: files`), or a
/// bucket (`from: {s3: {…}}`). What is neither is kept as `unreadable`, for validation to name.
public enum FileSource: Codable, Sendable, Hashable {
    case package(String)
    case s3(S3Spec)
    case unreadable(String)

    private enum Keys: String, CodingKey { case s3 }

    public init(from decoder: Decoder) throws {
        if let folder = try? decoder.singleValueContainer().decode(String.self) {
            self = .package(folder)
        } else if let c = try? decoder.container(keyedBy: AnyKey.self) {
            guard c.allKeys.map(\.stringValue) == ["s3"] else {
                self = .unreadable("has keys \(c.allKeys.map(\.stringValue).sorted().joined(separator: ", ")); give a folder of the package, or only s3")
                return
            }
            do {
                self = .s3(try c.decode(S3Spec.self, forKey: AnyKey("s3")))
            } catch {
                self = .unreadable("s3 is not {endpoint, bucket, prefix, region, pathStyle, credentialsSecret, caSecret}: \(FileSource.describe(error))")
            }
        } else {
            self = .unreadable("is neither a folder of the package (a string) nor {s3: {…}}")
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .package(let folder):
            var c = encoder.singleValueContainer()
            try c.encode(folder)
        case .s3(let spec):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(spec, forKey: .s3)
        case .unreadable:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        }
    }

    /// The package folder, when that is the source.
    public var folder: String? {
        if case .package(let f) = self { return f }
        return nil
    }

    public var bucket: S3Spec? {
        if case .s3(let b) = self { return b }
        return nil
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "\(key.stringValue) is missing"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "\(c.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type"
        default: return "\(error)"
        }
    }
}

/// Any key, to read an object whose keys are not known in advance.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One folder of the package (or a bucket) copied into a volume (or a bucket).
public struct FileMapping: Codable, Sendable, Hashable {
    public struct Target: Codable, Sendable, Hashable {
        public var persistentVolumeClaim: String?
        public var subPath: String?
        public var s3: S3Spec?
        public init(persistentVolumeClaim: String? = nil, subPath: String? = nil, s3: S3Spec? = nil) {
            self.persistentVolumeClaim = persistentVolumeClaim
            self.subPath = subPath
            self.s3 = s3
        }
    }
    public var name: String
    public var from: FileSource
    public var to: Target
    /// Run a gateway (an S3 endpoint over the target bucket that falls back to the source) for
    /// the application to use while the files move; `to` must be a bucket.
    public var fallback: Bool?
    /// The package folder holds a SaaS export's attachment folders as `<name>.tar.gz` (no folder
    /// level inside): each is unpacked into `<name>/` in the transfer pod's staging area before
    /// the copy; links, devices and entries that would leave their folder are refused.
    public var unpack: Bool?

    public init(name: String, from: String, to: Target, fallback: Bool? = nil, unpack: Bool? = nil) {
        self.init(name: name, from: .package(from), to: to, fallback: fallback, unpack: unpack)
    }

    public init(name: String, from: FileSource, to: Target, fallback: Bool? = nil, unpack: Bool? = nil) {
        self.unpack = unpack
        self.name = name
        self.from = from
        self.to = to
        self.fallback = fallback
    }
}

/// A daily window, `HH:MM` to `HH:MM` (overnight when the end is earlier), in a time zone.
public struct DailyWindowSpec: Codable, Sendable, Hashable {
    /// `HH:MM`.
    public var start: String
    /// `HH:MM`; may be earlier than start (overnight).
    public var end: String
    /// IANA name, default UTC.
    public var timeZone: String?
    public init(start: String, end: String, timeZone: String? = nil) {
        self.start = start
        self.end = end
        self.timeZone = timeZone
    }
}

/// How the data-files-transfer pod copies.
public struct FileSyncSpec: Codable, Sendable, Hashable {
    public var parallelism: Int?
    /// Bytes per second; changes apply live.
    public var bandwidth: Int64?
    /// size (size + mtime) or checksum.
    public var verify: String?
    /// A daily window outside which the copy waits.
    public var window: DailyWindowSpec?
    /// Copy while the app still runs, then only a final delta after quiesce.
    public var preSync: Bool?
    /// With preSync (default on then): a change journal from before the first pass, so the
    /// final pass copies only what changed.
    public var journal: Bool?
    /// copy, reflink or move; left out: a reflink where the filesystem can, else a copy.
    public var method: String?
    /// Transfer pods splitting the package folders between them (1–64, or auto; default 1).
    public var shards: CountOrAuto?
    /// No progress for this many seconds → Progressing=False.
    public var stallSeconds: Int?

    public init(parallelism: Int? = nil, bandwidth: Int64? = nil, verify: String? = nil, window: DailyWindowSpec? = nil, preSync: Bool? = nil, stallSeconds: Int? = nil) {
        self.parallelism = parallelism
        self.bandwidth = bandwidth
        self.verify = verify
        self.window = window
        self.preSync = preSync
        self.stallSeconds = stallSeconds
    }
}

/// A number, or `auto` for Ferry to pick (`mysql.parallelism`: from the server's cores and the
/// parts' sizes; `fileSync.shards`: one pod per node that can mount the volumes). Anything else
/// is kept as written, for validation to name.
public enum CountOrAuto: Codable, Sendable, Hashable, ExpressibleByIntegerLiteral {
    case count(Int)
    case auto
    case invalid(String)

    public init(integerLiteral value: Int) { self = .count(value) }

    /// As step arguments spell it: the number, 0 for auto; nil when invalid.
    public var argument: Int? {
        switch self {
        case .count(let n): return n
        case .auto: return 0
        case .invalid: return nil
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) {
            self = .count(n)
        } else if let s = try? c.decode(String.self) {
            self = s == "auto" ? .auto : Int(s).map(CountOrAuto.count) ?? .invalid(s)
        } else {
            self = .invalid("(not a number or a string)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .count(let n): try c.encode(n)
        case .auto: try c.encode("auto")
        case .invalid(let s): try c.encode(s)
        }
    }
}

/// A post-restore trigger: exactly one of configMap, job, rolloutRestart.
public struct RebuildSpec: Codable, Sendable, Hashable {
    public struct ConfigMapKey: Codable, Sendable, Hashable {
        public var name: String
        public var key: String
        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }
    public struct JobTemplate: Codable, Sendable, Hashable {
        /// A batch/v1 Job spec.
        public var template: JSONValue
        public init(template: JSONValue) { self.template = template }
    }
    public struct RolloutRestart: Codable, Sendable, Hashable {
        public var deployment: String
        public init(deployment: String) { self.deployment = deployment }
    }
    public var name: String
    public var configMap: ConfigMapKey?
    public var job: JobTemplate?
    public var rolloutRestart: RolloutRestart?

    public init(name: String, configMap: ConfigMapKey? = nil, job: JobTemplate? = nil, rolloutRestart: RolloutRestart? = nil) {
        self.name = name
        self.configMap = configMap
        self.job = job
        self.rolloutRestart = rolloutRestart
    }
}

/// Step selection.
public struct StepsSpec: Codable, Sendable, Hashable {
    /// Step names (or prefixes such as `clickhouse`) not to run.
    public var skip: [String]?
    /// A running step that reports no progress for this long shows Progressing=False (default 300).
    public var stallSeconds: Int?
    public init(skip: [String]? = nil, stallSeconds: Int? = nil) {
        self.skip = skip
        self.stallSeconds = stallSeconds
    }
}

extension S3Spec {
    /// Two places at one endpoint and bucket where one prefix holds the other. Pure.
    public static func overlap(_ a: S3Spec, _ b: S3Spec) -> Bool {
        func folder(_ p: String?) -> String { let p = p ?? ""; return p.isEmpty || p.hasSuffix("/") ? p : p + "/" }
        guard a.endpoint == b.endpoint, a.bucket == b.bucket else { return false }
        return folder(a.prefix).hasPrefix(folder(b.prefix)) || folder(b.prefix).hasPrefix(folder(a.prefix))
    }
}
