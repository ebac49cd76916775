import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// How step Jobs are built: the image holding the `ferry` binary and
/// the MariaDB client, where `ferry` is in it, and how steps are retried.
public struct StepSettings: Sendable {
    public var image: String
    /// The `ferry` executable inside the image.
    public var command: String
    public var retry: RetryPolicy
    /// How often a running step is looked at (Job changes also wake the controller).
    public var pollSeconds: Double
    public var imagePullPolicy: String
    /// Port of the data-files-transfer pod's control endpoint.
    public var moverPort: Int

    /// Namespaces other than its own whose workloads a Migration may stop (`--allow-workload-namespace`).
    public var workloadNamespaces: Set<String>

    public init(image: String = "ghcr.io/ferry-dev/ferry:latest", command: String = "/usr/local/bin/ferry", retry: RetryPolicy = RetryPolicy(), pollSeconds: Double = 5, imagePullPolicy: String = "IfNotPresent", moverPort: Int = 8086, workloadNamespaces: Set<String> = []) {
        self.moverPort = moverPort
        self.workloadNamespaces = workloadNamespaces
        self.image = image
        self.command = command
        self.retry = retry
        self.pollSeconds = pollSeconds
        self.imagePullPolicy = imagePullPolicy
    }
}

/// Pure construction of step Jobs and reading of their outcome.
public enum StepJobs {
    public static let stepLabel = "ferry.dev/step"
    static let packageMount = "/package"
    static let terminationPath = "/dev/termination-log"

    /// The annotation holding the full step name a Job runs (labels are cut and slugged; this is not).
    public static let stepNameAnnotation = "ferry.dev/step-name"

    /// `<migration>-<step>-<hash>-<attempt>` as a DNS label (≤ 63 characters). The hash is of
    /// the migration and the full step name, so steps whose slugs agree (`crm_a`, `crm-a`) or
    /// whose names share a long prefix never share a Job.
    public static func jobName(migration: String, step: String, attempt: Int) -> String {
        let hash = stepHash(migration: migration, step: step)
        let suffix = "-\(hash)-\(attempt)"
        var base = String("\(migration)-\(slug(step))".prefix(63 - suffix.count))
        while base.hasSuffix("-") { base.removeLast() }
        return base + suffix
    }

    /// 10 hex digits of FNV-1a (64 bit) over `migration NUL step`.
    static func stepHash(migration: String, step: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Array(migration.utf8) + [0] + Array(step.utf8) { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h >> 24, radix: 16)
        return String(repeating: "0", count: max(0, 10 - hex.count)) + hex
    }

    /// A step name as a label value: `mysql/project` → `mysql-project` (not unique: the
    /// full name is in ``stepNameAnnotation``).
    public static func slug(_ step: String) -> String {
        var s = String(step.lowercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "-" }.prefix(63))
        while s.hasSuffix("-") { s.removeLast() }
        while s.hasPrefix("-") { s.removeFirst() }
        return s
    }

    /// Labels and annotations that tie a Job to its Migration and step.
    static func identity(migration: String, step: String) -> (labels: JSONValue, annotations: JSONValue) {
        ([FerryNames.migrationLabel: .string(migration), stepLabel: .string(slug(step))], [stepNameAnnotation: .string(step)])
    }

    /// Why an existing Job must not be taken as this step's: it names another step, or
    /// another Migration owns it. nil when it is this step's own Job.
    public static func foreignJobProblem(_ job: JSONValue, step: String, migrationUID: String?) -> String? {
        let name = job.name ?? ""
        let owner = job[path: ["metadata", "ownerReferences"]]?.arrayValue?.first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
        if let migrationUID, owner != migrationUID {
            return "Job \(name) exists but is not this Migration's (owner uid \(owner ?? "none")); delete it or rename the Migration"
        }
        guard let other = job[path: ["metadata", "annotations", stepNameAnnotation]]?.stringValue else {
            return "Job \(name) exists but does not say which step it runs (no \(stepNameAnnotation) annotation); delete it, then annotate \(FerryNames.rerunAnnotation)=\(step)"
        }
        if other != step { return "Job \(name) runs step \(other), not \(step); its result is not taken" }
        return nil
    }

    /// The `ferry restore …` arguments of a step, or nil when no Job runs it (yet).
    public static func arguments(for step: String, spec: MigrationSpec) -> [String]? {
        let pkg = ["--package", packageMount]
        let report = ["--result-file", terminationPath]
        switch StepKind(step) {
        case .validate:
            var args = ["restore", "validate"] + pkg + ["--app-version", spec.appVersion]
            if spec.allowVersionMismatch == true { args.append("--allow-version-mismatch") }
            for db in spec.mysql?.databases ?? [] { args += ["--database", db] }
            for t in spec.clickhouse?.tables ?? [] { args += ["--table", t] }
            for f in spec.files ?? [] { args += ["--folder", f.from] }
            if spec.mysql != nil { args += ["--require", "mysql"] }
            if spec.clickhouse != nil { args += ["--require", "clickhouse"] }
            if spec.kafka != nil && (spec.kafka?.mode ?? MigrationDefaults.kafkaMode) == "package" { args += ["--require", "kafka"] }
            if spec.config != nil { args += ["--require", "config"] }
            if let m = spec.mysql { args += ["--endpoint", "spec.mysql=\(m.host):\(m.port ?? MigrationDefaults.mysqlPort)"] }
            if let c = spec.clickhouse, let url = URL(string: c.url), let host = url.host {
                args += ["--endpoint", "spec.clickhouse=\(host):\(url.port ?? (url.scheme == "https" ? 443 : 8123))"]
            }
            if let r = spec.redis { args += ["--endpoint", "spec.redis=\(r.host):\(r.port ?? MigrationDefaults.redisPort)"] }
            if let k = spec.kafka {
                for b in k.bootstrap.split(separator: ",") {
                    let parts = b.split(separator: ":")
                    if parts.count == 2 { args += ["--endpoint", "spec.kafka.bootstrap=\(parts[0]):\(parts[1])"] }
                }
            }
            for f in spec.files ?? [] { args += ["--volume", "files[\(f.name)]=\(targetMount(f.name))"] }
            return args + report
        case .mysql(let db?):
            guard let m = spec.mysql else { return nil }
            return ["restore", "mysql"] + pkg + ["--database", db, "--host", m.host, "--port", String(m.port ?? MigrationDefaults.mysqlPort),
                                                  "--credentials-dir", credentialsMount("mysql"), "--parallelism", String(m.parallelism ?? MigrationDefaults.mysqlParallelism)] + report
        case .clickhouse(let table?):
            guard let c = spec.clickhouse else { return nil }
            var args = ["restore", "clickhouse"] + pkg + ["--table", table, "--url", c.url,
                                                         "--max-insert-block-size", String(c.maxInsertBlockSize ?? MigrationDefaults.clickhouseMaxInsertBlockSize),
                                                         "--parallelism", String(c.parallelism ?? MigrationDefaults.clickhouseParallelism)]
            if c.credentialsSecret != nil { args += ["--credentials-dir", credentialsMount("clickhouse")] }
            return args + report
        case .kafka:
            guard let k = spec.kafka else { return nil }
            var args = ["restore", "kafka"] + pkg + ["--bootstrap", k.bootstrap, "--mode", k.mode ?? MigrationDefaults.kafkaMode]
            for g in k.groups ?? [] { args += ["--group", g] }
            if let t = k.timestamp { args += ["--timestamp", t] }
            if let tls = k.tls {
                args.append("--tls")
                if let name = tls.serverName { args += ["--tls-server-name", name] }
                if tls.insecureSkipVerify == true { args.append("--tls-insecure-skip-verify") }
            }
            if k.credentialsSecret != nil { args += ["--credentials-dir", credentialsMount("kafka")] }
            return args + report
        case .config:
            guard let c = spec.config else { return nil }
            return ["restore", "config"] + pkg + ["--key-dir", credentialsMount("config"), "--secret", c.secretName] + report
        case .cache:
            guard let r = spec.redis else { return nil }
            var args = ["restore", "cache", "--host", r.host, "--port", String(r.port ?? MigrationDefaults.redisPort)]
            if let db = r.database { args += ["--database", String(db)] }
            if r.credentialsSecret != nil { args += ["--credentials-dir", credentialsMount("redis")] }
            return args + report
        default:
            return nil
        }
    }

    static func credentialsMount(_ kind: String) -> String { "/credentials/\(kind)" }
    static func targetMount(_ name: String) -> String { "/targets/\(name)" }

    /// The Secret a step mounts, by kind.
    static func secret(for step: String, spec: MigrationSpec) -> (kind: String, name: String)? {
        switch StepKind(step) {
        case .mysql: return spec.mysql.map { ("mysql", $0.credentialsSecret) }
        case .clickhouse: return spec.clickhouse?.credentialsSecret.map { ("clickhouse", $0) }
        case .cache: return spec.redis?.credentialsSecret.map { ("redis", $0) }
        case .kafka: return spec.kafka?.credentialsSecret.map { ("kafka", $0) }
        case .config: return spec.config.map { ("config", $0.keySecret) }
        default: return nil
        }
    }

    /// The package, read-only at /package: a node folder or a claim (+ subPath).
    static func packageVolume(_ spec: MigrationSpec) -> (volumes: [JSONValue], mounts: [JSONValue]) {
        if let path = spec.package.hostPath {
            return ([["name": "package", "hostPath": ["path": .string(path), "type": "Directory"]]],
                    [["name": "package", "mountPath": .string(packageMount), "readOnly": true]])
        }
        guard let claim = spec.package.persistentVolumeClaim else { return ([], []) }
        var m: JSONValue = ["name": "package", "mountPath": .string(packageMount), "readOnly": true]
        if let sub = spec.package.subPath, !sub.isEmpty { m["subPath"] = .string(sub) }
        return ([["name": "package", "persistentVolumeClaim": ["claimName": .string(claim), "readOnly": true]]], [m])
    }

    /// Each `spec.files[]` target claim (+ subPath) at /targets/<name>.
    static func targetVolumes(_ spec: MigrationSpec, readOnly: Bool) -> (volumes: [JSONValue], mounts: [JSONValue]) {
        var volumes: [JSONValue] = [], mounts: [JSONValue] = []
        for (i, f) in (spec.files ?? []).enumerated() {
            volumes.append(["name": .string("target-\(i)"), "persistentVolumeClaim": ["claimName": .string(f.to.persistentVolumeClaim)]])
            var m: JSONValue = ["name": .string("target-\(i)"), "mountPath": .string(targetMount(f.name)), "readOnly": .bool(readOnly)]
            if let sub = f.to.subPath, !sub.isEmpty { m["subPath"] = .string(sub) }
            mounts.append(m)
        }
        return (volumes, mounts)
    }

    /// Every Secret the spec names, with the field that names it (validate checks they exist).
    public static func secrets(in spec: MigrationSpec) -> [(field: String, name: String)] {
        spec.credentialSecrets + (spec.config.map { [("spec.config.keySecret", $0.keySecret)] } ?? [])
    }

    /// What keys a Secret named by `field` must hold, as the step reads them; nil when it holds
    /// them. Checked before anything is stopped, so `user`/`pass` never turns into root with no
    /// password.
    public static func secretKeysProblem(field: String, name: String, keys: Set<String>) -> String? {
        let required: [String]
        var anyOf: [String] = []
        switch field {
        case "spec.mysql.credentialsSecret", "spec.clickhouse.credentialsSecret": required = ["username", "password"]
        case "spec.redis.credentialsSecret": required = ["password"]
        case "spec.config.keySecret": required = ["key"]
        case "spec.kafka.credentialsSecret":
            required = keys.contains("username") || keys.contains("password") ? ["username", "password"] : []
            anyOf = ["username", "password", "ca.crt", "tls.crt", "tls.key"]
            if keys.contains("tls.crt") != keys.contains("tls.key") {
                return "Secret \(name) (\(field)) has \(keys.contains("tls.crt") ? "tls.crt without tls.key" : "tls.key without tls.crt"); a client certificate needs both"
            }
        default: return nil
        }
        let missing = required.filter { !keys.contains($0) }
        let unusable = !anyOf.isEmpty && !anyOf.contains(where: keys.contains)
        guard !missing.isEmpty || unusable else { return nil }
        let has = keys.isEmpty ? "no keys" : "keys \(keys.sorted().joined(separator: ", "))"
        let want = missing.isEmpty ? "one of \(anyOf.joined(separator: ", "))" : missing.joined(separator: " and ")
        return "Secret \(name) (\(field)) has \(has) but needs \(want); rename or add the keys, then annotate \(FerryNames.rerunAnnotation)=validate"
    }

    /// The Job running `step` (attempt `attempt`) for a Migration.
    public static func job(for step: String, attempt: Int, migration: Migration, spec: MigrationSpec, settings: StepSettings) -> JSONValue? {
        guard let args = arguments(for: step, spec: spec), let name = migration.metadata.name, migration.metadata.uid != nil else { return nil }
        let jobName = jobName(migration: name, step: step, attempt: attempt)
        let (labels, annotations) = identity(migration: name, step: step)
        var volumes: [JSONValue] = []
        var mounts: [JSONValue] = []
        if StepKind(step) != .cache {
            let (v, m) = packageVolume(spec)
            volumes += v
            mounts += m
        }
        if let secret = secret(for: step, spec: spec) {
            // 0440 with the pod's fsGroup: readable by the step's uid 65532, by nobody else.
            volumes.append(["name": "credentials", "secret": ["secretName": .string(secret.name), "defaultMode": 0o440]])
            mounts.append(["name": "credentials", "mountPath": .string(credentialsMount(secret.kind)), "readOnly": true])
        }
        if StepKind(step) == .validate {
            let (v, m) = targetVolumes(spec, readOnly: true)
            volumes += v
            mounts += m
        }
        var podSpec: JSONValue = [
            "restartPolicy": "Never",
            "containers": [[
                "name": "step",
                "image": .string(settings.image),
                "imagePullPolicy": .string(settings.imagePullPolicy),
                "command": .array(([settings.command] + args).map { .string($0) }),
                "volumeMounts": .array(mounts),
                "terminationMessagePath": .string(terminationPath),
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "resources": ["requests": ["cpu": "100m", "memory": "64Mi"]],
            ]],
            "volumes": .array(volumes),
        ]
        RestrictedPod.apply(to: &podSpec)
        if let node = spec.package.nodeName, spec.package.hostPath != nil { podSpec["nodeName"] = .string(node) }
        // Only the config step talks to the API (as its own account); the others get no token.
        if StepKind(step) == .config {
            podSpec["serviceAccountName"] = .string(ConfigAccess.accountName(migration: name))
        } else {
            podSpec["automountServiceAccountToken"] = false
        }
        return [
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": [
                "name": .string(jobName),
                "namespace": .string(migration.metadata.namespace ?? "default"),
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [OwnerReference.controller(of: migration)],
            ],
            "spec": [
                "backoffLimit": 0,
                "template": ["metadata": ["labels": labels], "spec": podSpec],
            ],
        ]
    }

    /// What a step Job's state and its pod's termination message say.
    public static func outcome(job: JSONValue, pods unordered: [JSONValue]) -> StepOutcome {
        // Newest first: a Job's latest pod says how it ended, not the first in list order.
        let pods = unordered.sorted { finishedOrCreated($0) > finishedOrCreated($1) }
        let conditions = job[path: ["status", "conditions"]]?.arrayValue ?? []
        let isTrue = { (type: String) in conditions.contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" } }
        let report = pods.lazy.compactMap { terminationReport($0) }.first
        if isTrue("Complete") {
            if let report, report["ok"]?.boolValue == true { return .succeeded(result: report["result"], message: nil) }
            return .succeeded(result: nil, message: "finished (no result was reported)")
        }
        if isTrue("Failed") {
            if let report, report["ok"]?.boolValue == false {
                return .failed(report["error"]?.stringValue ?? "failed", permanent: report["retryable"]?.boolValue == false,
                               untouched: report["changed"]?.boolValue == false)
            }
            let reason = pods.lazy.compactMap { $0[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated"]] }.first
            let text = reason.map { "exit code \($0["exitCode"]?.intValue ?? -1): \(($0["message"]?.stringValue ?? $0["reason"]?.stringValue ?? "").suffix(500))" }
            return .failed("the step's pod failed (\(text ?? conditions.first { $0["type"]?.stringValue == "Failed" }?["message"]?.stringValue ?? "no detail"))", permanent: false)
        }
        // Running or waiting: say why a pod waits.
        for pod in pods {
            if let waiting = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting"]],
               let reason = waiting["reason"]?.stringValue, reason != "ContainerCreating" {
                return .running("pod \(pod.name ?? "") waiting: \(reason)\(waiting["message"]?.stringValue.map { ": \($0)" } ?? "")")
            }
        }
        return .running(pods.isEmpty ? "job \(job.name ?? "") created" : "running in pod \(pods.first?.name ?? "")")
    }

    /// When a pod's container ended, else when the pod was made (RFC 3339 sorts as text).
    static func finishedOrCreated(_ pod: JSONValue) -> String {
        pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated", "finishedAt"]]?.stringValue
            ?? pod[path: ["metadata", "creationTimestamp"]]?.stringValue ?? ""
    }

    /// The last progress line of a step's output (not its JSON result), at most 200 characters.
    public static func progressLine(fromLog log: String) -> String? {
        for line in log.split(separator: "\n").reversed() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("{") { continue }
            return String(t.prefix(200))
        }
        return nil
    }

    /// The `{"ok":…}` JSON of a finished pod's termination message.
    static func terminationReport(_ pod: JSONValue) -> JSONValue? {
        guard let message = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated", "message"]]?.stringValue else { return nil }
        // The message may be the whole stdout (FallbackToLogsOnError): take the last JSON line.
        for line in message.split(separator: "\n").reversed() where line.hasPrefix("{") {
            if let v = try? JSONWire.parse(Array(line.utf8)), v["ok"] != nil { return v }
        }
        return nil
    }
}
