import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
@testable import FerryOperator
import KubeClient
import Testing

@Suite("Step Jobs", .timeLimit(.minutes(1)))
struct StepJobsTests {
    func migration() -> (Migration, MigrationSpec) {
        var s = MigrationSpec(package: PackageSource(hostPath: "/srv/backup", nodeName: "node-1"), appVersion: "6.4.1")
        s.mysql = MySQLSpec(host: "mysql.ones", credentialsSecret: "mysql-creds", parallelism: 4)
        s.files = [FileMapping(name: "attachments", from: "files", to: .init(persistentVolumeClaim: "data", subPath: "files"))]
        var m = Migration(metadata: ObjectMeta(name: "ones", namespace: "ones"), spec: s)
        m.metadata.uid = "uid-1"
        return (m, s.withDefaults(namespace: "ones"))
    }

    @Test("one of each step kind, in plan order: each has its driver, and the Job kinds are exactly those that run as Jobs")
    func kinds() {
        #expect(StepKind.all.map(\.family) == ["validate", "presync", "quiesce", "mysql-snapshot", "clickhouse-schema", "clickhouse-sync", "mysql-replicate", "mysql-stop-source", "mysql-cutover", "mysql", "mysql-external", "clickhouse", "clickhouse-copy", "kafka", "config", "resume", "mysql-reverse", "mysql-cutback", "cache", "rebuild", "files"])
        #expect(Set(StepKind.all.map(\.family)).count == StepKind.all.count)
        for kind in StepKind.all {
            #expect(!(StepDrivers.driver(for: kind) is UnknownStep), "\(kind)")
            #expect((StepDrivers.driver(for: kind) is any JobStepKind) == kind.runsAsJob, "\(kind)")
        }
        #expect(StepDrivers.driver(for: StepKind("restore-everything")) is UnknownStep)
    }

    @Test("job names are DNS labels: readable when short, cut with a hash when long, one per attempt")
    func names() {
        let name = JobNames.name(migration: "ones", step: "mysql/project", attempt: 2)
        #expect(name.hasPrefix("ones-mysql-project-") && name.hasSuffix("-2") && name.count == "ones-mysql-project-".count + 10 + 2, "\(name)")
        let long = JobNames.name(migration: "a-very-long-migration-name-indeed", step: "clickhouse/audit_database.events_by_month", attempt: 1)
        #expect(long.count <= 63)
        #expect(long.hasSuffix("-1"))
        #expect(long != JobNames.name(migration: "a-very-long-migration-name-indeed", step: "clickhouse/audit_database.events_by_other", attempt: 1))
    }

    @Test("a mysql step Job: ferry restore mysql with the package and the Secret mounted, credentials never in args or env, pinned to the package's node, owned by the Migration")
    func mysqlJob() throws {
        let (m, spec) = migration()
        let job = try #require(StepJobs.job(for: "mysql/project", attempt: 1, migration: m, spec: spec, settings: StepSettings(image: "ferry:test", command: "/ferry")))
        let container = try #require(job[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first)
        let command = container["command"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(command == ["/ferry", "restore", "mysql", "--package", "/package", "--database", "project", "--host", "mysql.ones", "--port", "3306",
                            "--credentials-dir", "/credentials/mysql", "--parallelism", "4", "--result-file", "/dev/termination-log"])
        #expect(container["env"] == [["name": "TMPDIR", "value": "/tmp"]], "no secret in the environment: only TMPDIR")
        let volumes = job[path: ["spec", "template", "spec", "volumes"]]?.arrayValue ?? []
        #expect(volumes.contains { $0[path: ["secret", "secretName"]]?.stringValue == "mysql-creds" })
        #expect(volumes.contains { $0[path: ["hostPath", "path"]]?.stringValue == "/srv/backup" })
        #expect(job[path: ["spec", "template", "spec", "nodeName"]]?.stringValue == "node-1")
        #expect(job[path: ["spec", "backoffLimit"]]?.intValue == 0)
        #expect(job[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue == "uid-1")
        #expect(job[path: ["metadata", "labels", FerryNames.migrationLabel]]?.stringValue == "ones")
    }

    @Test("while the gateway holds a package claim (a folder source with fallback), every pod mounting the package runs on the gateway's node (a ReadWriteOnce claim is one node's); the gateway prefers the migration's node; a hostPath package or a bucket source pins nothing")
    func colocatedWithGateway() throws {
        let (m, base) = migration()
        var spec = base
        spec.package = PackageSource(persistentVolumeClaim: "ones-package")
        spec.files = [FileMapping(name: "attachments", from: "files", to: .init(s3: S3Spec(endpoint: "https://s3.example", bucket: "b", credentialsSecret: "k")), fallback: true)]
        let settings = StepSettings()
        func affinity(_ job: JSONValue?) -> JSONValue? { job?[path: ["spec", "template", "spec", "affinity", "podAffinity"]] }
        for step in ["mysql/project", "validate"] {
            let term = affinity(StepJobs.job(for: step, attempt: 1, migration: m, spec: spec, settings: settings))?["requiredDuringSchedulingIgnoredDuringExecution"]?.arrayValue?.first
            #expect(term?["topologyKey"]?.stringValue == "kubernetes.io/hostname", "\(step)")
            #expect(term?[path: ["labelSelector", "matchLabels"]] == Gateway.labels("ones"), "\(step): the gateway's own labels")
        }
        var mover: JSONValue = ["containers": []]
        Gateway.colocate(&mover, migration: "ones", spec: spec)
        #expect(mover[path: ["affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]]?.arrayValue?.count == 1)
        let gateway = try #require(Gateway.deployment(m, spec: spec, settings: settings))
        let preferred = gateway[path: ["spec", "template", "spec", "affinity", "podAffinity", "preferredDuringSchedulingIgnoredDuringExecution"]]?.arrayValue?.first
        #expect(preferred?[path: ["podAffinityTerm", "labelSelector", "matchLabels", FerryNames.migrationLabel]]?.stringValue == "ones")
        #expect(gateway[path: ["spec", "template", "spec", "affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]] == nil, "never waits on a step")
        // Nothing to share: a node folder (already pinned by nodeName), or a bucket source (the gateway mounts no package).
        var onNode = spec
        onNode.package = base.package
        #expect(affinity(StepJobs.job(for: "mysql/project", attempt: 1, migration: m, spec: onNode, settings: settings)) == nil)
        var fromBucket = spec
        fromBucket.files?[0].from = .s3(S3Spec(endpoint: "https://old.example", bucket: "old", credentialsSecret: "k"))
        #expect(affinity(StepJobs.job(for: "mysql/project", attempt: 1, migration: m, spec: fromBucket, settings: settings)) == nil)
        var noFallback = spec
        noFallback.files?[0].fallback = false
        #expect(affinity(StepJobs.job(for: "mysql/project", attempt: 1, migration: m, spec: noFallback, settings: settings)) == nil)
    }

    @Test("validate mounts the target volumes and names each endpoint by its spec field")
    func validateJob() throws {
        let (m, spec) = migration()
        let job = try #require(StepJobs.job(for: "validate", attempt: 1, migration: m, spec: spec, settings: StepSettings()))
        let command = job[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["command"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(command.contains("spec.mysql=mysql.ones:3306"))
        #expect(command.contains("files[attachments]=/targets/attachments"))
        #expect(command.contains("--folder"))
    }

    @Test("validate checks every broker of a bootstrap list written with spaces, and each server by its spec field")
    func validateEndpoints() throws {
        var (m, spec) = migration()
        spec.kafka = KafkaSpec(bootstrap: "k-0:9092 , k-1:9093", groups: ["billing"])
        spec.redis = RedisSpec(host: "redis", port: 6380)
        spec = spec.withDefaults(namespace: "ones")
        let job = try #require(StepJobs.job(for: "validate", attempt: 1, migration: m, spec: spec, settings: StepSettings(command: "/ferry")))
        let argv = Array((job[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["command"]?.arrayValue?.compactMap(\.stringValue) ?? []).dropFirst())
        let args = try ValidateArguments(argv: argv)
        #expect(args.endpoints.map(\.text) == ["spec.mysql=mysql.ones:3306", "spec.kafka.bootstrap=k-0:9092", "spec.kafka.bootstrap=k-1:9093", "spec.redis=redis:6380"])
        #expect(args.required == ["mysql", "kafka"])
    }

    @Test("a kafka step Job over TLS with SASL: --tls and the server name in args, the Secret (username, password, ca.crt…) mounted, never in args or env")
    func kafkaJob() throws {
        var (m, spec) = migration()
        spec.kafka = KafkaSpec(bootstrap: "kafka-0.kafka:9093", credentialsSecret: "kafka-creds", tls: KafkaTLSSpec(serverName: "kafka.internal"), groups: ["billing"])
        spec = spec.withDefaults(namespace: "ones")
        m.spec = spec
        let job = try #require(StepJobs.job(for: "kafka", attempt: 1, migration: m, spec: spec, settings: StepSettings(image: "ferry:test", command: "/ferry")))
        let container = try #require(job[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first)
        let command = container["command"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(command == ["/ferry", "restore", "kafka", "--package", "/package", "--bootstrap", "kafka-0.kafka:9093", "--mode", "package", "--group", "billing",
                            "--tls", "--tls-server-name", "kafka.internal", "--credentials-dir", "/credentials/kafka", "--result-file", "/dev/termination-log"])
        #expect(container["env"] == [["name": "TMPDIR", "value": "/tmp"]], "no secret in the environment: only TMPDIR")
        let volumes = job[path: ["spec", "template", "spec", "volumes"]]?.arrayValue ?? []
        #expect(volumes.contains { $0[path: ["secret", "secretName"]]?.stringValue == "kafka-creds" })
    }

    @Test("the config step: runs as <migration>-config with the key Secret mounted; its Role may write exactly the config Secret (and create); every other step Job gets no token")
    func configJob() throws {
        var (m, spec) = migration()
        spec.config = ConfigSpec(secretName: "ones-ops", keySecret: "ferry-config-key")
        m.spec = spec
        let job = try #require(StepJobs.job(for: "config", attempt: 1, migration: m, spec: spec, settings: StepSettings(image: "ferry:test", command: "/ferry")))
        let podSpec = try #require(job[path: ["spec", "template", "spec"]])
        let command = podSpec["containers"]?.arrayValue?.first?["command"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(command == ["/ferry", "restore", "config", "--package", "/package", "--key-dir", "/credentials/config", "--secret", "ones-ops", "--result-file", "/dev/termination-log"])
        #expect(podSpec["serviceAccountName"]?.stringValue == "ones-config")
        #expect(podSpec["volumes"]?.arrayValue?.contains { $0[path: ["secret", "secretName"]]?.stringValue == "ferry-config-key" } == true)
        let mysql = try #require(StepJobs.job(for: "mysql/project", attempt: 1, migration: m, spec: spec, settings: StepSettings()))
        #expect(mysql[path: ["spec", "template", "spec", "automountServiceAccountToken"]]?.boolValue == false)
        #expect(mysql[path: ["spec", "template", "spec", "serviceAccountName"]] == nil)

        let objects = ConfigAccess.objects(migration: m, spec: spec)
        #expect(objects.map { $0.1["kind"]?.stringValue ?? "" } == ["ServiceAccount", "Role", "RoleBinding"])
        #expect(objects.allSatisfy { $0.1[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue == "uid-1" })
        let rules = objects[1].1["rules"]?.arrayValue ?? []
        #expect(rules[0]["resourceNames"] == ["ones-ops"] && rules[0]["verbs"] == ["get", "update", "patch"])
        #expect(rules[1]["verbs"] == ["create"] && rules[1]["resourceNames"] == nil)
        #expect(ValidateStep.secrets(spec).contains { $0.field == "spec.config.keySecret" && $0.name == "ferry-config-key" })
    }

    @Test("outcome: Complete with an ok report → result; Failed with retryable:false → permanent; waiting pods say why")
    func outcomes() {
        let complete: JSONValue = ["metadata": ["name": "j"], "status": ["conditions": [["type": "Complete", "status": "True"]]]]
        let failed: JSONValue = ["metadata": ["name": "j"], "status": ["conditions": [["type": "Failed", "status": "True"]]]]
        func pod(_ message: String) -> JSONValue {
            ["metadata": ["name": "p"], "status": ["containerStatuses": [["state": ["terminated": ["exitCode": 1, "message": .string(message)]]]]]]
        }
        #expect(StepPodOutcome.outcome(job: complete, pods: [pod("progress line\n{\"ok\":true,\"result\":{\"rows\":5}}")]) == .succeeded(result: ["rows": 5], message: nil))
        #expect(StepPodOutcome.outcome(job: failed, pods: [pod("{\"ok\":false,\"error\":\"bad package: x\",\"retryable\":false}")]) == .failed("bad package: x", permanent: true))
        #expect(StepPodOutcome.outcome(job: failed, pods: [pod("{\"ok\":false,\"error\":\"down\",\"retryable\":true}")]) == .failed("down", permanent: false))
        #expect(StepPodOutcome.outcome(job: failed, pods: [pod("{\"ok\":false,\"error\":\"down\",\"retryable\":true,\"changed\":false}")]) == .failed("down", permanent: false, untouched: true))
        let waiting: JSONValue = ["metadata": ["name": "p"], "status": ["containerStatuses": [["state": ["waiting": ["reason": "ImagePullBackOff", "message": "no such image"]]]]]]
        #expect(StepPodOutcome.outcome(job: ["metadata": ["name": "j"]], pods: [waiting]) == .running("pod p waiting: ImagePullBackOff: no such image"))
    }

    @Test("steps whose slugs agree, or whose long names share a prefix, never share a Job; a Job naming another step is not adopted", arguments: [
        ("mysql/crm_a", "mysql/crm-a"),
        ("mysql/CRM", "mysql/crm"),
        ("clickhouse/audit_database_with_a_long_name.events_by_month_and_partition_a", "clickhouse/audit_database_with_a_long_name.events_by_month_and_partition_b"),
        ("rebuild/a-b", "rebuild/a_b"),
    ] as [(String, String)])
    func collisions(a: String, b: String) throws {
        for owner in ["m", "a-very-long-migration-name-that-fills-most-of-the-label"] {
            let ja = JobNames.name(migration: owner, step: a, attempt: 1)
            let jb = JobNames.name(migration: owner, step: b, attempt: 1)
            #expect(ja != jb, "\(a) and \(b) share \(ja)")
            #expect(ja.count <= 63 && jb.count <= 63)
            #expect(ja.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" } && ja.first?.isLetter == true && ja.last != "-", "\(ja)")
        }
        var (m, spec) = migration()
        spec.mysql?.databases = ["crm_a", "crm-a"]
        m.spec = spec
        let job = try #require(StepJobs.job(for: "mysql/crm_a", attempt: 1, migration: m, spec: spec, settings: StepSettings()))
        #expect(StepJobs.foreignJobProblem(job, step: "mysql/crm_a", migrationUID: "uid-1") == nil)
        #expect(StepJobs.foreignJobProblem(job, step: "mysql/crm-a", migrationUID: "uid-1")?.contains("runs step mysql/crm_a, not mysql/crm-a") == true)
        #expect(StepJobs.foreignJobProblem(job, step: "mysql/crm_a", migrationUID: "other-uid")?.contains("not this Migration's") == true)
        var unlabeled = job
        unlabeled[path: ["metadata", "annotations"]] = nil
        #expect(StepJobs.foreignJobProblem(unlabeled, step: "mysql/crm_a", migrationUID: "uid-1") != nil)
    }

    @Test("a credentials Secret with the wrong keys is named with the keys it has and the keys it needs")
    func secretKeys() {
        var (_, spec) = migration()
        spec.redis = RedisSpec(host: "r", credentialsSecret: "r")
        spec.config = ConfigSpec(secretName: "ops", keySecret: "k")
        spec.kafka = KafkaSpec(bootstrap: "k:9092", credentialsSecret: "kc")
        let secrets = Dictionary(uniqueKeysWithValues: ValidateStep.secrets(spec).map { ($0.field, $0) })
        #expect(secrets.keys.sorted() == ["spec.config.keySecret", "spec.kafka.credentialsSecret", "spec.mysql.credentialsSecret", "spec.redis.credentialsSecret"])
        func problem(_ field: String, _ keys: Set<String>) -> String? { secrets[field]?.problem(keys: keys) }
        let p = problem("spec.mysql.credentialsSecret", ["user", "pass"])
        #expect(p?.contains("Secret mysql-creds (spec.mysql.credentialsSecret) has keys pass, user but needs username and password") == true, "\(p ?? "")")
        #expect(problem("spec.mysql.credentialsSecret", ["username", "password"]) == nil)
        #expect(problem("spec.redis.credentialsSecret", []) != nil)
        #expect(problem("spec.config.keySecret", ["KEY"])?.contains("needs key") == true)
        #expect(problem("spec.kafka.credentialsSecret", ["ca.crt"]) == nil)
        #expect(problem("spec.kafka.credentialsSecret", ["username"]) != nil)
        #expect(problem("spec.kafka.credentialsSecret", ["tls.crt"])?.contains("tls.crt without tls.key") == true)
    }

    @Test("a rebuild Job template that would run with more than a restricted pod's rights is refused by field; what it leaves unset is filled in")
    func rebuildTemplates() {
        let hostile: JSONValue = ["template": ["spec": [
            "serviceAccountName": "admin", "hostNetwork": true,
            "volumes": [["name": "root", "hostPath": ["path": "/"]], ["name": "scratch", "emptyDir": .emptyObject]],
            "containers": [["name": "x", "image": "x", "securityContext": ["privileged": true, "capabilities": ["add": ["SYS_ADMIN"]]]]],
        ]]]
        let problems = JobTemplatePolicy.problems(hostile, field: "rebuilds[report].job.template").joined(separator: "\n")
        for part in ["serviceAccountName: admin", "hostNetwork", "volumes[root]: hostPath", "containers[x].securityContext.privileged", "capabilities.add: SYS_ADMIN"] {
            #expect(problems.contains(part), "\(part): \(problems)")
        }
        #expect(!problems.contains("scratch"))
        let sneaky: JSONValue = ["template": ["spec": [
            "serviceAccount": "admin",
            "volumes": [["name": "tok", "projected": ["sources": [["serviceAccountToken": ["path": "token"]]]]]],
            "securityContext": ["seccompProfile": ["type": "Unconfined"]],
            "containers": [["name": "x", "image": "x"]],
        ]]]
        let more = JobTemplatePolicy.problems(sneaky, field: "rebuilds[report].job.template").joined(separator: "\n")
        for part in ["serviceAccount: admin", "projected serviceAccountToken", "Unconfined"] { #expect(more.contains(part), "\(part): \(more)") }
        let plain: JSONValue = ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "r", "image": "report:1"]]]]]
        #expect(JobTemplatePolicy.problems(plain, field: "rebuilds[report].job.template").isEmpty)
        let hardened = JobTemplatePolicy.hardened(plain)
        #expect(hardened[path: ["template", "spec", "automountServiceAccountToken"]] == false)
        #expect(hardened[path: ["template", "spec", "securityContext", "seccompProfile", "type"]] == "RuntimeDefault")
        #expect(hardened[path: ["template", "spec", "containers"]]?.arrayValue?.first?[path: ["securityContext", "capabilities", "drop"]] == ["ALL"])
    }
}

@Suite("Files column", .timeLimit(.minutes(1)))
struct FilesColumnTests {
    @Test("percent, rate and ETA as kubectl get shows them")
    func summary() {
        #expect(FileSyncStatus.summary(percent: 41.7, rate: 123_731_968, eta: 180, state: "copying") == "41% 118MiB/s ETA 3m")
        #expect(FileSyncStatus.summary(percent: 5, rate: 1_048_576 * 3 / 2, eta: 45, state: "copying") == "5% 1.5MiB/s ETA 45s")
        #expect(FileSyncStatus.summary(percent: 60, rate: 0, eta: nil, state: "paused") == "60% paused")
        #expect(FileSyncStatus.summary(percent: 1, rate: 200_000_000, eta: 7300, state: "copying") == "1% 191MiB/s ETA 2h1m")
    }


    @Test("the transfer pod: bucket sides become named stores with their Secrets mounted (never a key in argv); a fallback entry copies through the gateway with the mover's keys; a spec edit changes the pod's digest, pause and bandwidth do not")
    func transferPod() throws {
        var spec = MigrationSpec(package: PackageSource(hostPath: "/srv/backup", nodeName: "node-1"), appVersion: "6.4.1")
        let b = S3Spec(endpoint: "https://s3.example:443", bucket: "ones-files", prefix: "att", credentialsSecret: "s3-keys", caSecret: "s3-ca")
        spec.files = [FileMapping(name: "attachments", from: "files", to: .init(s3: b))]
        let settings = StepSettings()
        let plain = FileSyncStep.arguments(spec, settings: settings, paused: false)
        #expect(plain.copies.map(\.target) == ["s3://attachments-to@ones-files/att"])
        #expect(plain.stores["attachments-to"]?.credentialsDir == "/credentials/s3-0-to" && plain.stores["attachments-to"]?.caFile == "/credentials/s3-ca-0-to/ca.crt")
        #expect(FileSyncStep.secrets(spec).map(\.name) == ["s3-keys", "s3-ca"])
        #expect(!plain.argv.joined(separator: " ").contains("s3-keys"), "the Secret's name is a mount, its keys files")
        var paused = FileSyncStep.arguments(spec, settings: settings, paused: true)
        paused.bandwidth = 1000
        #expect(FileSyncStep.digest(paused) == FileSyncStep.digest(plain), "pause and bandwidth are pushed live")
        spec.files?[0].fallback = true
        let through = FileSyncStep.arguments(spec, settings: settings, paused: false, gateway: "http://127.3.0.1:9000")
        #expect(through.copies.map(\.target) == ["s3://attachments-gateway@ones-files/"] && through.stores["attachments-gateway"]?.gateway == true
                && through.stores["attachments-gateway"]?.credentialsDir == Gateway.moverKeysMount)
        #expect(FileSyncStep.digest(through) != FileSyncStep.digest(plain), "fallback turned on mid-run replaces the pod")
    }

    @Test("fileSync.shards: each transfer pod copies its share (--shard i/N, the bandwidth split), named by index; spread over nodes only when every claim takes several, else kept on one node; refused with a journal, move or a bucket")
    func shards() throws {
        var spec = MigrationSpec(package: PackageSource(persistentVolumeClaim: "backup"), appVersion: "6.4.1")
        spec.files = [FileMapping(name: "attachments", from: "files", to: .init(persistentVolumeClaim: "files"))]
        spec.fileSync = FileSyncSpec(bandwidth: 1_000_000, preSync: true)
        spec.fileSync?.shards = 4
        #expect(spec.validate().isEmpty, "\(spec.validate())")
        #expect(FileSyncStep.shardCount(spec) == 4 && !FileSyncStep.journaled(spec), "one pod keeps a journal: none with shards")
        var auto = spec
        auto.fileSync?.shards = .auto
        #expect(auto.validate().isEmpty && FileSyncStep.shardCount(auto) == nil && FileSyncStep.journaled(auto), "auto with the journal on: one pod, which keeps it")
        let ready: JSONValue = ["status": ["conditions": [["type": "Ready", "status": "True"]]]]
        let notReady: JSONValue = ["status": ["conditions": [["type": "Ready", "status": "False"]]]]
        let tainted: JSONValue = ["spec": ["taints": [["key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"]]], "status": ready["status"]!]
        let cordoned: JSONValue = ["spec": ["unschedulable": true], "status": ready["status"]!]
        #expect(FileSyncStep.autoShards(nodes: [ready, ready, notReady, tainted, cordoned, ready], shared: true) == 3)
        #expect(FileSyncStep.autoShards(nodes: [ready, ready, ready], shared: false) == 1, "a ReadWriteOnce claim is one node's")
        #expect(FileSyncStep.autoShards(nodes: [], shared: true) == 1)
        var bad = spec
        bad.fileSync?.shards = .invalid("many")
        #expect(bad.validate().first?.message.contains("neither a number of pods") == true)
        let decoded = try JSONDecoder().decode(FileSyncSpec.self, from: Data(#"{"shards":"auto"}"#.utf8))
        let three = try JSONDecoder().decode(FileSyncSpec.self, from: Data(#"{"shards":3}"#.utf8))
        #expect(decoded.shards == .auto && three.shards == 3)
        let two = FileSyncStep.arguments(spec, settings: StepSettings(), paused: false, shard: Shard(index: 2, count: 4))
        #expect(two.shard == Shard(index: 2, count: 4) && two.bandwidth == 250_000 && two.argv.contains("2/4") && !two.watch)
        #expect(FileSyncStep.podName("ones", shard: Shard(index: 2, count: 4)) == "ones-data-files-transfer-2" && FileSyncStep.podName("ones", shard: nil) == "ones-data-files-transfer")
        #expect(FileSyncStep.digest(two) != FileSyncStep.digest(FileSyncStep.arguments(spec, settings: StepSettings(), paused: false, shard: Shard(index: 1, count: 4))))

        var pod: JSONValue = [:]
        FileSyncStep.place(&pod, migration: "ones", shared: true)
        #expect(pod[path: ["affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"]] != nil, "\(pod)")
        FileSyncStep.place(&pod, migration: "ones", shared: false)
        #expect(pod[path: ["affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]]?.arrayValue?.first?[path: ["labelSelector", "matchLabels", "ferry.dev/migration"]] == "ones")

        var other = spec
        other.fileSync?.journal = true
        #expect(other.validate().map(\.field) == ["spec.fileSync.journal"])
        other = spec
        other.fileSync?.shards = 65
        #expect(other.validate().map(\.field) == ["spec.fileSync.shards"])
        other = spec
        other.files?[0].to = .init(s3: S3Spec(endpoint: "https://s3.example:443", bucket: "ones", credentialsSecret: "k"))
        #expect(other.validate().map(\.field).contains("spec.fileSync.shards"))
    }

    @Test("fileSync.method: move mounts the package's claim once, writable, and renames between paths of that one mount (no journal); reflink is passed on; move across claims, to a bucket or with a journal is refused by field")
    func sameDisk() throws {
        var spec = MigrationSpec(package: PackageSource(persistentVolumeClaim: "data", subPath: "backup/ones-2026"), appVersion: "6.4.1")
        spec.files = [FileMapping(name: "attachments", from: "files", to: .init(persistentVolumeClaim: "data", subPath: "ones/files/"))]
        spec.fileSync = FileSyncSpec(preSync: true)
        spec.fileSync?.method = "move"
        #expect(spec.validate().isEmpty, "\(spec.validate())")
        let moving = FileSyncStep.arguments(spec, settings: StepSettings(), paused: false)
        #expect(moving.method == .move && moving.copies.map(\.text) == ["/volume/backup/ones-2026/files=/volume/ones/files"])
        #expect(moving.journals.isEmpty && !moving.watch, "a journal would record the move itself")
        let volumes = StepPod.sharedVolume(spec)
        #expect(volumes.volumes.count == 1 && volumes.volumes[0][path: ["persistentVolumeClaim", "claimName"]]?.stringValue == "data"
                && volumes.mounts[0]["readOnly"] == nil && volumes.mounts[0]["subPath"] == nil, "\(volumes)")

        var other = spec
        other.files?[0].to.persistentVolumeClaim = "files"
        #expect(other.validate().map(\.field) == ["spec.files[0].to.persistentVolumeClaim"])
        #expect(other.validate().first?.message.contains("is not the package's claim data") == true)
        for bad in [nil, "backup", "backup/ones-2026/files/x", "."] {
            other = spec
            other.files?[0].to.subPath = bad
            #expect(other.validate().map(\.field) == ["spec.files[0].to.subPath"], "\(bad ?? "nil")")
        }
        other = spec
        other.fileSync?.journal = true
        #expect(other.validate().map(\.field) == ["spec.fileSync.journal"])
        other = spec
        other.package = PackageSource(hostPath: "/srv/backup", nodeName: "n1")
        #expect(other.validate().map(\.field) == ["spec.fileSync.method"])
        other = spec
        other.files?[0].to = .init(s3: S3Spec(endpoint: "https://s3.example:443", bucket: "ones", credentialsSecret: "k"))
        #expect(other.validate().map(\.field).contains("spec.fileSync.method"))
        other = spec
        other.fileSync?.method = "hardlink"
        #expect(other.validate().first?.message.contains("not one of copy, reflink, move") == true)

        var cloning = spec
        cloning.fileSync?.method = "reflink"
        cloning.files?[0].to.persistentVolumeClaim = "files"
        #expect(cloning.validate().isEmpty)
        let args = FileSyncStep.arguments(cloning, settings: StepSettings(), paused: false)
        #expect(args.method == .reflink && args.argv.contains("--method") && args.copies.map(\.text) == ["/package/files=/targets/attachments"] && args.watch)
        cloning.fileSync?.method = nil
        #expect(!FileSyncStep.arguments(cloning, settings: StepSettings(), paused: false).argv.contains("--method"), "left out: reflink where it can")
    }
}
