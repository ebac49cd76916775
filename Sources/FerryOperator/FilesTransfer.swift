import AsyncHTTPClient
import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import NIOCore

/// The `presync` and `files` steps: the controller runs one
/// `<migration>-data-files-transfer` pod (`ferry mover files`), recreates it
/// when it dies (the mover resumes: what is complete is skipped), polls its
/// control endpoint into `status.files`, and pushes pause/resume and
/// bandwidth changes to it.
public struct FilesTransfer: Sendable {
    public let client: KubeClient
    public let settings: StepSettings
    let http: HTTPClient

    public init(client: KubeClient, settings: StepSettings, http: HTTPClient = .shared) {
        self.client = client
        self.settings = settings
        self.http = http
    }

    public static func podName(_ migration: String) -> String { "\(migration)-data-files-transfer" }
    static let attemptLabel = "ferry.dev/attempt"

    /// What the operator learns each time it looks.
    public struct Observation: Sendable {
        public var outcome: StepOutcome
        public var files: FilesStatus?
    }

    public func drive(_ step: StepStatus, migration: Migration, spec: MigrationSpec, paused: Bool, previous: FilesStatus?, now: Date) async throws -> Observation {
        let namespace = migration.metadata.namespace ?? "default"
        let name = Self.podName(migration.metadata.name ?? "")
        let attempt = String(step.attempts ?? 1)
        let pod: JSONValue
        let token = try await MoverToken.ensure(client, migration: migration)
        do {
            pod = try await client.get(.pods, name: name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            try await create(step, attempt: attempt, migration: migration, spec: spec, paused: paused)
            return Observation(outcome: .running(previous == nil ? "starting the data-files-transfer pod" : "the data-files-transfer pod was gone; started it again (it resumes)"), files: previous)
        }
        if pod[path: ["metadata", "deletionTimestamp"]] != nil {
            return Observation(outcome: .running("waiting for the previous data-files-transfer pod to stop"), files: previous)
        }
        let labels = pod[path: ["metadata", "labels"]]
        if labels?[StepJobs.stepLabel]?.stringValue != step.name || labels?[Self.attemptLabel]?.stringValue != attempt {
            // Left from presync or an earlier attempt: replace it.
            _ = try? await client.delete(.pods, name: name, namespace: namespace)
            return Observation(outcome: .running("replacing the previous data-files-transfer pod"), files: previous)
        }
        switch pod[path: ["status", "phase"]]?.stringValue {
        case "Succeeded", "Failed":
            var files = previous ?? FilesStatus()
            let outcome = StepJobs.outcome(job: ["status": ["conditions": [["type": pod[path: ["status", "phase"]]?.stringValue == "Succeeded" ? "Complete" : "Failed", "status": "True"]]]], pods: [pod])
            if case .succeeded(let result, _) = outcome {
                files.filesDone = result?["filesTotal"]?.intValue ?? files.filesDone
                files.filesTotal = result?["filesTotal"]?.intValue ?? files.filesTotal
                files.bytesDone = result?["bytesTotal"]?.intValue ?? files.bytesDone
                files.bytesTotal = result?["bytesTotal"]?.intValue ?? files.bytesTotal
                files.etaSeconds = 0
                files.state = "done"
                files.paused = false
                files.summary = "100% done"
            } else if case .failed(let m, _, _) = outcome {
                files.lastError = String(m.prefix(300))
                files.state = "failed"
            }
            return Observation(outcome: outcome, files: files)
        case "Running":
            guard let ip = pod[path: ["status", "podIP"]]?.stringValue else {
                return Observation(outcome: .running("data-files-transfer pod running, no IP yet"), files: previous)
            }
            let base = "http://\(ip.contains(":") ? "[\(ip)]" : ip):\(settings.moverPort)"
            do {
                var progress = try await get(base + "/progress", token: token)
                let state = progress["state"]?.stringValue
                if paused && state != "paused" && state != "done" && state != "verifying" {
                    try await post(base + "/pause", "", token: token)
                    progress = try await get(base + "/progress", token: token)
                } else if !paused && state == "paused" {
                    try await post(base + "/resume", "", token: token)
                    progress = try await get(base + "/progress", token: token)
                }
                let want = spec.fileSync?.bandwidth ?? 0
                if progress["bandwidth"]?.intValue != want {
                    try await post(base + "/bandwidth", String(want), token: token)
                }
                let files = Self.filesStatus(progress, previous: previous, now: now)
                return Observation(outcome: .running(Self.message(files)), files: files)
            } catch {
                var files = previous ?? FilesStatus()
                files.lastError = "the data-files-transfer pod's progress endpoint does not answer: \(error)"
                return Observation(outcome: .running("data-files-transfer pod running; waiting for its progress endpoint"), files: files)
            }
        default:
            let waiting = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting"]]
            var files = previous ?? FilesStatus()
            files.state = "podNotRunning"
            let why = waiting.map { "\($0["reason"]?.stringValue ?? ""): \($0["message"]?.stringValue ?? "")" } ?? "pending"
            return Observation(outcome: .running("data-files-transfer pod not running yet (\(why))"), files: files)
        }
    }

    private func create(_ step: StepStatus, attempt: String, migration: Migration, spec: MigrationSpec, paused: Bool) async throws {
        guard let owner = migration.metadata.name, migration.metadata.uid != nil else { return }
        var args = ["mover", "files"]
        let package = StepJobs.packageVolume(spec)
        let targets = StepJobs.targetVolumes(spec, readOnly: false)
        let token: JSONValue = ["name": "mover-token", "secret": ["secretName": .string(MoverToken.secretName(owner)), "defaultMode": 0o440]]
        let volumes = package.volumes + targets.volumes + [token]
        let mounts = package.mounts + targets.mounts + [["name": "mover-token", "mountPath": .string(MoverToken.mount), "readOnly": true]]
        for f in spec.files ?? [] { args += ["--copy", "\(StepJobs.packageMount)/\(f.from)=\(StepJobs.targetMount(f.name))"] }
        let sync = spec.fileSync ?? FileSyncSpec()
        args += ["--parallelism", String(sync.parallelism ?? MigrationDefaults.fileSyncParallelism), "--verify", sync.verify ?? MigrationDefaults.fileSyncVerify,
                 "--bandwidth", String(sync.bandwidth ?? 0), "--control-port", String(settings.moverPort),
                 "--control-host-env", "POD_IP", "--control-token-file", "\(MoverToken.mount)/\(MoverToken.key)", "--result-file", "/dev/termination-log"]
        if let w = sync.window { args += ["--window-start", w.start, "--window-end", w.end, "--window-time-zone", w.timeZone ?? MigrationDefaults.windowTimeZone] }
        if paused { args.append("--start-paused") }
        let labels: JSONValue = ["app": "data-files-transfer", FerryNames.migrationLabel: .string(owner), StepJobs.stepLabel: .string(step.name), Self.attemptLabel: .string(attempt)]
        var podSpec: JSONValue = [
            "restartPolicy": "Never",
            "containers": [[
                "name": "mover",
                "image": .string(settings.image),
                "imagePullPolicy": .string(settings.imagePullPolicy),
                "command": .array(([settings.command] + args).map { .string($0) }),
                "ports": [["name": "control", "containerPort": .int(Int64(settings.moverPort))]],
                "env": [["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]]],
                "volumeMounts": .array(mounts),
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "resources": ["requests": ["cpu": "200m", "memory": "64Mi"]],
            ]],
            "volumes": .array(volumes),
            "automountServiceAccountToken": false,
        ]
        RestrictedPod.apply(to: &podSpec)
        if let node = spec.package.nodeName, spec.package.hostPath != nil { podSpec["nodeName"] = .string(node) }
        let pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": [
                "name": .string(Self.podName(owner)), "namespace": .string(migration.metadata.namespace ?? "default"), "labels": labels,
                "ownerReferences": [OwnerReference.controller(of: migration)],
            ],
            "spec": podSpec,
        ]
        do {
            _ = try await client.create(.pods, pod, namespace: migration.metadata.namespace)
        } catch let e as KubeAPIError where e.isAlreadyExists {}
    }

    private func get(_ url: String, token: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await http.execute(request, timeout: .seconds(2))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw KubeClientError.transport(method: "GET", url: url, detail: "HTTP \(response.status.code)") }
        return try JSONWire.parse(Array(buffer: body))
    }

    private func post(_ url: String, _ body: String, token: String) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await http.execute(request, timeout: .seconds(2))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw KubeClientError.transport(method: "POST", url: url, detail: "HTTP \(response.status.code)") }
    }

    /// status.files from the mover's progress document.
    static func filesStatus(_ p: JSONValue, previous: FilesStatus?, now: Date) -> FilesStatus {
        var f = FilesStatus()
        f.filesDone = p["filesDone"]?.intValue
        f.filesTotal = p["filesTotal"]?.intValue
        f.bytesDone = p["bytesDone"]?.intValue
        f.bytesTotal = p["bytesTotal"]?.intValue
        f.bytesPerSecond = p["bytesPerSecond"]?.intValue
        f.etaSeconds = p["etaSeconds"]?.intValue
        f.state = p["state"]?.stringValue
        f.paused = f.state == "paused"
        f.lastError = p["errors"]?.arrayValue?.last?.stringValue
        let moved = f.filesDone != previous?.filesDone || f.bytesDone != previous?.bytesDone
        f.lastProgressAt = moved || previous?.lastProgressAt == nil ? Timestamps.format(now) : previous?.lastProgressAt
        f.summary = summary(percent: p["percent"]?.doubleValue ?? 0, rate: f.bytesPerSecond ?? 0, eta: f.etaSeconds, state: f.state)
        return f
    }

    /// The Files column: `41% 118MiB/s ETA 3m`, or `41% paused`.
    public static func summary(percent: Double, rate: Int64, eta: Int64?, state: String?) -> String {
        let pct = "\(Int(percent.rounded(.down)))%"
        switch state {
        case "paused": return "\(pct) paused"
        case "waitingForWindow": return "\(pct) waiting for window"
        case "verifying": return "\(pct) verifying"
        default: break
        }
        let mib = Double(rate) / 1_048_576
        let rateText = mib >= 10 ? "\(Int(mib.rounded()))MiB/s" : String(format: "%.1fMiB/s", mib)
        guard let eta else { return "\(pct) \(rateText)" }
        let etaText = eta >= 3600 ? "\(eta / 3600)h\((eta % 3600) / 60)m" : eta >= 60 ? "\(eta / 60)m" : "\(eta)s"
        return "\(pct) \(rateText) ETA \(etaText)"
    }

    static func message(_ f: FilesStatus) -> String {
        "\(f.state ?? "copying"): \(f.filesDone ?? 0)/\(f.filesTotal ?? 0) files, \(f.bytesDone ?? 0)/\(f.bytesTotal ?? 0) bytes"
    }
}
