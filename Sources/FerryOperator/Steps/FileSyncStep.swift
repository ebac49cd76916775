import AsyncHTTPClient
import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient
import NIOCore

/// `presync` and `files`, the file sync: the controller runs one transfer pod,
/// `<migration>-data-files-transfer` (`ferry mover files`, data plane: FerrySteps/Mover),
/// recreates it when it dies (the mover resumes: what is complete is skipped), reads its
/// control endpoint into `status.files` (``FileSyncStatus``), and pushes pause/resume and
/// bandwidth changes to it.
///
/// With a change journal (`fileSync.journal`, on with preSync) the pod watches the package
/// folders from before its first pass and keeps watching after it: `presync` succeeds when the
/// pod reports `watching`, and `files` takes the same pod over (relabelled) and asks it for
/// the final pass (POST /final), which copies only the recorded paths.
struct FileSyncStep: StepDriver {
    static func podName(_ migration: String) -> String { "\(migration)-data-files-transfer" }
    /// With `fileSync.shards` above 1: `<migration>-data-files-transfer-<index>`.
    static func podName(_ migration: String, shard: Shard?) -> String { shard.map { "\(podName(migration))-\($0.index)" } ?? podName(migration) }
    static let attemptLabel = "ferry.dev/attempt"
    static let shardLabel = "ferry.dev/shard"

    /// Transfer pods as the spec fixes them: 1 unless set; nil for auto (``resolveShards``). Pure.
    static func shardCount(_ spec: MigrationSpec) -> Int? {
        switch spec.fileSync?.shards {
        case .count(let n): return max(1, min(64, n))
        case .auto: return nil
        case .invalid, nil: return 1
        }
    }

    /// `auto`: one pod per node that can take one (Ready, schedulable, no NoSchedule taint)
    /// when every claim can be mounted on several nodes at once; else one. Pure.
    static func autoShards(nodes: [JSONValue], shared: Bool) -> Int {
        guard shared else { return 1 }
        let usable = nodes.filter { n in
            let ready = n[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } ?? false
            let tainted = n[path: ["spec", "taints"]]?.arrayValue?.contains { ["NoSchedule", "NoExecute"].contains($0["effect"]?.stringValue ?? "") } ?? false
            return ready && !tainted && n[path: ["spec", "unschedulable"]]?.boolValue != true
        }
        return max(1, min(64, usable.count))
    }

    /// The pods of this run: fixed by the spec, or auto resolved once (then kept in status.files.shards).
    private func resolveShards(_ context: StepContext) async throws -> Int {
        if let n = Self.shardCount(context.spec) { return n }
        if let kept = context.status.files?.shards { return kept }
        // What a fixed count above 1 is refused with, auto does not try.
        let spec = context.spec
        let buckets = (spec.files ?? []).contains { $0.from.bucket != nil || $0.to.s3 != nil }
        guard !Self.journaled(spec), spec.package.hostPath == nil, !buckets, spec.fileSync?.method != FileSyncMethod.move.rawValue else { return 1 }
        let shared = try await Self.sharedVolumes(context.spec, context)
        let nodes = (try? await context.client.list(.nodes).items) ?? []
        return Self.autoShards(nodes: nodes, shared: shared)
    }
    /// What the pod copies, as a digest: a spec edit mid-run (a new entry, a bucket, fallback
    /// turned on) replaces the pod, which resumes. Pause and bandwidth are pushed live instead.
    static let argumentsLabel = "ferry.dev/arguments"

    /// The digest of what a transfer pod copies and how, without what changes live. Pure.
    static func digest(_ a: FileSyncArguments) -> String {
        var stable = a
        stable.startPaused = false
        stable.bandwidth = 0
        let bytes = stable.argv.joined(separator: "\u{0}").utf8
        return String(bytes.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }, radix: 16)
    }

    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let count = try await resolveShards(context)
        let shards = count > 1 ? (0..<count).map { Shard(index: $0, count: count) } : [nil]
        let wanted = Set(shards.map { Self.podName(context.migration.metadata.name ?? "", shard: $0) })
        let pods = try await transferPods(context)
        await removeOthers(pods, keeping: wanted, context)
        guard count > 1 else {
            var observation = try await drivePod(step, context, shard: nil).observation
            if context.spec.fileSync?.shards == .auto { observation.files = (observation.files ?? FilesStatus()).with(shards: 1) }
            return observation
        }
        // Every shard looked at in one pass, all at once: pause, resume and bandwidth reach each
        // within it, and a slow or failing shard holds up none of the others. The bandwidth is
        // split among the shards still copying.
        let finished = pods.filter { wanted.contains(Self.name(of: $0)) && $0[path: ["status", "phase"]]?.stringValue == "Succeeded" }
        let active = max(1, count - finished.count)
        let seen = await withTaskGroup(of: (Int, FileSyncShards.Shard).self) { group in
            for shard in shards.compactMap({ $0 }) {
                group.addTask {
                    do {
                        let (observation, progress) = try await drivePod(step, context, shard: shard, activeShards: active)
                        return (shard.index, .init(observation.outcome, progress: progress))
                    } catch {
                        return (shard.index, .init(.running("transfer pod \(shard.index): \(error)")))
                    }
                }
            }
            var out = [FileSyncShards.Shard](repeating: .init(.running(nil)), count: count)
            for await (i, s) in group { out[i] = s }
            return out
        }
        let trouble = seen.enumerated().compactMap { i, s -> String? in
            if case .running(let m?) = s.outcome, s.progress == nil, m.hasPrefix("transfer pod \(i):") { return m }
            return nil
        }
        let outcome = FileSyncShards.outcome(seen)
        let previous = context.status.files
        let files = (FileSyncShards.progress(seen).map { FileSyncStatus.running($0, previous: previous, now: context.now) } ?? previous ?? FilesStatus()).with(shards: count)
        if case .running = outcome {
            var shown = files
            if let first = trouble.first { shown.lastError = first }
            return StepObservation(.running("\(count) transfer pods: " + FileSyncStatus.message(files) + (trouble.isEmpty ? "" : "; \(trouble.count) not answering: \(trouble[0])")), files: shown)
        }
        return StepObservation(outcome, files: FileSyncStatus.ended(outcome, previous: files))
    }

    /// This Migration's transfer pods, listed once per pass: which to remove, which have finished.
    private func transferPods(_ context: StepContext) async throws -> [JSONValue] {
        guard let owner = context.migration.metadata.name else { return [] }
        let selector = ListOptions(labelSelector: "app=data-files-transfer,\(FerryNames.migrationLabel)=\(owner)")
        return try await context.client.list(.pods, namespace: context.namespace, options: selector).items
    }

    static func name(of pod: JSONValue) -> String { pod[path: ["metadata", "name"]]?.stringValue ?? "" }

    /// Transfer pods that no longer fit `fileSync.shards` (it was edited) are removed.
    private func removeOthers(_ pods: [JSONValue], keeping names: Set<String>, _ context: StepContext) async {
        for pod in pods where !names.contains(Self.name(of: pod)) && pod[path: ["metadata", "deletionTimestamp"]] == nil {
            _ = try? await context.client.delete(.pods, name: Self.name(of: pod), namespace: context.namespace)
        }
    }

    /// One transfer pod (one shard, or the only pod): created, replaced, followed, steered.
    /// Its progress too while it runs, for the shards' sum.
    private func drivePod(_ step: StepStatus, _ context: StepContext, shard: Shard?, activeShards: Int = 1) async throws -> (observation: StepObservation, progress: MoverProgress?) {
        let (client, migration, spec, paused, previous) = (context.client, context.migration, context.spec, context.filesPaused, context.status.files)
        let namespace = context.namespace
        let name = Self.podName(migration.metadata.name ?? "", shard: shard)
        let attempt = String(step.attempts ?? 1)
        let pod: JSONValue
        let token = try await MoverToken.ensure(client, migration: migration)
        do {
            pod = try await client.get(.pods, name: name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            if Gateway.entry(spec) != nil && context.status.gateway?.endpoint == nil {
                return (StepObservation(.running("waiting for the gateway's address (Service \(Gateway.name(migration.metadata.name ?? "")))"), files: previous), nil)
            }
            try await create(step, attempt: attempt, context, shard: shard)
            return (StepObservation(.running(previous == nil ? "starting the data-files-transfer pod" : "the data-files-transfer pod was gone; started it again (it resumes)"), files: previous), nil)
        }
        if pod[path: ["metadata", "deletionTimestamp"]] != nil {
            return (StepObservation(.running("waiting for the previous data-files-transfer pod to stop"), files: previous), nil)
        }
        let labels = pod[path: ["metadata", "labels"]]
        if shard == nil, StepKind(step.name) == .files, labels?[StepJobs.stepLabel]?.stringValue == StepKind.presync.family, Self.journaled(spec),
           pod[path: ["status", "phase"]]?.stringValue == "Running", labels?[Self.argumentsLabel]?.stringValue == Self.digest(Self.arguments(spec, settings: context.settings, paused: paused, gateway: context.status.gateway?.endpoint, shard: shard)) {
            // The presync pod has watched since before its first pass: its journal is the final delta.
            _ = try await client.patch(.pods, name: name, namespace: namespace, .merge(["metadata": ["labels": [.init(StepJobs.stepLabel): .string(step.name), .init(Self.attemptLabel): .string(attempt)]]]))
            return (StepObservation(.running("the watching transfer pod takes the final pass"), files: previous), nil)
        }
        if labels?[StepJobs.stepLabel]?.stringValue != step.name || labels?[Self.attemptLabel]?.stringValue != attempt {
            // Left from presync or an earlier attempt: replace it.
            _ = try? await client.delete(.pods, name: name, namespace: namespace)
            return (StepObservation(.running("replacing the previous data-files-transfer pod"), files: previous), nil)
        }
        let wanted = Self.digest(Self.arguments(spec, settings: context.settings, paused: paused, gateway: context.status.gateway?.endpoint, shard: shard))
        // A shard pod that ended copying another share (the shard count was edited) is stale too.
        if labels?[Self.argumentsLabel]?.stringValue != wanted, shard != nil || ["Pending", "Running"].contains(pod[path: ["status", "phase"]]?.stringValue ?? "") {
            _ = try? await client.delete(.pods, name: name, namespace: namespace)
            return (StepObservation(.running("spec.files or spec.fileSync changed: replacing the data-files-transfer pod (it resumes; what is copied is skipped)"), files: previous), nil)
        }
        switch pod[path: ["status", "phase"]]?.stringValue {
        case "Succeeded", "Failed":
            let outcome = StepPodOutcome.outcome(pod: pod)
            let files = FileSyncStatus.ended(outcome, previous: previous)
            return (StepObservation(outcome, files: files), nil)
        case "Running":
            guard let ip = pod[path: ["status", "podIP"]]?.stringValue else {
                return (StepObservation(.running("data-files-transfer pod running, no IP yet"), files: previous), nil)
            }
            let base = "http://\(ip.contains(":") ? "[\(ip)]" : ip):\(context.settings.moverPort)"
            do {
                var progress = try await get(context.http, base + MoverAPI.progress, token: token)
                if paused && ![.paused, .done, .verifying].contains(progress.state) {
                    try await post(context.http, base + MoverAPI.pause, "", token: token)
                    progress = try await get(context.http, base + MoverAPI.progress, token: token)
                } else if !paused && progress.state == .paused {
                    try await post(context.http, base + MoverAPI.resume, "", token: token)
                    progress = try await get(context.http, base + MoverAPI.progress, token: token)
                }
                let want = FileSyncShards.bandwidth(spec.fileSync?.bandwidth ?? 0, shards: shard == nil ? 1 : activeShards)
                if progress.bandwidth != want {
                    try await post(context.http, base + MoverAPI.bandwidth, String(want), token: token)
                }
                let files = FileSyncStatus.running(progress, previous: previous, now: context.now)
                if progress.state == .watching {
                    // The first pass is complete and verified; changes since are in the journal.
                    if StepKind(step.name) == .presync {
                        let recorded = (progress.journals ?? []).map(\.paths).reduce(0, +)
                        return (StepObservation(.succeeded(result: progress.firstPass.flatMap { try? JSONValue(encoding: $0) }, message: "first pass done; watching for changes (\(recorded) recorded so far)"), files: files), nil)
                    }
                    try await post(context.http, base + MoverAPI.final, "", token: token)
                    return (StepObservation(.running("final pass from the change journal"), files: files), nil)
                }
                return (StepObservation(.running(FileSyncStatus.message(files)), files: files), progress)
            } catch {
                var files = previous ?? FilesStatus()
                files.lastError = "the data-files-transfer pod's progress endpoint does not answer: \(error)"
                return (StepObservation(.running("data-files-transfer pod running; waiting for its progress endpoint"), files: files), nil)
            }
        default:
            let waiting = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting"]]
            var files = previous ?? FilesStatus()
            files.state = "podNotRunning"
            let why = waiting.map { "\($0["reason"]?.stringValue ?? ""): \($0["message"]?.stringValue ?? "")" } ?? "pending"
            return (StepObservation(.running("data-files-transfer pod not running yet (\(why))"), files: files), nil)
        }
    }

    /// The transfer pod's arguments: each `spec.files[]` entry from its package folder or bucket
    /// into its claim or bucket. A bucket side is `s3://<entry>-from@bucket/prefix` (or `-to`),
    /// the store of that name reading its keys and CA from the Secrets mounted for it.
    /// An entry with `fallback` is copied through its gateway (`gateway`: its endpoint), which
    /// takes the mover's writes only where the application has not written or deleted since.
    static func arguments(_ spec: MigrationSpec, settings: StepSettings, paused: Bool, gateway: String? = nil, shard: Shard? = nil) -> FileSyncArguments {
        let sync = spec.fileSync ?? FileSyncSpec()
        var stores: [String: FileSyncArguments.S3] = [:]
        func side(_ i: Int, _ entry: String, _ end: String, _ b: S3Spec) -> String {
            let name = "\(entry)-\(end)"
            stores[name] = .init(endpoint: b.endpoint, region: b.region ?? "us-east-1", pathStyle: b.pathStyle ?? true, credentialsDir: credentials(i, entry, end, b).mount,
                                 caFile: ca(i, entry, end, b).map { "\($0.mount)/\(caKey)" })
            return "s3://\(name)@\(b.bucket)/\(b.prefix ?? "")"
        }
        let method = FileSyncMethod(rawValue: sync.method ?? "auto") ?? .auto
        let copies: [FileSyncArguments.Copy] = (spec.files ?? []).enumerated().map { i, f in
            if method == .move {  // one mount: the package's claim (validation refuses anything else)
                return .init(source: StepPod.volumePath(spec.package.subPath, f.from.folder), target: StepPod.volumePath(f.to.subPath))
            }
            let source = f.from.bucket.map { side(i, f.name, "from", $0) } ?? "\(StepPod.packageMount)/\(f.from.folder ?? "")"
            var target = f.to.s3.map { side(i, f.name, "to", $0) } ?? StepPod.targetMount(f.name)
            if f.fallback == true, let gateway, let b = f.to.s3 {
                stores["\(f.name)-gateway"] = .init(endpoint: gateway, region: b.region ?? "us-east-1", pathStyle: true, credentialsDir: Gateway.moverKeysMount, gateway: true)
                target = "s3://\(f.name)-gateway@\(b.bucket)/"
            }
            return .init(source: source, target: target)
        }
        // The journal: each package folder copied into a claim, kept in the pod's /tmp.
        let journals: [FileSyncArguments.Copy] = journaled(spec) ? (spec.files ?? []).enumerated().compactMap { i, f in
            f.from.bucket == nil && f.to.s3 == nil ? .init(source: copies[i].source, target: "\(RestrictedPod.tmpMount)/ferry-journal-\(i)") : nil
        } : []
        var arguments = FileSyncArguments(
            copies: copies,
            parallelism: sync.parallelism ?? MigrationDefaults.fileSyncParallelism, verify: sync.verify ?? MigrationDefaults.fileSyncVerify,
            bandwidth: Int(FileSyncShards.bandwidth(sync.bandwidth ?? 0, shards: shard?.count ?? 1)), window: sync.window.map { .init(start: $0.start, end: $0.end, timeZone: $0.timeZone ?? MigrationDefaults.windowTimeZone) },
            controlPort: settings.moverPort, controlHostEnv: "POD_IP", controlTokenFile: "\(MoverToken.mount)/\(MoverToken.key)", startPaused: paused, stores: stores,
            journals: journals, watch: !journals.isEmpty, method: method, shard: shard)
        arguments.unpack = (spec.files ?? []).enumerated().compactMap { i, f in f.unpack == true ? copies[i].source : nil }
        arguments.staging = arguments.unpack.isEmpty ? nil : Self.stagingMount
        return arguments
    }

    /// `spec.files[].unpack`: the archives' contents are staged on the node's disk (an emptyDir
    /// without the 1 GiB limit of /tmp; validate says how much they hold).
    static let stagingMount = "/staging"
    static func staging(_ spec: MigrationSpec) -> StepPod.Volumes {
        guard (spec.files ?? []).contains(where: { $0.unpack == true }) else { return StepPod.Volumes() }
        return StepPod.Volumes(volumes: [["name": "staging", "emptyDir": [:]]], mounts: [["name": "staging", "mountPath": .string(stagingMount)]])
    }

    /// Whether the transfer pod keeps a change journal: with preSync, unless turned off. Pure.
    static func journaled(_ spec: MigrationSpec) -> Bool {
        let sync = spec.fileSync ?? FileSyncSpec()
        // Archives are staged anew on every pass: a journal of the package folder says nothing of them.
        return sync.preSync == true && sync.journal != false && sync.method != FileSyncMethod.move.rawValue && (shardCount(spec) ?? 1) == 1
            && !(spec.files ?? []).contains { $0.unpack == true }
    }

    static let caKey = "ca.crt"

    /// Mounted at /credentials/s3-<index>-<from|to> (a volume name within 63 characters whatever the entry's name).
    static func credentials(_ i: Int, _ entry: String, _ end: String, _ b: S3Spec) -> StepSecret {
        StepSecret(kind: "s3-\(i)-\(end)", field: "spec.files[\(i)].\(end).s3.credentialsSecret", name: b.credentialsSecret, required: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
    }

    static func ca(_ i: Int, _ entry: String, _ end: String, _ b: S3Spec) -> StepSecret? {
        b.caSecret.map { StepSecret(kind: "s3-ca-\(i)-\(end)", field: "spec.files[\(i)].\(end).s3.caSecret", name: $0, required: [caKey]) }
    }

    /// The Secrets the transfer pod mounts for its buckets (validate checks their keys first).
    static func secrets(_ spec: MigrationSpec) -> [StepSecret] {
        (spec.files ?? []).enumerated().flatMap { i, f in
            [f.from.bucket.map { ($0, "from") }, f.to.s3.map { ($0, "to") }].compactMap { $0 }.flatMap { b, end in
                [credentials(i, f.name, end, b)] + [ca(i, f.name, end, b)].compactMap { $0 }
            }
        }
    }

    private func create(_ step: StepStatus, attempt: String, _ context: StepContext, shard: Shard?) async throws {
        let (client, migration, spec, settings) = (context.client, context.migration, context.spec, context.settings)
        guard let owner = migration.metadata.name, migration.metadata.uid != nil else { return }
        let moving = spec.fileSync?.method == FileSyncMethod.move.rawValue
        let volumes = (moving ? StepPod.sharedVolume(spec) : StepPod.package(spec) + StepPod.targets(spec, readOnly: false))
            + StepPod.secret(MoverToken.secretName(owner), volume: "mover-token", at: MoverToken.mount)
            + Self.secrets(spec).map { StepPod.secret($0.name, volume: $0.kind, at: $0.mount) }.reduce(StepPod.Volumes(), +)
            + (Gateway.entry(spec) != nil ? StepPod.secret(Gateway.moverSecret(owner), volume: "gateway-mover", at: Gateway.moverKeysMount) : StepPod.Volumes())
            + Self.staging(spec)
        let arguments = Self.arguments(spec, settings: settings, paused: context.filesPaused, gateway: context.status.gateway?.endpoint, shard: shard)
        var labels: JSONValue = ["app": "data-files-transfer", FerryNames.migrationLabel: .string(owner), StepJobs.stepLabel: .string(step.name), Self.attemptLabel: .string(attempt),
                                 Self.argumentsLabel: .string(Self.digest(arguments))]
        if let shard { labels[Self.shardLabel] = .string(String(shard.index)) }
        var podSpec = StepPod.spec(container: "mover", argv: arguments.argv,
                                   volumes: volumes, settings: settings, spec: spec,
                                   cpu: "200m", ports: [["name": "control", "containerPort": .int(Int64(settings.moverPort))]],
                                   env: [["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]]])
        Gateway.colocate(&podSpec, migration: owner, spec: spec)
        if let shard, shard.count > 1, podSpec["affinity"] == nil, spec.package.hostPath == nil {
            Self.place(&podSpec, migration: owner, shared: try await Self.sharedVolumes(spec, context))
        }
        let pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": [
                "name": .string(Self.podName(owner, shard: shard)), "namespace": .string(migration.metadata.namespace ?? "default"), "labels": labels,
                "ownerReferences": [OwnerReference.controller(of: migration)],
            ],
            "spec": podSpec,
        ]
        do {
            _ = try await client.create(.pods, pod, namespace: migration.metadata.namespace)
        } catch let e as KubeAPIError where e.isAlreadyExists {}
    }

    /// Where shard pods run: spread over the nodes (preferred) when every claim they mount can be
    /// mounted on several nodes at once (ReadWriteMany, or ReadOnlyMany for the package); else
    /// together on one node (required: a ReadWriteOnce claim is one node's). Pure.
    static func place(_ podSpec: inout JSONValue, migration: String, shared: Bool) {
        let term: JSONValue = ["labelSelector": ["matchLabels": ["app": "data-files-transfer", .init(FerryNames.migrationLabel): .string(migration)]], "topologyKey": "kubernetes.io/hostname"]
        podSpec["affinity"] = shared
            ? ["podAntiAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": [["weight": 100, "podAffinityTerm": term]]]]
            : ["podAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [term]]]
    }

    /// Whether every claim a shard pod mounts takes several nodes (read from the claims' access modes).
    static func sharedVolumes(_ spec: MigrationSpec, _ context: StepContext) async throws -> Bool {
        var claims = (spec.files ?? []).compactMap(\.to.persistentVolumeClaim).map { ($0, ["ReadWriteMany"]) }
        if let p = spec.package.persistentVolumeClaim { claims.append((p, ["ReadWriteMany", "ReadOnlyMany"])) }
        for (claim, modes) in claims {
            let pvc = try? await context.client.get(.persistentVolumeClaims, name: claim, namespace: context.namespace)
            let have = pvc?[path: ["spec", "accessModes"]]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !have.contains(where: modes.contains) { return false }
        }
        return true
    }

    private func get(_ http: HTTPClient, _ url: String, token: String) async throws -> MoverProgress {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await http.execute(request, timeout: .seconds(2))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw KubeClientError.transport(method: "GET", url: url, detail: "HTTP \(response.status.code)") }
        return try JSONDecoder().decode(MoverProgress.self, from: Data(Array(buffer: body)))
    }

    private func post(_ http: HTTPClient, _ url: String, _ body: String, token: String) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await http.execute(request, timeout: .seconds(2))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw KubeClientError.transport(method: "POST", url: url, detail: "HTTP \(response.status.code)") }
    }
}

extension FilesStatus {
    func with(shards: Int) -> FilesStatus {
        var f = self
        f.shards = shards
        return f
    }
}
