import Foundation
import FerryAPI
import KubeClient
import Testing

@Suite("Migration spec validation", .timeLimit(.minutes(3)))
struct ValidationTests {
    func base() -> MigrationSpec { MigrationSpec(package: PackageSource(hostPath: "/data/pkg"), appVersion: "6.4.1") }

    func fields(_ spec: MigrationSpec) -> [String] { spec.validate().map(\.field) }

    @Test("a minimal spec is valid")
    func minimal() { #expect(base().validate().isEmpty) }

    @Test("package needs exactly one source, absolute hostPath, safe subPath")
    func package() {
        var s = base()
        s.package = PackageSource()
        #expect(fields(s) == ["spec.package"])
        #expect(s.validate()[0].message.contains("hostPath"))
        s.package = PackageSource(hostPath: "/a", persistentVolumeClaim: "c")
        #expect(fields(s) == ["spec.package"])
        s.package = PackageSource(hostPath: "relative", subPath: "../up")
        #expect(Set(fields(s)) == ["spec.package.hostPath", "spec.package.subPath"])
    }

    @Test("mysql.external: decoded without host or credentialsSecret; either one beside it, or a mode, source or cutover, is refused by field; configRef's kind, name, key and format checked; its Secret listed")
    func external() throws {
        let decoded = try JSONDecoder().decode(MySQLSpec.self, from: Data(#"{"external":{"credentialsSecret":"ext-db","configRef":{"kind":"ConfigMap","name":"app","key":"DB_HOST"}}}"#.utf8))
        #expect(decoded.host.isEmpty && decoded.credentialsSecret.isEmpty && decoded.isExternal && !decoded.restoresDumps)
        let encoded = String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self)
        #expect(!encoded.contains("\"host\"") && !encoded.contains("\"credentialsSecret\":\"\""), "empty fields are not written back: \(encoded)")
        var s = base()
        s.mysql = decoded
        s.mysql?.port = 3306
        s.mysql?.mode = "restore"
        #expect(s.validate().isEmpty, "\(s.validate())")
        #expect(s.credentialSecrets.map(\.field) == ["spec.mysql.external.credentialsSecret"])

        var both = s
        both.mysql?.host = "mysql.app"
        both.mysql?.credentialsSecret = "root"
        both.mysql?.mode = "replicate"
        #expect(Set(fields(both)) == ["spec.mysql.host", "spec.mysql.credentialsSecret", "spec.mysql.mode"])
        #expect(both.validate().allSatisfy { $0.message.contains("external") })

        var bad = s
        bad.mysql?.external = MySQLExternalSpec(host: "two words", port: 0, credentialsSecret: "", configRef: ConfigRefSpec(kind: "Deployment", name: "App_Config", key: "a/b", format: "mysql://db"))
        #expect(Set(fields(bad)) == ["spec.mysql.external.host", "spec.mysql.external.port", "spec.mysql.external.credentialsSecret", "spec.mysql.external.configRef.kind",
                                     "spec.mysql.external.configRef.name", "spec.mysql.external.configRef.key", "spec.mysql.external.configRef.format"])
        #expect(ConfigRefSpec(kind: "ConfigMap", name: "a", key: "k", format: "mysql://{host}:{port}/app").value(host: "db.example", port: 3307) == "mysql://db.example:3307/app")
        #expect(ConfigRefSpec(kind: "ConfigMap", name: "a", key: "k").value(host: "db", port: 3306) == "db:3306")

        // The address written into one of Ferry's own Secrets would overwrite what it reads.
        var own = s
        own.mysql?.external?.configRef = ConfigRefSpec(kind: "Secret", name: "ext-db", key: "DB")
        #expect(fields(own) == ["spec.mysql.external.configRef.name"])
        #expect(own.validate()[0].message.contains("spec.mysql.external.credentialsSecret"))

        // Without external, host is required again, and says how to ask for an external database.
        var plain = base()
        plain.mysql = try JSONDecoder().decode(MySQLSpec.self, from: Data(#"{"credentialsSecret":"root"}"#.utf8))
        #expect(fields(plain) == ["spec.mysql.host"])
        #expect(plain.validate()[0].message.contains("spec.mysql.external"))
    }

    @Test("mode replicate: the source is required and is not the target; fields of one mode are refused in the other; names replication cannot filter on are refused")
    func replicate() {
        var s = base()
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", mode: "replicate")
        #expect(fields(s) == ["spec.mysql.source"])
        s.mysql?.source = MySQLSourceSpec(host: "mysql", port: 3306, credentialsSecret: "")
        #expect(Set(fields(s)) == ["spec.mysql.source", "spec.mysql.source.credentialsSecret"], "\(s.validate())")
        #expect(s.validate().first { $0.field == "spec.mysql.source" }?.message.contains("cannot replicate from itself") == true)
        s.mysql?.source = MySQLSourceSpec(host: "old-db.internal", credentialsSecret: "repl", databases: ["shop", "a,b", ""])
        s.mysql?.databases = ["shop"]
        s.mysql?.cutover = MySQLCutoverSpec(window: .init(start: "2am", end: "04:00"), maxLagSeconds: -1, timeoutSeconds: 0)
        #expect(Set(fields(s)) == ["spec.mysql.databases", "spec.mysql.source.databases[1]", "spec.mysql.source.databases[2]", "spec.mysql.cutover.maxLagSeconds",
                                   "spec.mysql.cutover.timeoutSeconds", "spec.mysql.cutover.window.start"], "\(s.validate())")
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", source: MySQLSourceSpec(host: "old", credentialsSecret: "repl"), cutover: MySQLCutoverSpec())
        #expect(Set(fields(s)) == ["spec.mysql.source", "spec.mysql.cutover"], "restore mode refuses replicate-only fields")
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", mode: "replicate", source: MySQLSourceSpec(host: "old", credentialsSecret: "repl", snapshot: "dump"),
                            cutover: MySQLCutoverSpec(reverseHost: "new-db", reversePort: 0))
        #expect(Set(fields(s)) == ["spec.mysql.source.snapshot", "spec.mysql.cutover.reverseHost", "spec.mysql.cutover.reversePort"], "\(s.validate())")
        s.mysql?.source?.snapshot = "package"
        s.mysql?.cutover = MySQLCutoverSpec(reverseReplication: true, reverseHost: "new db", reversePort: 30306)
        #expect(fields(s) == ["spec.mysql.cutover.reverseHost"], "\(s.validate())")
        s.mysql?.cutover?.reverseHost = "new-db.example"
        #expect(s.validate().isEmpty)
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", mode: "online")
        #expect(fields(s) == ["spec.mysql.mode"])
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", mode: "replicate", source: MySQLSourceSpec(host: "old", credentialsSecret: "repl"))
        #expect(s.validate().isEmpty)
        #expect(s.credentialSecrets.contains { $0.field == "spec.mysql.source.credentialsSecret" && $0.name == "repl" })
    }

    @Test("clickhouse.copy: shards of host:port, db.table names, ranges, split columns; package tables refused beside it; its Secret listed")
    func clickhouseCopy() {
        var s = base()
        s.clickhouse = ClickHouseSpec(url: "http://ch:8123", tables: ["a.b"],
                                      copy: .init(source: .init(shards: [["a:9000", "b"], []], credentialsSecret: ""), tables: ["x.y", "x.y", "z", "a.b'c", "a.*b", "*.t", "a.b*"],
                                                  engineMap: [.init(from: "MergeTree", to: "ReplicatedReplacingMergeTree"), .init(from: "Log", to: "ReplicatedLog"),
                                                              .init(from: "ReplacingMergeTree", to: "ReplicatedReplacingMergeTree", zookeeperPath: "rel/{table}", replica: "a@b"),
                                                              .init(from: "SummingMergeTree", to: "SummingMergeTree", zookeeperPath: "/x")],
                                                  distributed: .init(cluster: "a b", shardingKeyDefault: "x; DROP"),
                                                  concurrency: .init(default: 0, timeZone: "Mars/Base", schedule: [.init(days: ["Someday"], from: "25:00", to: "6", value: 100)]),
                                                  split: .init(minRows: 0, pieces: 1, by: ["id; DROP"]), verify: "distinct(a; b)", rounds: 0,
                                                  incremental: .init(lastPartitions: 0, every: "soon")))
        #expect(Set(fields(s)) == ["spec.clickhouse.tables", "spec.clickhouse.copy.source.shards", "spec.clickhouse.copy.source.shards[0][1]", "spec.clickhouse.copy.source.credentialsSecret",
                                   "spec.clickhouse.copy.tables", "spec.clickhouse.copy.tables[2]", "spec.clickhouse.copy.tables[3]", "spec.clickhouse.copy.tables[4]", "spec.clickhouse.copy.tables[5]",
                                   "spec.clickhouse.copy.engineMap[0].to", "spec.clickhouse.copy.engineMap[1].from", "spec.clickhouse.copy.engineMap[2].zookeeperPath",
                                   "spec.clickhouse.copy.engineMap[2].replica", "spec.clickhouse.copy.engineMap[3].zookeeperPath",
                                   "spec.clickhouse.copy.distributed.cluster", "spec.clickhouse.copy.distributed.shardingKeyDefault",
                                   "spec.clickhouse.copy.concurrency.default", "spec.clickhouse.copy.concurrency.timeZone", "spec.clickhouse.copy.concurrency.schedule[0].from",
                                   "spec.clickhouse.copy.concurrency.schedule[0].to", "spec.clickhouse.copy.concurrency.schedule[0].value", "spec.clickhouse.copy.concurrency.schedule[0].days",
                                   "spec.clickhouse.copy.split.minRows", "spec.clickhouse.copy.split.pieces", "spec.clickhouse.copy.split.by", "spec.clickhouse.copy.verify",
                                   "spec.clickhouse.copy.rounds", "spec.clickhouse.copy.incremental.lastPartitions", "spec.clickhouse.copy.incremental.every"], "\(s.validate())")
        s.clickhouse = ClickHouseSpec(url: "http://ch:8123", copy: .init(source: .init(shards: [["a:9000", "b:9000"], ["c:9000"]], credentialsSecret: "ch-src"), tables: ["audit.log"]))
        #expect(s.validate().isEmpty)
        #expect(s.clickhouse?.copy?.remoteAddresses == "a:9000|b:9000,c:9000")
        #expect(s.credentialSecrets.contains { $0.field == "spec.clickhouse.copy.source.credentialsSecret" && $0.name == "ch-src" })
    }

    @Test("Jobs from the user's templates (stopSource, rebuilds) are checked before anything changes: no containers, root, privilege, host namespaces or an API token, each by its field")
    func jobTemplates() {
        var s = base()
        let hostile: JSONValue = ["template": ["spec": ["hostNetwork": true, "serviceAccountName": "admin",
                                                        "containers": [["name": "stop", "image": "x", "securityContext": ["privileged": true, "runAsUser": 0]]]]]]
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", mode: "replicate", source: MySQLSourceSpec(host: "old", credentialsSecret: "repl"),
                            cutover: MySQLCutoverSpec(stopSource: .init(template: hostile)))
        let stop = "spec.mysql.cutover.stopSource.template.template.spec"
        #expect(Set(fields(s)) == ["\(stop).hostNetwork", "\(stop).serviceAccountName", "\(stop).containers[stop].securityContext.privileged", "\(stop).containers[stop].securityContext"],
                "\(s.validate())")
        s.mysql?.cutover?.stopSource = .init(template: ["template": ["spec": [:]]])
        #expect(fields(s) == ["spec.mysql.cutover.stopSource.template"])
        #expect(s.validate().first?.message.contains("containers") == true)
        s.mysql?.cutover?.stopSource = .init(template: ["template": ["spec": ["containers": [["name": "stop", "image": "x", "command": ["/bin/true"]]]]]])
        #expect(s.validate().isEmpty)
        s.rebuilds = [RebuildSpec(name: "report", job: .init(template: hostile))]
        #expect(fields(s).contains("spec.rebuilds[0].job.template.template.spec.hostNetwork"), "\(s.validate())")
    }

    @Test("each section's mistakes name their field and the fix")
    func sections() {
        var s = base()
        s.appVersion = " "
        s.workloads = WorkloadsSpec(selector: LabelSelectorSpec())
        s.mysql = MySQLSpec(host: "", port: 0, credentialsSecret: "", parallelism: 100)
        s.clickhouse = ClickHouseSpec(url: "clickhouse:8123", tables: ["noDot"])
        s.kafka = KafkaSpec(bootstrap: "kafka", mode: "timestamp")
        s.redis = RedisSpec(host: "r", database: -1)
        s.files = [FileMapping(name: "A", from: "../etc", to: .init(persistentVolumeClaim: "")), FileMapping(name: "A", from: "x", to: .init(persistentVolumeClaim: "p"))]
        s.fileSync = FileSyncSpec(bandwidth: 0, verify: "md5", window: .init(start: "25:00", end: "6", timeZone: "Mars/Base"))
        s.rebuilds = [RebuildSpec(name: "r"), RebuildSpec(name: "r", configMap: .init(name: "c", key: "k"))]
        s.steps = StepsSpec(skip: ["validate", "typo"])
        let f = Set(fields(s))
        for expected in [
            "spec.appVersion", "spec.workloads.selector", "spec.mysql.host", "spec.mysql.credentialsSecret", "spec.mysql.port",
            "spec.mysql.parallelism", "spec.clickhouse.url", "spec.clickhouse.tables[0]", "spec.kafka.bootstrap", "spec.kafka.timestamp",
            "spec.redis.database", "spec.files[0].name", "spec.files[0].from", "spec.files[0].to.persistentVolumeClaim", "spec.files[1].name",
            "spec.fileSync.bandwidth", "spec.fileSync.verify", "spec.fileSync.window.start", "spec.fileSync.window.end",
            "spec.fileSync.window.timeZone", "spec.rebuilds[0]", "spec.rebuilds[1].name", "spec.steps.skip[0]", "spec.steps.skip[1]",
        ] {
            #expect(f.contains(expected), "missing \(expected) in \(f.sorted())")
        }
        for e in s.validate() { #expect(e.message.count > 10, "message too thin: \(e)") }
    }

    @Test("buckets in spec.files: from a folder or {s3}, to a claim or s3, exactly one; each bad field named with the fix; overlapping prefixes refused; what is neither a folder nor {s3} is named, not a decoding error")
    func buckets() throws {
        var s = base()
        let good = S3Spec(endpoint: "https://s3.example:443", bucket: "app-files", prefix: "app/files", credentialsSecret: "s3-creds")
        s.files = [FileMapping(name: "up", from: "files", to: .init(s3: good)), FileMapping(name: "down", from: .s3(good), to: .init(persistentVolumeClaim: "data"))]
        #expect(s.validate().isEmpty, "\(s.validate())")
        var other = good
        other.prefix = "other"
        s.files = [FileMapping(name: "across", from: .s3(good), to: .init(s3: other))]
        #expect(s.validate().isEmpty, "bucket to bucket, prefixes apart: \(s.validate())")
        other.prefix = "app"
        s.files = [FileMapping(name: "across", from: .s3(good), to: .init(s3: other))]
        #expect(fields(s) == ["spec.files[0].to.s3.prefix"], "app holds app/files: \(s.validate())")
        let bad = S3Spec(endpoint: "s3.example", region: "US East", bucket: "Bad_Bucket", prefix: "../x", credentialsSecret: "", caSecret: "")
        s.files = [FileMapping(name: "a", from: .s3(bad), to: .init(persistentVolumeClaim: "p", s3: good)), FileMapping(name: "b", from: "files", to: .init())]
        let f = Set(fields(s))
        for expected in ["spec.files[0].from.s3.endpoint", "spec.files[0].from.s3.bucket", "spec.files[0].from.s3.prefix", "spec.files[0].from.s3.credentialsSecret",
                         "spec.files[0].from.s3.caSecret", "spec.files[0].from.s3.region", "spec.files[0].to", "spec.files[1].to"] {
            #expect(f.contains(expected), "missing \(expected) in \(f.sorted())")
        }
        s.files = [FileMapping(name: "a", from: "files", to: .init(subPath: "x", s3: good))]
        #expect(fields(s) == ["spec.files[0].to.subPath"])
        s.files = [FileMapping(name: "a", from: "files", to: .init(s3: S3Spec(endpoint: "https://s3.example/bucket?x=1", bucket: "abc", credentialsSecret: "c")))]
        #expect(fields(s) == ["spec.files[0].to.s3.endpoint"])
        // As the API server hands it over: any shape at from (the schema preserves it), named by validation.
        for (json, says) in [(#"{"s3": {"endpoint": "https://x", "bucket": 5, "credentialsSecret": "c"}}"#, "wrong type"), (#"{"s3": {"bucket": "abc"}}"#, "endpoint is missing"),
                             (#"{"s3": {}, "path": "x"}"#, "only s3"), (#"42"#, "neither"), (#"["files"]"#, "neither")] {
            let mapping = try JSONDecoder().decode(FileMapping.self, from: Data(#"{"name": "a", "from": \#(json), "to": {"persistentVolumeClaim": "p"}}"#.utf8))
            s.files = [mapping]
            let errors = s.validate()
            #expect(errors.map(\.field) == ["spec.files[0].from"] && errors.first?.message.contains(says) == true, "\(json): \(errors)")
        }
        // Encoded back as it came: a folder as a string, a bucket as {s3}.
        let round = try JSONDecoder().decode(FileMapping.self, from: JSONEncoder().encode(FileMapping(name: "d", from: .s3(good), to: .init(persistentVolumeClaim: "p"))))
        #expect(round.from == .s3(good))
        #expect(String(decoding: try JSONEncoder().encode(FileSource.package("files")), as: UTF8.self) == #""files""#)
    }

    @Test("careless specs that would overwrite credentials, copy the whole package or leak a password are refused, naming the field", arguments: [".", "./", "./."])
    func silentFallbacks(root: String) {
        var s = base()
        s.mysql = MySQLSpec(host: "db", credentialsSecret: "db-creds")
        s.redis = RedisSpec(host: "r", credentialsSecret: "redis-auth")
        s.config = ConfigSpec(secretName: "db-creds", keySecret: "key")
        s.files = [FileMapping(name: "attachments", from: root, to: .init(persistentVolumeClaim: "data"))]
        s.clickhouse = ClickHouseSpec(url: "http://ferry:hunter2@clickhouse:8123")
        let errors = s.validate()
        let byField = Dictionary(errors.map { ($0.field, $0.message) }, uniquingKeysWith: { a, b in a + "; " + b })
        #expect(byField["spec.config.secretName"]?.contains("spec.mysql.credentialsSecret") == true, "\(errors)")
        #expect(byField["spec.files[0].from"]?.contains("whole package") == true, "\(errors)")
        #expect(byField["spec.clickhouse.url"]?.contains("credentialsSecret") == true, "\(errors)")
        #expect(!errors.map(\.description).joined().contains("hunter2"), "the password is never echoed")
        s.clickhouse = ClickHouseSpec(url: "http://clickhouse:8123/?user=ferry&password=hunter2")
        #expect(Set(s.validate().map(\.field)).contains("spec.clickhouse.url"))
        s.clickhouse = ClickHouseSpec(url: "http://clickhouse:8123")
        s.config = ConfigSpec(secretName: "app-config", keySecret: "key")
        s.files = [FileMapping(name: "attachments", from: "./files", to: .init(persistentVolumeClaim: "data"))]
        #expect(s.validate().isEmpty, "\(s.validate())")
        s.config = ConfigSpec(secretName: "redis-auth", keySecret: "key")
        #expect(s.validate().first?.message.contains("spec.redis.credentialsSecret") == true)
    }
}
