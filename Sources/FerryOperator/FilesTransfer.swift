import AsyncHTTPClient
import FerryAPI
import FerryEngine
import FerryProtocol
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

    public init(client: KubeClient, settings: StepSettings, http: HTTPClient) {
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
            let outcome = StepPodOutcome.outcome(pod: pod)
            if case .succeeded(let result, _) = outcome {
                let done = result.flatMap { try? $0.decode(as: FileSyncResult.self) }
                files.filesDone = done.map(\.filesTotal) ?? files.filesDone
                files.filesTotal = done.map(\.filesTotal) ?? files.filesTotal
                files.bytesDone = done.map(\.bytesTotal) ?? files.bytesDone
                files.bytesTotal = done.map(\.bytesTotal) ?? files.bytesTotal
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
                var progress = try await get(base + MoverAPI.progress, token: token)
                if paused && ![.paused, .done, .verifying].contains(progress.state) {
                    try await post(base + MoverAPI.pause, "", token: token)
                    progress = try await get(base + MoverAPI.progress, token: token)
                } else if !paused && progress.state == .paused {
                    try await post(base + MoverAPI.resume, "", token: token)
                    progress = try await get(base + MoverAPI.progress, token: token)
                }
                let want = spec.fileSync?.bandwidth ?? 0
                if progress.bandwidth != want {
                    try await post(base + MoverAPI.bandwidth, String(want), token: token)
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

    /// The transfer pod's arguments: each `spec.files[]` folder of the package into its target claim.
    static func arguments(_ spec: MigrationSpec, settings: StepSettings, paused: Bool) -> FileSyncArguments {
        let sync = spec.fileSync ?? FileSyncSpec()
        return FileSyncArguments(
            copies: (spec.files ?? []).map { .init(source: "\(StepPod.packageMount)/\($0.from)", target: StepPod.targetMount($0.name)) },
            parallelism: sync.parallelism ?? MigrationDefaults.fileSyncParallelism, verify: sync.verify ?? MigrationDefaults.fileSyncVerify,
            bandwidth: Int(sync.bandwidth ?? 0), window: sync.window.map { .init(start: $0.start, end: $0.end, timeZone: $0.timeZone ?? MigrationDefaults.windowTimeZone) },
            controlPort: settings.moverPort, controlHostEnv: "POD_IP", controlTokenFile: "\(MoverToken.mount)/\(MoverToken.key)", startPaused: paused)
    }

    private func create(_ step: StepStatus, attempt: String, migration: Migration, spec: MigrationSpec, paused: Bool) async throws {
        guard let owner = migration.metadata.name, migration.metadata.uid != nil else { return }
        let volumes = StepPod.package(spec) + StepPod.targets(spec, readOnly: false)
            + StepPod.secret(MoverToken.secretName(owner), volume: "mover-token", at: MoverToken.mount)
        let labels: JSONValue = ["app": "data-files-transfer", FerryNames.migrationLabel: .string(owner), StepJobs.stepLabel: .string(step.name), Self.attemptLabel: .string(attempt)]
        let podSpec = StepPod.spec(container: "mover", argv: Self.arguments(spec, settings: settings, paused: paused).argv, volumes: volumes, settings: settings, spec: spec,
                                   cpu: "200m", ports: [["name": "control", "containerPort": .int(Int64(settings.moverPort))]],
                                   env: [["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]]])
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

    private func get(_ url: String, token: String) async throws -> MoverProgress {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await http.execute(request, timeout: .seconds(2))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw KubeClientError.transport(method: "GET", url: url, detail: "HTTP \(response.status.code)") }
        return try JSONDecoder().decode(MoverProgress.self, from: Data(Array(buffer: body)))
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
    static func filesStatus(_ p: MoverProgress, previous: FilesStatus?, now: Date) -> FilesStatus {
        var f = FilesStatus()
        f.filesDone = p.filesDone
        f.filesTotal = p.filesTotal
        f.bytesDone = p.bytesDone
        f.bytesTotal = p.bytesTotal
        f.bytesPerSecond = p.bytesPerSecond
        f.etaSeconds = p.etaSeconds
        f.state = p.state.rawValue
        f.paused = p.state == .paused
        f.lastError = p.errors.last
        let moved = f.filesDone != previous?.filesDone || f.bytesDone != previous?.bytesDone
        f.lastProgressAt = moved || previous?.lastProgressAt == nil ? Timestamps.format(now) : previous?.lastProgressAt
        f.summary = summary(percent: p.percent, rate: p.bytesPerSecond, eta: p.etaSeconds, state: f.state)
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
