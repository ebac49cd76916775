import FerryAPI
import FerrySteps
import Foundation
import KubeClient
import TestSupport
import Testing

/// The file sync inside a Migration: the controller runs the
/// data-files-transfer pod (KubeSim runs it as a local `ferry mover files`).
@Suite("File sync end to end (kubectl, KubeSim pod runner)", .serialized, .timeLimit(.minutes(6)))
struct FilesEndToEndTests {
    /// `count` files of ~100 KiB random bytes under `root/files`, in folders.
    static func makePackage(count: Int) throws -> String {
        let package = try makeTempDir("files-package")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(files: ["files"])), to: package + "/ferry-package.json")
        try ManifestBuilder.writeJSON(PackageManifest(), to: package + "/manifest.json")
        var rng = SystemRandomNumberGenerator()
        for i in 0..<count {
            let dir = "\(package)/files/a\(i % 7)/b\(i % 3)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var bytes = [UInt8](repeating: 0, count: 100_000)
            for j in stride(from: 0, to: bytes.count, by: 64) { bytes[j] = UInt8.random(in: 0...255, using: &rng) }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/f\(i).bin"))
        }
        return package
    }

    static func freePort() throws -> Int { try freeStablePort() }

    static func controller(_ env: KubectlEnv, _ name: String, moverPort: Int) throws -> ControllerProcess {
        try ControllerProcess.runningSteps(env, name: name, extra: ["--mover-port", String(moverPort)])
    }

    /// Bytes of regular files under a folder (what has been written so far).
    static func bytes(under path: String) -> Int64 {
        var total: Int64 = 0
        let e = FileManager.default.enumerator(atPath: path)
        while let name = e?.nextObject() as? String {
            if let size = (try? FileManager.default.attributesOfItem(atPath: path + "/" + name))?[.size] as? NSNumber { total += size.int64Value }
        }
        return total
    }

    static func identical(_ a: String, _ b: String) async throws -> Bool {
        try await runCommand("/usr/bin/diff", ["-r", "-q", a, b], timeout: 60).status == 0
    }

    /// The transfer pod's control endpoint (its own address) and the token it wants.
    static func mover(_ env: KubectlEnv, _ migration: String, port: Int, pod: String? = nil) async throws -> (url: String, token: String) {
        let ip = try await env.jsonpath("pod/\(pod ?? "\(migration)-data-files-transfer")", ".status.podIP")
        let b64 = try await env.jsonpath("secret/\(migration)-mover", ".data.token")
        return ("http://\(ip):\(port)", Data(base64Encoded: b64).map { String(decoding: $0, as: UTF8.self) } ?? "")
    }

    @Test("pause by annotation: the mover pauses (its reaction time is printed), phase Paused, no bytes written for 3 s; the pod killed mid-way is recreated, still paused, same run; a bandwidth change applies live; running resumes; Succeeded with the trees identical")
    func pauseKillBandwidth() async throws {
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let package = try Self.makePackage(count: 240)  // ~24 MB: ~48 s at 0.5 MB/s, so the steps below land mid-copy even on a busy box
            let port = try Self.freePort()
            let controller = try Self.controller(env, "files", moverPort: port)
            defer { controller.terminateNow() }
            let target = env.fixture.server.dataDirectory + "/volumes/default/app-files/attachments"
            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: sync, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  files:
                  - {name: attachments, from: files, to: {persistentVolumeClaim: app-files, subPath: attachments}}
                  fileSync: {bandwidth: 500000, parallelism: 4}

                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.2) { (Int(try await env.jsonpath("migration/sync", ".status.files.bytesDone")) ?? 0) > 0 }, "\(controller.log.suffix(2000))")
            #expect(try await env.jsonpath("pod/sync-data-files-transfer", ".metadata.labels.app") == "data-files-transfer")
            let columns = try await env.kubectl("get", "migrations").stdout
            #expect(columns.contains("MiB/s"), "the Files column shows the rate: \(columns)")

            // Pause: the mover itself is paused within about a second of the annotation (asked on its
            // own endpoint, so kubectl's start-up time on a busy box does not count), then the phase shows it.
            var mover = try await Self.mover(env, "sync", port: port)
            #expect(try await httpGet(mover.url + "/progress").status == 401, "no token, no answer")
            #expect(try await httpGet(mover.url + "/progress", bearer: "wrong").status == 401)
            #expect(try await env.kubectl("annotate", "migration", "sync", "ferry.dev/files=paused").status == 0)
            let asked = Date()
            // A generous deadline (the suite runs in parallel on 2 cores); how fast it reacts is measured, not asserted.
            #expect(try await eventually(timeout: 30, interval: 0.05) {
                ((try? await httpGet(mover.url + "/progress", bearer: mover.token).body) ?? "").contains("\"state\":\"paused\"")
            })
            let reaction = Date().timeIntervalSince(asked)
            print("file sync: the mover paused \(String(format: "%.2f", reaction)) s after the annotation")
            #expect(try await eventually(timeout: 30, interval: 0.1) { try await env.jsonpath("migration/sync", ".status.phase") == "Paused" })
            try await Task.sleep(nanoseconds: 500_000_000)
            let before = Self.bytes(under: target)
            try await Task.sleep(nanoseconds: 3_000_000_000)
            #expect(Self.bytes(under: target) == before, "bytes written while paused")
            #expect(try await env.jsonpath("migration/sync", #".status.conditions[?(@.type=="Paused")].status"#) == "True")
            let row = try await env.kubectl("get", "migrations").stdout
            #expect(row.contains("Paused") && row.contains("paused"), "\(row)")

            // Kill the pod mid-way (while paused, so a loaded machine cannot finish the copy first):
            // it comes back, still paused, in the same run.
            try #require(try await env.jsonpath("migration/sync", #".status.steps[?(@.name=="files")].state"#) == "Running", "the copy must still be running here")
            let uid = try await env.jsonpath("pod/sync-data-files-transfer", ".metadata.uid")
            #expect(try await env.kubectl("delete", "pod", "sync-data-files-transfer", "--wait=false").status == 0)
            #expect(try await eventually(timeout: 20, interval: 0.2) {
                let now = try await env.jsonpath("pod/sync-data-files-transfer", ".metadata.uid")
                return !now.isEmpty && now != uid
            }, "the pod was recreated: \(controller.log.suffix(1500))")
            #expect(try await eventually(timeout: 20, interval: 0.2) {
                mover = try await Self.mover(env, "sync", port: port)
                return ((try? await httpGet(mover.url + "/progress", bearer: mover.token).body) ?? "").contains("\"state\":\"paused\"")
            }, "the recreated mover starts paused")
            let beforeResume = Self.bytes(under: target)
            #expect(beforeResume > 0 && beforeResume < 24_000_000, "mid-way: \(beforeResume) bytes")

            // A new limit reaches the running mover within about a second (asked on its own endpoint).
            #expect(try await env.kubectl("patch", "migration", "sync", "--type=merge", "-p", #"{"spec":{"fileSync":{"bandwidth":2500000}}}"#).status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.1) {
                let body = (try? await httpGet(mover.url + "/progress", bearer: mover.token).body) ?? ""
                return body.contains("\"bandwidth\":2500000")
            })

            // Resume: it carries on from where it was.
            #expect(try await env.kubectl("annotate", "migration", "sync", "ferry.dev/files=running", "--overwrite").status == 0)
            // The phase leaves Paused (on a loaded box the rest may be copied before a look sees Running).
            #expect(try await eventually(timeout: 120, interval: 0.1) { ["Running", "Succeeded"].contains(try await env.jsonpath("migration/sync", ".status.phase")) })
            #expect(try await eventually(timeout: 60, interval: 0.1) { Self.bytes(under: target) > beforeResume }, "bytes flow again after resume")
            // The limit removed, live: it finishes.
            #expect(try await env.kubectl("patch", "migration", "sync", "--type=merge", "-p", #"{"spec":{"fileSync":{"bandwidth":null}}}"#).status == 0)
            let finished = try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/sync", ".status.phase") == "Succeeded" }
            let finalYAML = try await env.kubectl("get", "migration", "sync", "-o", "yaml").stdout
            #expect(finished, "\(finalYAML)")
            #expect(try await Self.identical(package + "/files", target))
            #expect(try await env.jsonpath("migration/sync", ".status.files.summary") == "100% done")
            #expect(try await env.jsonpath("migration/sync", #".status.steps[?(@.name=="files")].result.filesTotal"#) == "240")
            #expect(try await env.jsonpath("migration/sync", #".status.steps[?(@.name=="files")].attempts"#) == "1", "a recreated pod resumes the same run")
        }
    }

    @Test("fileSync.shards: 4 transfer pods copy their shares at once; a pause reaches every shard (each one's reaction printed) and no bytes are written for 3 s; a shard pod killed mid-way is recreated, paused, and resumes its share; Succeeded with the trees identical and the shards' results adding up")
    func fourShards() async throws {
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let package = try Self.makePackage(count: 420)  // 7 folders of ~6 MB: ~70 s at 600 KB/s, so the steps below land mid-copy on a busy box
            let port = try Self.freePort()
            let controller = try Self.controller(env, "shards", moverPort: port)
            defer { controller.terminateNow() }
            let target = env.fixture.server.dataDirectory + "/volumes/default/app-files/attachments"
            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: sync, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  files:
                  - {name: attachments, from: files, to: {persistentVolumeClaim: app-files, subPath: attachments}}
                  fileSync: {bandwidth: 600000, parallelism: 2, shards: 4}

                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.2) { (Int(try await env.jsonpath("migration/sync", ".status.files.bytesDone")) ?? 0) > 0 }, "\(controller.log.suffix(2000))")
            let pods = (0..<4).map { "sync-data-files-transfer-\($0)" }
            for pod in pods { #expect(try await env.jsonpath("pod/\(pod)", ".metadata.labels.ferry\\.dev/shard") == String(pod.last!), "\(pod)") }
            #expect(try await env.jsonpath("pod/\(pods[1])", ".spec.containers[0].command").contains("1/4"))

            func mover(_ pod: String) async throws -> (url: String, token: String) { try await Self.mover(env, "sync", port: port, pod: pod) }
            func paused(_ pod: String) async throws -> Bool {
                let m = try await mover(pod)
                return ((try? await httpGet(m.url + "/progress", bearer: m.token).body) ?? "").contains("\"state\":\"paused\"")
            }
            // Each shard's bandwidth is a quarter of the limit.
            let first = try await mover(pods[0])
            #expect(try await eventually(timeout: 60, interval: 0.2) { ((try? await httpGet(first.url + "/progress", bearer: first.token).body) ?? "").contains("\"bandwidth\":150000") })

            // Each shard's own endpoint, asked directly (kubectl's start-up time does not count).
            var endpoints: [(url: String, token: String)] = []
            for pod in pods { endpoints.append(try await mover(pod)) }
            #expect(try await env.kubectl("annotate", "migration", "sync", "ferry.dev/files=paused").status == 0)
            let asked = Date()
            var reactions = [String](repeating: "", count: pods.count)
            let all = try await eventually(timeout: 60, interval: 0.02) {
                for (i, m) in endpoints.enumerated() where reactions[i].isEmpty {
                    let body = (try? await httpGet(m.url + "/progress", bearer: m.token).body) ?? ""
                    if body.contains("\"state\":\"paused\"") { reactions[i] = String(format: "%.2f", Date().timeIntervalSince(asked)) }
                }
                return reactions.allSatisfy { !$0.isEmpty }
            }
            #expect(all, "every shard paused: \(reactions)")
            print("file sync shards: the shards paused \(reactions.joined(separator: ", ")) s after the annotation")
            #expect(try await eventually(timeout: 60, interval: 0.1) { try await env.jsonpath("migration/sync", ".status.phase") == "Paused" })
            try await Task.sleep(nanoseconds: 500_000_000)
            let before = Self.bytes(under: target)
            try await Task.sleep(nanoseconds: 3_000_000_000)
            #expect(Self.bytes(under: target) == before, "bytes written while every shard is paused")
            #expect(before > 0 && before < 42_000_000, "mid-way: \(before) bytes")

            // One shard pod killed: it comes back, paused, and its share resumes.
            let uid = try await env.jsonpath("pod/\(pods[2])", ".metadata.uid")
            #expect(try await env.kubectl("delete", "pod", pods[2], "--wait=false").status == 0)
            #expect(try await eventually(timeout: 20, interval: 0.2) {
                let now = try await env.jsonpath("pod/\(pods[2])", ".metadata.uid")
                return !now.isEmpty && now != uid
            }, "the shard pod was recreated: \(controller.log.suffix(1500))")
            #expect(try await eventually(timeout: 60, interval: 0.2) { try await paused(pods[2]) }, "the recreated shard starts paused")

            #expect(try await env.kubectl("annotate", "migration", "sync", "ferry.dev/files=running", "--overwrite").status == 0)
            // The limit removed, live: it finishes.
            #expect(try await env.kubectl("patch", "migration", "sync", "--type=merge", "-p", #"{"spec":{"fileSync":{"bandwidth":null}}}"#).status == 0)
            let finished = try await eventually(timeout: 150, interval: 0.3) { try await env.jsonpath("migration/sync", ".status.phase") == "Succeeded" }
            let finalYAML = try await env.kubectl("get", "migration", "sync", "-o", "yaml").stdout
            #expect(finished, "\(finalYAML)\n\(controller.log.suffix(2000))")
            #expect(try await Self.identical(package + "/files", target))
            #expect(try await env.jsonpath("migration/sync", #".status.steps[?(@.name=="files")].result.filesTotal"#) == "420", "each file in exactly one share")
            #expect(try await env.jsonpath("migration/sync", #".status.steps[?(@.name=="files")].result.shard.count"#) == "4")
            #expect(try await env.jsonpath("migration/sync", ".status.files.summary") == "100% done")
        }
    }

    @Test("preSync with the change journal: the copy runs while the app still serves and the package changes under it; the same pod keeps watching; after quiesce the final pass copies only the recorded paths; both durations are in status; the trees end identical")
    func preSyncThenDelta() async throws {
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let package = try Self.makePackage(count: 60)
            let port = try Self.freePort()
            let controller = try Self.controller(env, "presync", moverPort: port)
            defer { controller.terminateNow() }
            #expect(try await env.applyApp(partOf: "pre").status == 0)
            // ~6 MB at 1.5 MB/s: the first pass takes ~4 s, so the changes below land while it runs.
            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: pre, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  workloads: {selector: {matchLabels: {app.kubernetes.io/part-of: pre}}}
                  files:
                  - {name: attachments, from: files, to: {persistentVolumeClaim: app-files}}
                  fileSync: {preSync: true, bandwidth: 1500000}

                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.2) { try await env.jsonpath("migration/pre", ".status.files.state") == "copying" }, "\(controller.log.suffix(2000))")
            let files = package + "/files"
            try Data("new while copying".utf8).write(to: URL(fileURLWithPath: files + "/a0/new.txt"))
            try Data("rewritten".utf8).write(to: URL(fileURLWithPath: files + "/a1/b1/f1.bin"))
            #expect(rename(files + "/a2/b2/f2.bin", files + "/a2/renamed.bin") == 0)
            #expect(unlink(files + "/a3/b0/f3.bin") == 0)
            #expect(try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/pre", ".status.phase") == "Succeeded" }, "\(controller.log.suffix(2000))")
            let out = try await env.kubectl("get", "migration", "pre", "-o", "yaml").stdout
            func value(_ step: String, _ path: String) async throws -> String {
                try await env.jsonpath("migration/pre", ".status.steps[?(@.name==\"\(step)\")].\(path)")
            }
            #expect(Int(try await value("presync", "result.filesCopied")) ?? 0 >= 58, "\(out)")
            #expect(try await value("files", "result.journals[0].pass") == "journal", "only the recorded paths after quiesce: \(out)")
            #expect(try await value("files", "result.journals[0].trusted") == "true")
            #expect(Int(try await value("files", "result.filesTotal")) ?? 99 <= 6, "the final pass looked at the changed paths, not the 60 files: \(out)")
            #expect(try await env.jsonpath("migration/pre", ".status.files.journals[0].pass") == "journal", "status.files says so too")
            let presyncSeconds = try await value("presync", "result.seconds")
            let filesSeconds = try await value("files", "result.seconds")
            #expect(!presyncSeconds.isEmpty && !filesSeconds.isEmpty)
            let presyncDone = Timestamps.parse(try await value("presync", "finishedAt")) ?? .distantFuture
            let quiesceStart = Timestamps.parse(try await value("quiesce", "startedAt")) ?? .distantPast
            #expect(presyncDone <= quiesceStart, "the pre-copy finished before the app was stopped")
            let target = env.fixture.server.dataDirectory + "/volumes/default/app-files"
            // The file sync does not delete: what left the package after the first pass copied it
            // stays in the target; nothing else differs.
            let diff = try await runCommand("/usr/bin/diff", ["-r", "-q", files, target], timeout: 60)
            #expect(Set(diff.stdout.split(separator: "\n").map(String.init)).isSubset(of: ["Only in \(target)/a2/b2: f2.bin", "Only in \(target)/a3/b0: f3.bin"]), "\(diff.stdout)")
            #expect(FileManager.default.contents(atPath: target + "/a1/b1/f1.bin") == Data("rewritten".utf8))
            #expect(FileManager.default.contents(atPath: target + "/a0/new.txt") == Data("new while copying".utf8))
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "1")
        }
    }

    @Test("two Migrations' transfer pods each have their own address and token: pausing one leaves the other copying; neither answers the other's token")
    func twoMovers() async throws {
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let port = try Self.freePort()
            let controller = try Self.controller(env, "two", moverPort: port)
            defer { controller.terminateNow() }
            for name in ["one", "two"] {
                let package = try Self.makePackage(count: 120)
                let yaml = """
                    apiVersion: ferry.dev/v1alpha1
                    kind: Migration
                    metadata: {name: \(name), namespace: default}
                    spec:
                      package: {hostPath: \(package)}
                      appVersion: "6.4.1"
                      files:
                      - {name: attachments, from: files, to: {persistentVolumeClaim: \(name)-files}}
                      fileSync: {bandwidth: 300000, parallelism: 2}

                    """
                #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            }
            for name in ["one", "two"] {
                #expect(try await eventually(timeout: 30, interval: 0.2) { (Int(try await env.jsonpath("migration/\(name)", ".status.files.bytesDone")) ?? 0) > 0 }, "\(controller.log.suffix(2000))")
            }
            let one = try await Self.mover(env, "one", port: port), two = try await Self.mover(env, "two", port: port)
            #expect(one.url != two.url, "each pod has its own address")
            #expect(one.token != two.token)
            #expect(try await httpGet(two.url + "/progress", bearer: one.token).status == 401, "one's token does not open two")
            #expect(try await env.kubectl("annotate", "migration", "one", "ferry.dev/files=paused").status == 0)
            #expect(try await eventually(timeout: 30, interval: 0.1) {
                ((try? await httpGet(one.url + "/progress", bearer: one.token).body) ?? "").contains("\"state\":\"paused\"")
            })
            let target = env.fixture.server.dataDirectory + "/volumes/default/two-files"
            let before = Self.bytes(under: target)
            #expect(try await eventually(timeout: 30, interval: 0.2) { Self.bytes(under: target) > before }, "two kept copying while one was paused")
            #expect(!((try? await httpGet(two.url + "/progress", bearer: two.token).body) ?? "").contains("\"state\":\"paused\""))
        }
    }
}
