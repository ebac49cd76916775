/// What `restore validate` reports. `package` is what the controller plans one step per database and table from.
public struct PackageContents: Codable, Sendable, Equatable {
    /// Databases to restore.
    public var mysql: [String]
    /// ClickHouse `db.table`s to restore.
    public var clickhouse: [String]
    public var kafka: Bool
    public var files: [String]
    /// Bytes of what each step restores, by step name (`mysql/crm`, `clickhouse/db.t`,
    /// `files/attachments`), for the downtime estimate; the largest 60 when there are more.
    public var sizes: [String: Int64]?

    public init(mysql: [String], clickhouse: [String], kafka: Bool, files: [String], sizes: [String: Int64]? = nil) {
        self.mysql = mysql
        self.clickhouse = clickhouse
        self.kafka = kafka
        self.files = files
        self.sizes = sizes.map(Self.largest)
    }

    /// The 60 largest entries (the report must fit 4 KiB). Pure.
    public static func largest(_ sizes: [String: Int64]) -> [String: Int64] {
        guard sizes.count > 60 else { return sizes }
        return Dictionary(uniqueKeysWithValues: sizes.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(60).map { ($0.key, $0.value) })
    }

    /// Missing lists read as empty (a result written by an older Ferry).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mysql = try c.decodeIfPresent([String].self, forKey: .mysql) ?? []
        clickhouse = try c.decodeIfPresent([String].self, forKey: .clickhouse) ?? []
        kafka = try c.decodeIfPresent(Bool.self, forKey: .kafka) ?? false
        files = try c.decodeIfPresent([String].self, forKey: .files) ?? []
        sizes = try c.decodeIfPresent([String: Int64].self, forKey: .sizes)
    }
}

public struct VolumeSpace: Codable, Sendable, Equatable {
    public var name: String
    public var freePercent: Double
    public var freeBytes: Int64

    public init(name: String, freePercent: Double, freeBytes: Int64) {
        self.name = name
        self.freePercent = freePercent
        self.freeBytes = freeBytes
    }
}

/// One part of a package and what the migration does with it: `restored`, `skipped` (with the
/// reason), `read` (metadata), or `unknown` (Ferry does not know it; nothing reads it).
public struct PackagePart: Codable, Sendable, Equatable {
    public var path: String
    public var verdict: String
    public var reason: String?

    public init(path: String, verdict: String, reason: String? = nil) {
        self.path = path
        self.verdict = verdict
        self.reason = reason
    }
}

public struct ValidateResult: Codable, Sendable, Equatable {
    public var packageVersion: String
    public var appVersion: String
    public var layout: String
    public var sourceHost: String
    /// What will be restored (the controller plans one step per database and table from it).
    public var package: PackageContents
    public var notes: [String]
    public var endpoints: [String]
    public var volumes: [VolumeSpace]
    /// Each part of the package and what happens to it (the first 40; the step's log has all).
    public var parts: [PackagePart]?
    /// `spec.mysql.external`: the database that stays where it is, as validate found it.
    public var external: ExternalMySQLCheck?
    /// When the validate process began (MicroTime). The estimate's pace is validate's run from
    /// here: the pod's start before it, which on a node's first pod is the image pull, is a cost
    /// the later steps do not pay again.
    public var startedAt: String?

    public init(packageVersion: String, appVersion: String, layout: String, sourceHost: String, package: PackageContents, notes: [String], endpoints: [String], volumes: [VolumeSpace],
                parts: [PackagePart]? = nil, external: ExternalMySQLCheck? = nil, startedAt: String? = nil) {
        self.external = external
        self.startedAt = startedAt
        self.packageVersion = packageVersion
        self.appVersion = appVersion
        self.layout = layout
        self.sourceHost = sourceHost
        self.package = package
        self.notes = notes
        self.endpoints = endpoints
        self.volumes = volumes
        self.parts = parts
    }
}


extension ValidateResult: StepResult {
    public var summary: String {
        "package \(packageVersion): \(package.mysql.count) databases, \(package.clickhouse.count) ClickHouse tables, \(package.files.count) folders"
    }
}
