/// The files of Ferry's own backup package layout (docs/package-format.md).
public enum PackageFiles {
    /// Top-level metadata: app version, when, where from, what is inside.
    public static let metadata = "ferry-package.json"
    /// Per-item details: tables, row counts, digests, file sha256s.
    public static let manifest = "manifest.json"
    /// The legacy exporter's metadata (JSON, possibly base64-encoded).
    public static let legacyInfo = "info.json"
}

/// `ferry-package.json`.
public struct PackageMetadata: Codable, Sendable, Equatable {
    /// Always 1 for this layout.
    public var formatVersion: Int
    public var appVersion: String
    /// RFC 3339.
    public var createdAt: String
    public var sourceHost: String
    public var contents: Contents
    /// A MySQL database the application used where it was, not exported (the old tool's
    /// `info.json` names it): `spec.mysql.external` checks it and keeps it.
    public var externalMySQL: ExternalDatabase?

    public struct ExternalDatabase: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int?
        /// The schemas the application uses there.
        public var databases: [String]?
        public init(host: String, port: Int? = nil, databases: [String]? = nil) {
            self.host = host
            self.port = port
            self.databases = databases
        }
    }

    public struct Contents: Codable, Sendable, Equatable {
        public var mysql: [String]
        public var clickhouse: [String]
        public var kafka: Bool
        public var redis: Bool
        public var files: [String]
        public init(mysql: [String] = [], clickhouse: [String] = [], kafka: Bool = false, redis: Bool = false, files: [String] = []) {
            self.mysql = mysql
            self.clickhouse = clickhouse
            self.kafka = kafka
            self.redis = redis
            self.files = files
        }
    }

    public init(formatVersion: Int = 1, appVersion: String, createdAt: String, sourceHost: String, contents: Contents, externalMySQL: ExternalDatabase? = nil) {
        self.externalMySQL = externalMySQL
        self.formatVersion = formatVersion
        self.appVersion = appVersion
        self.createdAt = createdAt
        self.sourceHost = sourceHost
        self.contents = contents
    }
}

/// `manifest.json`: what the package holds, precisely enough to verify a restore.
public struct PackageManifest: Codable, Sendable, Equatable {
    public var mysql: [String: MySQLDatabase]
    /// Keyed by `db.table`.
    public var clickhouse: [String: ClickHouseTable]
    public var files: [String: FileFolder]
    /// Package-relative path → sha256 (hex) of every dump and data file.
    public var sha256: [String: String]
    /// Package-relative path of the saved Kafka consumer offsets, when present.
    public var kafkaOffsets: String?
    /// The operations config, encrypted (AES-GCM), when exported.
    public var config: ConfigBundle?
    /// The MySQL server's `gtid_binlog_pos` at the one consistent snapshot every MySQL dump was
    /// taken at (export with `mysql.gtid: true`): where replication from that server starts.
    public var mysqlGTIDPosition: String?
    /// Where the parallel export's snapshot of MySQL stands in the source's binary log.
    public var mysqlSnapshot: MySQLSnapshot?

    /// Where the parallel export's snapshot stands in the source's binary log.
    public struct MySQLSnapshot: Codable, Equatable, Sendable {
        public var binlogFile: String?
        public var binlogPosition: Int64?
        /// `@@gtid_binlog_pos` (MariaDB) or `@@gtid_executed` (MySQL); empty when none.
        public var gtid: String?
        /// What a replica has applied (`@@gtid_slave_pos`), when the server is one.
        public var replica: String?
        public init(binlogFile: String? = nil, binlogPosition: Int64? = nil, gtid: String? = nil, replica: String? = nil) {
            self.replica = replica
            self.binlogFile = binlogFile
            self.binlogPosition = binlogPosition
            self.gtid = gtid
        }

        /// Whether the server certainly wrote nothing between two positions (both known and equal).
        public func unchanged(since other: MySQLSnapshot) -> Bool {
            binlogFile != nil && binlogPosition != nil && self == other
        }

        public var summary: String {
            var s: [String] = []
            if let f = binlogFile, let p = binlogPosition { s.append("binlog \(f):\(p)") }
            if let g = gtid, !g.isEmpty { s.append("GTID \(g)") }
            return s.isEmpty ? "no binary log" : s.joined(separator: ", ")
        }
    }


    /// `config/config.sealed`: the listed files, sealed with the export's key.
    public struct ConfigBundle: Codable, Sendable, Equatable {
        public var sealed: String
        /// File names inside (the keys of the Secret it is restored into).
        public var files: [String]
        public init(sealed: String, files: [String]) {
            self.sealed = sealed
            self.files = files
        }
    }

    public struct MySQLDatabase: Codable, Sendable, Equatable {
        /// Package-relative path of the mysqldump file.
        public var dump: String
        public var tables: [String: MySQLTable]
        /// The rows as per-table data parts (the parallel export); `dump` then holds only the
        /// schema, views, triggers and routines. Nil: the rows are in `dump`.
        public var parts: [MySQLPart]?
        public init(dump: String, tables: [String: MySQLTable], parts: [MySQLPart]? = nil) {
            self.dump = dump
            self.tables = tables
            self.parts = parts
        }
    }

    /// One data part: LOAD DATA text (tab-separated, `\\`-escaped, `\\N` for NULL) of a table's
    /// `columns`, or of a primary-key range of it.
    public struct MySQLPart: Codable, Sendable, Equatable {
        public var table: String
        /// Package-relative path.
        public var file: String
        public var rows: Int
        public var columns: [String]
        public init(table: String, file: String, rows: Int, columns: [String]) {
            self.table = table
            self.file = file
            self.rows = rows
            self.columns = columns
        }
    }

    public struct MySQLTable: Codable, Sendable, Equatable {
        public var rows: Int
        /// ``TableStructure/digest(_:)`` of its CREATE TABLE.
        public var structureDigest: String
        public init(rows: Int, structureDigest: String) {
            self.rows = rows
            self.structureDigest = structureDigest
        }
    }

    public struct ClickHouseTable: Codable, Sendable, Equatable {
        /// Package-relative path of the CREATE TABLE statement.
        public var schema: String
        /// Package-relative path of the TabSeparated data.
        public var data: String
        public var rows: Int
        /// Partition ID → rows, for partitioned tables.
        public var partitions: [String: Int]?
        /// The data as one file per partition (a big partitioned table): `data` is then their folder.
        public var parts: [ClickHousePart]?
        public init(schema: String, data: String, rows: Int, partitions: [String: Int]? = nil, parts: [ClickHousePart]? = nil) {
            self.schema = schema
            self.data = data
            self.rows = rows
            self.partitions = partitions
            self.parts = parts
        }
    }

    /// One partition's rows of a split ClickHouse table, as TabSeparated.
    public struct ClickHousePart: Codable, Sendable, Equatable {
        /// Package-relative path.
        public var file: String
        /// Its partition ID (`system.parts.partition_id`).
        public var partition: String
        public var rows: Int
        /// The partition's version when written (its parts' highest block number or mutation):
        /// a rerun writes the partition again when it differs.
        public var version: Int64?
        public init(file: String, partition: String, rows: Int, version: Int64? = nil) {
            self.file = file
            self.partition = partition
            self.rows = rows
            self.version = version
        }
    }

    public struct FileFolder: Codable, Sendable, Equatable {
        public var files: Int
        public var bytes: Int64
        /// Set when only a listing was recorded (the files are pre-synced another way):
        /// package-relative path of `path<TAB>size<TAB>mtime` lines.
        public var listing: String?
        /// Set when the folder was published to a bucket instead (the cross-host mode): where.
        public var published: Published?
        public init(files: Int, bytes: Int64, listing: String? = nil, published: Published? = nil) {
            self.files = files
            self.bytes = bytes
            self.listing = listing
            self.published = published
        }
    }

    /// A bucket a folder was published to: what `spec.files[].from.s3` names.
    public struct Published: Codable, Sendable, Equatable {
        public var endpoint: String
        public var bucket: String
        public var prefix: String
        public var region: String
        public var pathStyle: Bool
        public init(endpoint: String, bucket: String, prefix: String, region: String, pathStyle: Bool) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix
            self.region = region
            self.pathStyle = pathStyle
        }
    }

    public init(mysql: [String: MySQLDatabase] = [:], clickhouse: [String: ClickHouseTable] = [:], files: [String: FileFolder] = [:], sha256: [String: String] = [:], kafkaOffsets: String? = nil) {
        self.mysql = mysql
        self.clickhouse = clickhouse
        self.files = files
        self.sha256 = sha256
        self.kafkaOffsets = kafkaOffsets
    }
}
