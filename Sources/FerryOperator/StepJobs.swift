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

    /// The Job running `step` (attempt `attempt`) for a Migration; nil when no Job runs it.
    public static func job(for step: String, attempt: Int, migration: Migration, spec: MigrationSpec, settings: StepSettings) -> JSONValue? {
        guard let kind = StepDrivers.driver(for: StepKind(step)) as? any JobStepKind else { return nil }
        return job(for: step, kind: kind, attempt: attempt, migration: migration, spec: spec, settings: settings)
    }

    static func job(for step: String, kind: any JobStepKind, attempt: Int, migration: Migration, spec: MigrationSpec, settings: StepSettings) -> JSONValue? {
        guard let args = kind.arguments(for: step, spec: spec), let name = migration.metadata.name, migration.metadata.uid != nil else { return nil }
        let (labels, annotations) = identity(migration: name, step: step)
        var volumes = kind.readsPackage ? StepPod.package(spec) : StepPod.Volumes()
        if let secret = kind.secret(spec: spec) {
            volumes = volumes + StepPod.secret(secret.name, volume: "credentials", at: StepPod.credentialsMount(secret.kind))
        }
        volumes = volumes + kind.extraVolumes(spec: spec)
        let podSpec = StepPod.spec(container: "step", argv: args.argv, volumes: volumes, settings: settings, spec: spec, cpu: "100m",
                                   serviceAccount: kind.serviceAccount(migration: name))
        return [
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": [
                "name": .string(jobName(migration: name, step: step, attempt: attempt)),
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
}
