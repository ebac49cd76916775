import FerryProtocol
import FerryAPI
import Foundation
import KubeClient
import KubeSim
import TestSupport
import Testing
import Yams

/// YAML text → JSONValue (through Yams).
func yamlToJSON(_ text: String) throws -> [JSONValue] {
    func convert(_ any: Any?) -> JSONValue {
        switch any {
        case nil: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(Int64(i))
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let a as [Any?]: return .array(a.map(convert))
        case let o as [String: Any?]: return .object(o.mapValues(convert))
        case let o as [AnyHashable: Any?]: return .object(Dictionary(uniqueKeysWithValues: o.map { ("\($0.key)", convert($0.value)) }))
        default: return .string("\(any!)")
        }
    }
    return try Yams.load_all(yaml: text).map(convert)
}

func loadCRD() throws -> JSONValue {
    try yamlToJSON(String(contentsOfFile: repoRoot + "/manifests/crd.yaml", encoding: .utf8))[0]
}

func migrationSchema() throws -> JSONValue {
    try loadCRD()[path: ["spec"]]!["versions"]!.arrayValue![0][path: ["schema", "openAPIV3Schema"]]!
}

/// Every key path of a JSON value (arrays as `[]`); subtrees under `opaque` paths are not entered.
func keyPaths(_ v: JSONValue, _ prefix: String = "", opaque: Set<String>) -> Set<String> {
    var out = Set<String>()
    switch v {
    case .object(let o):
        for (k, child) in o {
            let p = prefix.isEmpty ? k : "\(prefix).\(k)"
            out.insert(p)
            if !opaque.contains(p) { out.formUnion(keyPaths(child, p, opaque: opaque)) }
        }
    case .array(let a):
        for child in a { out.formUnion(keyPaths(child, prefix + "[]", opaque: opaque)) }
    default: break
    }
    return out
}

/// Every property path a schema declares; maps (additionalProperties) and preserved subtrees are leaves.
func schemaPaths(_ schema: JSONValue, _ prefix: String = "") -> (paths: Set<String>, opaque: Set<String>) {
    var paths = Set<String>()
    var opaque = Set<String>()
    if let items = schema["items"] {
        let sub = schemaPaths(items, prefix + "[]")
        return sub
    }
    for (name, child) in schema["properties"]?.objectValue ?? [:] {
        let p = prefix.isEmpty ? name : "\(prefix).\(name)"
        paths.insert(p)
        if child["x-kubernetes-preserve-unknown-fields"]?.boolValue == true || child["additionalProperties"] != nil {
            opaque.insert(p)
            continue
        }
        let sub = schemaPaths(child, p)
        paths.formUnion(sub.paths)
        opaque.formUnion(sub.opaque)
    }
    return (paths, opaque)
}

/// A Migration with every field set, so its JSON shows every key the Swift types have.
func maximalMigration() -> Migration {
    var spec = MigrationSpec(package: PackageSource(hostPath: "/data", nodeName: "n", persistentVolumeClaim: "c", subPath: "s"), appVersion: "1")
    spec.allowVersionMismatch = true
    spec.workloads = WorkloadsSpec(namespace: "ns", selector: LabelSelectorSpec(matchLabels: ["a": "b"], matchExpressions: [.init(key: "k", operator: "In", values: ["v"])]), leaveStoppedOnFailure: true, resumeOnFailure: true)
    spec.mysql = MySQLSpec(host: "h", port: 1, credentialsSecret: "s", databases: ["d"], parallelism: 1, optional: true, mode: "replicate",
                           source: .init(host: "o", port: 2, credentialsSecret: "os", databases: ["d"], snapshot: "package"),
                           cutover: .init(window: .init(start: "02:00", end: "04:00", timeZone: "UTC"), maxLagSeconds: 5, timeoutSeconds: 30, killWriters: true,
                                          stopSource: .init(template: ["template": ["spec": ["containers": [["name": "stop", "image": "busybox"]]]]]),
                                          reverseReplication: true, reverseHost: "new-db.example", reversePort: 30306),
                           verify: false,
                           external: .init(host: "db.example", port: 3307, credentialsSecret: "x", configRef: .init(kind: "ConfigMap", name: "app", key: "DB", format: "{host}:{port}")))
    spec.clickhouse = ClickHouseSpec(url: "http://c", credentialsSecret: "s", tables: ["a.b"], maxInsertBlockSize: 1, parallelism: 1, optional: true,
                                     copy: .init(source: .init(shards: [["a:9000", "b:9000"]], credentialsSecret: "cs"), tables: ["a.b", "a.c*"],
                                                 engineMap: [.init(from: "MergeTree", to: "ReplicatedMergeTree", zookeeperPath: "/p/{table}", replica: "{replica}")],
                                                 distributed: .init(cluster: "k", shardingKeyDefault: "rand()"),
                                                 concurrency: .init(default: 2, timeZone: "UTC", schedule: [.init(days: ["Sat"], from: "00:00", to: "06:00", value: 8)]),
                                                 split: .init(minRows: 10, pieces: 4, by: ["id"]), verify: "count", rounds: 3, incremental: .init(lastPartitions: 2, every: "5m")))
    spec.kafka = KafkaSpec(bootstrap: "k:1", credentialsSecret: "s", tls: KafkaTLSSpec(serverName: "kafka.example", insecureSkipVerify: false), groups: ["g"], mode: "timestamp", timestamp: "2026-01-01T00:00:00Z", optional: true)
    spec.redis = RedisSpec(host: "r", port: 1, credentialsSecret: "s", database: 0)
    spec.config = ConfigSpec(secretName: "ops", keySecret: "key")
    spec.files = [FileMapping(name: "f", from: "files", to: .init(persistentVolumeClaim: "p", subPath: "s"), unpack: true),
                  FileMapping(name: "b", from: "files", to: .init(s3: S3Spec(endpoint: "https://s3", region: "r", bucket: "bkt", prefix: "p", pathStyle: true, credentialsSecret: "c", caSecret: "ca")), fallback: true)]
    spec.fileSync = FileSyncSpec(parallelism: 1, bandwidth: 1, verify: "size", window: .init(start: "22:00", end: "06:00", timeZone: "UTC"), preSync: true, stallSeconds: 10)
    spec.fileSync?.journal = true
    spec.fileSync?.method = "reflink"
    spec.fileSync?.shards = 2
    spec.rebuilds = [RebuildSpec(name: "r", configMap: .init(name: "c", key: "k"), job: .init(template: ["x": 1]), rolloutRestart: .init(deployment: "d"))]
    spec.steps = StepsSpec(skip: ["files"], stallSeconds: 60)
    spec.dryRun = true
    var status = MigrationStatus()
    status.observedGeneration = 1
    status.phase = .running
    status.step = "s"
    status.progress = "1/2 steps"
    status.message = "m"
    status.handledRerun = "r"
    status.conditions = [Condition(type: "Ready", status: "False", reason: "r", message: "m", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 1)]
    status.steps = [StepStatus(name: "validate", state: .succeeded, attempts: 1, startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:00Z", message: "m", result: ["rows": 1])]
    status.steps?[0].failures = 1
    status.steps?[0].retryAt = "2026-01-01T00:00:10Z"
    status.steps?[0].job = "m-validate-1"
    status.steps?[0].dataChanged = true
    status.steps?[0].progress = "10 rows"
    status.steps?[0].progressAt = "2026-01-01T00:00:05Z"
    var files = FilesStatus()
    files.filesDone = 1
    files.filesTotal = 1
    files.bytesDone = 1
    files.bytesTotal = 1
    files.bytesPerSecond = 1
    files.etaSeconds = 1
    files.paused = false
    files.lastError = "e"
    files.summary = "s"
    files.journals = [JournalReport(source: "/package/files", mechanism: "fanotify", trusted: true, paths: 3, reason: "r", gapSince: "2026-12-01T00:00:00Z", pass: "journal", sampled: 100, sampleDiffering: 0)]
    files.state = "copying"
    files.lastProgressAt = "2026-01-01T00:00:00Z"
    files.shards = 2
    status.files = files
    status.gateway = GatewayStatus(endpoint: "http://g:9000", bucket: "b", keysSecret: "k", copied: true, message: "m")
    var mysql = ReplicationState()
    mysql.lagSeconds = 0
    mysql.transactionsBehind = 0
    mysql.applyRate = 1.5
    mysql.sourcePosition = "0-1-5"
    mysql.appliedPosition = "0-1-5"
    mysql.lastError = "e"
    mysql.observedAt = "2026-01-01T00:00:00Z"
    mysql.summary = "lag 0s"
    mysql.verification = ReplicationVerification(state: .mismatch, tables: 2, checked: 2, mismatches: [TableMismatch(table: "d.t", range: "key [1, 2)", detail: "x", position: "0-1-5")],
                                                 unverified: ["d.u: engine MyISAM"], current: "d.t", lastError: "e", startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:01Z")
    mysql.verification?.passes = 1
    status.mysql = mysql
    status.downtime = Downtime(from: "2026-01-01T00:00:00Z", to: "2026-01-01T00:00:04Z", seconds: 4)
    status.estimate = Estimate(steps: [.init(name: "quiesce", seconds: 10, basis: "default: 10 s", downtime: true)], seconds: 10, downtimeSeconds: 10, blockers: ["b"], downtimeBasis: "d", validatedAt: "2026-01-01T00:00:00Z")
    return Migration(metadata: ObjectMeta(name: "m", namespace: "default"), spec: spec, status: status)
}

@Suite("The CRD schema and the Swift types", .timeLimit(.minutes(3)))
struct SchemaAgreementTests {
    @Test("every Swift field is in the schema and every schema property is a Swift field")
    func fieldByField() throws {
        let schema = try migrationSchema()
        let (declared, opaque) = schemaPaths(schema)
        let encoded = keyPaths(try JSONValue(encoding: maximalMigration()), opaque: opaque.union(["metadata"]))
        let swiftOnly = encoded.subtracting(declared).sorted()
        let schemaOnly = declared.subtracting(encoded).sorted()
        #expect(swiftOnly.isEmpty, "fields in the Swift types but not in manifests/crd.yaml: \(swiftOnly)")
        #expect(schemaOnly.isEmpty, "properties in manifests/crd.yaml but not in the Swift types: \(schemaOnly)")
    }

    @Test("the schema's defaults are the Swift defaults")
    func defaultsAgree() throws {
        let schema = try migrationSchema()
        var minimal = MigrationSpec(package: PackageSource(hostPath: "/d"), appVersion: "1")
        minimal.workloads = WorkloadsSpec(selector: LabelSelectorSpec(matchLabels: ["a": "b"]))
        minimal.mysql = MySQLSpec(host: "h", credentialsSecret: "s")
        minimal.clickhouse = ClickHouseSpec(url: "http://c")
        minimal.kafka = KafkaSpec(bootstrap: "k:1")
        minimal.redis = RedisSpec(host: "r")
        minimal.files = [FileMapping(name: "f", from: "files", to: .init(persistentVolumeClaim: "p"))]
        minimal.fileSync = FileSyncSpec(window: .init(start: "22:00", end: "06:00"))
        var replicated = minimal
        replicated.mysql = MySQLSpec(host: "h", credentialsSecret: "s", mode: "replicate", source: .init(host: "o", credentialsSecret: "os"),
                                     cutover: .init(window: .init(start: "02:00", end: "04:00")))
        for spec in [minimal, replicated] {
            var object: JSONValue = ["apiVersion": "ferry.dev/v1alpha1", "kind": "Migration", "metadata": ["name": "m"], "spec": try JSONValue(encoding: spec)]
            #expect(SchemaValidator.apply(schema, to: &object, strict: true).isEmpty)
            var fromSchema = try object["spec"]!.decode(as: MigrationSpec.self)
            var fromSwift = spec.withDefaults(namespace: "default")
            fromSwift.workloads?.namespace = nil
            fromSchema.workloads?.namespace = nil
            #expect(fromSchema == fromSwift)
        }
        var object: JSONValue = ["apiVersion": "ferry.dev/v1alpha1", "kind": "Migration", "metadata": ["name": "m"], "spec": try JSONValue(encoding: minimal)]
        let causes = SchemaValidator.apply(schema, to: &object, strict: true)
        #expect(causes.isEmpty, "\(causes)")
        var fromSchema = try object["spec"]!.decode(as: MigrationSpec.self)
        var fromSwift = minimal.withDefaults(namespace: "default")
        // The workloads namespace defaults to the Migration's own: only Swift can know it.
        fromSwift.workloads?.namespace = nil
        fromSchema.workloads?.namespace = nil
        #expect(fromSchema == fromSwift)
    }

    @Test("every example in manifests/examples passes the schema (strict) and Swift validation")
    func examplesValidate() throws {
        let dir = repoRoot + "/manifests/examples"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        let schema = try migrationSchema()
        for file in files {
            for var doc in try yamlToJSON(String(contentsOfFile: dir + "/" + file, encoding: .utf8)) where doc["kind"] == "Migration" {
                let causes = SchemaValidator.apply(schema, to: &doc, strict: true)
                #expect(causes.isEmpty, "\(file): \(causes)")
                let migration = try doc.decode(as: Migration.self)
                #expect(migration.spec.validate().isEmpty, "\(file): \(migration.spec.validate())")
            }
        }
    }

    @Test("the schema rejects what users get wrong, naming the field")
    func schemaRejects() throws {
        let schema = try migrationSchema()
        var bad: JSONValue = ["spec": ["package": ["hostPath": "/d"], "appVersion": "1", "mysql": ["host": "h", "credentialsSecret": "s", "port": 70000, "pasword": "x"], "kafka": ["bootstrap": "k:1", "mode": "newest"]]]
        let causes = SchemaValidator.apply(schema, to: &bad, strict: true)
        let fields = Set(causes.compactMap(\.field))
        #expect(fields.contains("spec.mysql.port"))
        #expect(fields.contains("spec.mysql.pasword"), "a typo'd (or secret) field is refused in strict mode")
        #expect(fields.contains("spec.kafka.mode"))
    }

    @Test("mysql.parallelism and fileSync.shards take a number in range or auto (a number written as a string too, as before): the schema (as the API server applies an int-or-string's checks) and Swift validation refuse the rest, naming the field")
    func countOrAuto() throws {
        let schema = try migrationSchema()
        // (value, the schema takes it, Swift validation takes it)
        let cases: [(JSONValue, Bool, Bool)] = [
            (.int(4), true, true), (.int(64), true, true), (.string("auto"), true, true), (.string("4"), true, true),
            (.string("0"), true, false), (.string("99"), true, false), (.int(0), false, false), (.int(65), false, false),
            (.string("banana"), false, false), (.string("Auto"), false, false), (.string(""), false, false), (.string("-1"), false, false),
            (.bool(true), false, false), (.double(2.5), false, false), (.array([.int(2)]), false, false), (.object(["n": .int(2)]), false, false)]
        for (value, schemaTakes, swiftTakes) in cases {
            for (section, field, extra) in [("mysql", "parallelism", ["host": JSONValue.string("h"), "credentialsSecret": .string("s")]), ("fileSync", "shards", [:])] {
                var object = extra
                object[field] = value
                var specObject: [String: JSONValue] = ["package": ["hostPath": "/d"], "appVersion": "1"]
                specObject[section] = .object(object)
                var doc: JSONValue = ["apiVersion": "ferry.dev/v1alpha1", "kind": "Migration", "metadata": ["name": "m"], "spec": .object(specObject)]
                let causes = SchemaValidator.apply(schema, to: &doc, strict: true)
                #expect(causes.isEmpty == schemaTakes, "\(section).\(field) = \(JSONWire.string(value)): \(causes)")
                #expect(causes.allSatisfy { $0.field == "spec.\(section).\(field)" }, "\(causes)")
                // What gets past a schema (an old CRD left installed, say) Swift refuses by name.
                let swift = try doc["spec"]!.decode(as: MigrationSpec.self).validate().map(\.field).filter { $0.hasPrefix("spec.\(section)") }
                #expect(swift.contains("spec.\(section).\(field)") == !swiftTakes, "\(section).\(field) = \(JSONWire.string(value)): \(swift)")
            }
        }
        var spec = MigrationSpec(package: PackageSource(hostPath: "/d"), appVersion: "1")
        spec.mysql = MySQLSpec(host: "h", credentialsSecret: "s", parallelism: .auto)
        #expect(try JSONValue(encoding: spec)["mysql"]?["parallelism"] == .string("auto"))
        #expect(spec.mysql?.parallelism?.argument == 0, "auto reaches the step as 0, which its argv writes as --parallelism auto")
    }
}
