import Foundation
import Yams

/// What `ferry export` writes, from a YAML file (`--config`) and flags.
/// Passwords and keys are never in it: `passwordFile` / `keyFile`, or the
/// environment (`FERRY_MYSQL_PASSWORD`, `FERRY_CLICKHOUSE_PASSWORD`,
/// `FERRY_KAFKA_*`, `FERRY_CONFIG_KEY`).
public struct ExportConfig: Codable, Sendable, Equatable {
    /// The package folder (created; an existing partial export there is continued).
    public var output: String
    /// The application version the package is from (checked by the restore).
    public var appVersion: String
    /// Default: this machine's host name.
    public var sourceHost: String?
    /// Refuse to start when the output filesystem has less free than this (default 20).
    public var minFreePercent: Int?
    public var mysql: MySQL?
    public var clickhouse: ClickHouse?
    public var kafka: Kafka?
    public var files: [Folder]?
    public var config: Config?

    public struct MySQL: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int?
        public var user: String?
        public var passwordFile: String?
        /// Default: every database except the system ones.
        public var databases: [String]?
        /// Databases dumped at once (default 2).
        public var parallelism: Int?
        /// All databases in one consistent dump, its GTID position recorded in the manifest, so
        /// the new server can replicate from it (`spec.mysql.source.snapshot: package`). Needs the
        /// binary log on the server, and a user that may read its position.
        public var gtid: Bool?
        /// `parts` (the default): per-table LOAD DATA parts read on `parallelism` connections at
        /// one snapshot; `sql`: one mysqldump file per database (the earlier layout).
        public var format: String?
        /// `zstd`: each data part through `zstd -1` (`.tsv.zst`); default none.
        public var compression: String?
        public init(host: String, port: Int? = nil, user: String? = nil, passwordFile: String? = nil, databases: [String]? = nil, parallelism: Int? = nil, gtid: Bool? = nil, format: String? = nil) {
            self.format = format
            self.host = host
            self.port = port
            self.user = user
            self.passwordFile = passwordFile
            self.databases = databases
            self.parallelism = parallelism
            self.gtid = gtid
        }
    }

    public struct ClickHouse: Codable, Sendable, Equatable {
        public var url: String
        public var user: String?
        public var passwordFile: String?
        /// `db.table`, or `db.*` for every table of a database.
        public var tables: [String]
        /// Tables, or partitions of a split table, exported at once (default 2).
        public var parallelism: Int?
        /// A MergeTree table with PARTITION BY and more uncompressed data than this is written one
        /// file per partition, partitions in parallel (default 64 MiB; 0: every partitioned table).
        public var splitAboveBytes: Int64?
        public init(url: String, user: String? = nil, passwordFile: String? = nil, tables: [String], parallelism: Int? = nil, splitAboveBytes: Int64? = nil) {
            self.parallelism = parallelism
            self.splitAboveBytes = splitAboveBytes
            self.url = url
            self.user = user
            self.passwordFile = passwordFile
            self.tables = tables
        }
    }

    public struct Kafka: Codable, Sendable, Equatable {
        public var bootstrap: String
        /// Default: every group.
        public var groups: [String]?
        public var tls: Bool?
        /// A folder with the keys of ``KafkaSecurity`` (username, password, mechanism, ca.crt, tls.crt, tls.key).
        public var credentialsDir: String?
        public init(bootstrap: String, groups: [String]? = nil, tls: Bool? = nil, credentialsDir: String? = nil) {
            self.bootstrap = bootstrap
            self.groups = groups
            self.tls = tls
            self.credentialsDir = credentialsDir
        }
    }

    public struct Folder: Codable, Sendable, Equatable {
        /// The folder's name in the package (what `spec.files[].from` names).
        public var name: String
        public var path: String
        /// Record a listing only (the files are pre-synced another way).
        public var manifestOnly: Bool?
        /// Publish the folder to this bucket instead of copying it into the package (the
        /// cross-host mode: the new side copies from the bucket, `spec.files[].from.s3`).
        public var bucket: Bucket?
        public init(name: String, path: String, manifestOnly: Bool? = nil, bucket: Bucket? = nil) {
            self.name = name
            self.path = path
            self.manifestOnly = manifestOnly
            self.bucket = bucket
        }
    }

    /// A bucket to publish a folder to. The keys come from `credentialsDir` (files
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`) or the environment.
    public struct Bucket: Codable, Sendable, Equatable {
        public var endpoint: String
        public var bucket: String
        public var prefix: String?
        public var region: String?
        public var pathStyle: Bool?
        public var credentialsDir: String?
        public var caFile: String?
        public init(endpoint: String, bucket: String, prefix: String? = nil, region: String? = nil, pathStyle: Bool? = nil, credentialsDir: String? = nil, caFile: String? = nil) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix
            self.region = region
            self.pathStyle = pathStyle
            self.credentialsDir = credentialsDir
            self.caFile = caFile
        }
    }

    public struct Config: Codable, Sendable, Equatable {
        /// Files sealed into the package; each one's base name becomes a key of the restored Secret.
        public var files: [String]
        /// File holding the base64 32-byte key (else `FERRY_CONFIG_KEY`).
        public var keyFile: String?
        public init(files: [String], keyFile: String? = nil) {
            self.files = files
            self.keyFile = keyFile
        }
    }

    public init(output: String, appVersion: String, sourceHost: String? = nil, minFreePercent: Int? = nil, mysql: MySQL? = nil, clickhouse: ClickHouse? = nil,
                kafka: Kafka? = nil, files: [Folder]? = nil, config: Config? = nil) {
        self.output = output
        self.appVersion = appVersion
        self.sourceHost = sourceHost
        self.minFreePercent = minFreePercent
        self.mysql = mysql
        self.clickhouse = clickhouse
        self.kafka = kafka
        self.files = files
        self.config = config
    }

    /// Parses the YAML; a password or key written into it is refused, naming the field.
    public static func parse(yaml text: String, path: String) throws -> ExportConfig {
        if let field = secretField(in: (try? Yams.load(yaml: text)) ?? nil, at: "") {
            throw StepError.configuration("\(path): \(field) puts a secret in the config file; give passwordFile/keyFile (a file only you can read) or the FERRY_* environment variable instead")
        }
        if let problem = unknownField(in: (try? Yams.load(yaml: text)) ?? nil) {
            throw StepError.configuration("\(path): \(problem)")
        }
        do {
            return try YAMLDecoder().decode(ExportConfig.self, from: text)
        } catch let DecodingError.keyNotFound(key, context) {
            throw StepError.configuration("\(path): \((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")) is required")
        } catch let DecodingError.typeMismatch(_, context) {
            throw StepError.configuration("\(path): \(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type (\(context.debugDescription))")
        } catch {
            throw StepError.configuration("\(path) is not a valid export config: \(error)")
        }
    }

    /// The fields each section takes (a misspelt one would otherwise be ignored without a word).
    static let fields: [String: [String]] = [
        "": ["output", "appVersion", "sourceHost", "minFreePercent", "mysql", "clickhouse", "kafka", "files", "config"],
        "mysql": ["host", "port", "user", "passwordFile", "databases", "parallelism", "gtid", "format", "compression"],
        "clickhouse": ["url", "user", "passwordFile", "tables", "parallelism", "splitAboveBytes"],
        "kafka": ["bootstrap", "groups", "tls", "credentialsDir"],
        "files": ["name", "path", "manifestOnly", "bucket"],
        "bucket": ["endpoint", "bucket", "prefix", "region", "pathStyle", "credentialsDir", "caFile"],
        "config": ["files", "keyFile"],
    ]

    /// `mysql.databse is not a field; mysql takes host, port, …` for the first unknown key.
    static func unknownField(in document: Any?) -> String? {
        func check(_ map: [String: Any], section: String, at prefix: String) -> String? {
            let allowed = fields[section] ?? []
            for key in map.keys.sorted() where !allowed.contains(key) {
                return "\(prefix.isEmpty ? key : prefix + "." + key) is not a field; \(section.isEmpty ? "the top level" : section) takes \(allowed.joined(separator: ", "))"
            }
            return nil
        }
        guard let top = document as? [String: Any] else { return nil }
        if let p = check(top, section: "", at: "") { return p }
        for section in ["mysql", "clickhouse", "kafka", "config"] {
            if let map = top[section] as? [String: Any], let p = check(map, section: section, at: section) { return p }
        }
        for (i, item) in ((top["files"] as? [Any]) ?? []).enumerated() {
            if let map = item as? [String: Any], let p = check(map, section: "files", at: "files[\(i)]") { return p }
            if let map = (item as? [String: Any])?["bucket"] as? [String: Any], let p = check(map, section: "bucket", at: "files[\(i)].bucket") { return p }
        }
        return nil
    }

    /// The first key anywhere in the document that holds a secret (`password`, `key`, `secret`, `token`).
    static func secretField(in node: Any?, at prefix: String) -> String? {
        if let map = node as? [String: Any] {
            for (k, v) in map.sorted(by: { $0.key < $1.key }) {
                let here = prefix.isEmpty ? k : prefix + "." + k
                if ["password", "key", "secret", "token"].contains(k.lowercased()) { return here }
                if let found = secretField(in: v, at: here) { return found }
            }
        } else if let list = node as? [Any] {
            for (i, v) in list.enumerated() {
                if let found = secretField(in: v, at: "\(prefix)[\(i)]") { return found }
            }
        }
        return nil
    }

    /// Errors a user can fix before anything is read, each naming the field.
    public func problems() -> [String] {
        var out: [String] = []
        if output.isEmpty { out.append("output: give the package folder") }
        if appVersion.isEmpty { out.append("appVersion: give the application's version (the restore checks it)") }
        if let p = minFreePercent, !(0...99).contains(p) { out.append("minFreePercent: \(p) must be 0–99") }
        if let m = mysql, let p = m.parallelism, p < 1 { out.append("mysql.parallelism: must be at least 1") }
        if let c = clickhouse, let p = c.parallelism, p < 1 { out.append("clickhouse.parallelism: must be at least 1") }
        if let c = clickhouse, let b = c.splitAboveBytes, b < 0 { out.append("clickhouse.splitAboveBytes: must be 0 (split every partitioned table) or more") }
        if let c = mysql?.compression, !["zstd", "none"].contains(c) { out.append("mysql.compression: \"\(c)\" must be zstd or none") }
        if mysql?.compression == "zstd" && mysql?.format == "sql" { out.append("mysql.compression: zstd applies to data parts; leave it out with mysql.format: sql") }
        if let f = mysql?.format, !["parts", "sql"].contains(f) { out.append("mysql.format: \"\(f)\" must be parts (per-table parts, the default) or sql (one mysqldump file per database)") }
        for t in clickhouse?.tables ?? [] where t.split(separator: ".").count != 2 {
            out.append("clickhouse.tables: \"\(t)\" must be db.table or db.*")
        }
        var names = Set<String>()
        for (i, f) in (files ?? []).enumerated() {
            if f.name.isEmpty || f.name.contains("/") || f.name.hasPrefix(".") || ["mysql", "clickhouse", "kafka", "config"].contains(f.name) {
                out.append("files[\(i)].name: \"\(f.name)\" must be a plain folder name other than mysql, clickhouse, kafka, config")
            }
            if !names.insert(f.name).inserted { out.append("files[\(i)].name: \"\(f.name)\" is used twice") }
            if !f.path.hasPrefix("/") { out.append("files[\(i)].path: \"\(f.path)\" must be absolute") }
            if let b = f.bucket {
                if f.manifestOnly == true { out.append("files[\(i)]: manifestOnly and bucket both say where the files go; keep one") }
                if !(b.endpoint.hasPrefix("http://") || b.endpoint.hasPrefix("https://")) || URL(string: b.endpoint)?.host == nil {
                    out.append("files[\(i)].bucket.endpoint: \"\(b.endpoint)\" must be an http(s) URL, e.g. http://old-host:9000")
                }
                if S3URL("s3://\(b.bucket)/") == nil { out.append("files[\(i)].bucket.bucket: \"\(b.bucket)\" is not a bucket name S3 takes (3–63 lowercase letters, digits, - and .)") }
                if let p = b.prefix, p.hasPrefix("/") || p.split(separator: "/").contains("..") { out.append("files[\(i)].bucket.prefix: \"\(p)\" must be a key prefix like app/files, without a leading / or ..") }
            }
        }
        if let c = config, c.files.isEmpty { out.append("config.files: list the files to seal, or remove config") }
        if let c = config {
            let bases = c.files.map { ($0 as NSString).lastPathComponent }
            if Set(bases).count != bases.count { out.append("config.files: two files have the same name; they become keys of one Secret") }
        }
        if mysql == nil && clickhouse == nil && kafka == nil && (files ?? []).isEmpty && config == nil {
            out.append("nothing to export: give at least one of mysql, clickhouse, kafka, files, config")
        }
        return out
    }
}
