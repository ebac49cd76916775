import FerryProtocol
@testable import FerrySteps
import Foundation
import KubeClient
import Testing
import TestSupport

/// Ferry's pods run as 65532 without capabilities; the tests run as root. A socket option
/// only root may set (SO_DEBUG, which `ChannelOptions.socketOption(.tcp_nodelay)` sets, at
/// SOL_SOCKET, where TCP_NODELAY's number means SO_DEBUG) works here and fails every connection
/// in a cluster. These run each network role of the binary as that user: a client (Kafka), a
/// server (the gateway), and KubeSim's API server (`make sandbox` as a normal user).
@Suite("Network code as the pods' user (65532, no capabilities)", .serialized, .timeLimit(.minutes(3)),
       .enabled(if: getuid() == 0, "runs ferry as 65532 through setpriv, which needs root"))
struct NonRootNetworkTests {
    static let ferry = repoRoot + "/.build/debug/ferry"
    static let user = "65532"

    static func asUser(_ args: [String]) -> (String, [String]) {
        ("/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", ferry] + args)
    }

    /// A long-running ferry as 65532, its output in a file.
    static func start(_ args: [String]) throws -> (Process, String) {
        let log = try makeTempDir("nonroot") + "/out.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let (program, arguments) = asUser(args)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        let handle = FileHandle(forWritingAtPath: log)!
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return (p, log)
    }

    static func readable(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("a Kafka client: ferry restore kafka --dry-run as 65532 reaches the broker and prints its plan")
    func kafkaClient() async throws {
        let servers = try await TestServers.shared()
        try #require(servers.kafkaPort > 0, "the test broker is not running")
        let boot = "127.0.0.1:\(servers.kafkaPort)"
        let tag = UUID().uuidString.prefix(6).lowercased()
        let topic = "nonroot-\(tag)", group = "nonroot-g-\(tag)"
        _ = try await KafkaPython.run(servers, """
            seed(["\(topic)"], 2, 5)
            commit("\(group)", {("\(topic)", part): 3 for part in range(2)})
            """)
        let package = try makeTempDir("nonroot-kafka")
        let export = try await runCommand(Self.ferry, ["export", "kafka", "--bootstrap", boot, "--group", group, "--output", package + "/kafka/offsets.json"])
        #expect(export.status == 0, "\(export.combined)")
        try ManifestBuilder.writeJSON(PackageManifest(kafkaOffsets: "kafka/offsets.json"), to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(kafka: true)), to: package + "/ferry-package.json")
        _ = try await KafkaPython.run(servers, "commit(\"\(group)\", {(\"\(topic)\", 0): 1})\n")
        let out = try makeTempDir("nonroot-result")
        chmod(out, 0o777)
        let (program, args) = Self.asUser(["restore", "kafka", "--package", package, "--bootstrap", boot, "--group", group, "--dry-run", "--result-file", out + "/r.json"])
        let r = try await runCommand(program, args, timeout: 90)
        #expect(r.status == 0, "\(r.combined)")
        #expect(r.combined.contains("\(topic)/0 1 → 3 (dry run)"), "\(r.combined)")
        #expect(!r.combined.contains("Permission denied"), "\(r.combined)")
    }

    @Test("a server: ferry gateway as 65532 accepts a connection and answers it (an unsigned request is refused with 403, not reset)")
    func gatewayServer() async throws {
        let swift = try await SwiftS3.shared()
        let bucket = "nonroot-\(UUID().uuidString.prefix(8).lowercased())"
        let target = S3Client(location: S3Location(endpoint: swift.endpoint, bucket: bucket), credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        _ = try await target.send(.PUT, key: nil)
        let dir = try makeTempDir("nonroot-gateway")
        for (keys, id, secret) in [("app", "app-key", "app-secret"), ("mover", "mover-key", "mover-secret"), ("creds", SwiftS3.accessKey, SwiftS3.secretKey)] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(keys)", withIntermediateDirectories: true)
            try id.write(toFile: "\(dir)/\(keys)/AWS_ACCESS_KEY_ID", atomically: true, encoding: .utf8)
            try secret.write(toFile: "\(dir)/\(keys)/AWS_SECRET_ACCESS_KEY", atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: dir + "/source", withIntermediateDirectories: true)
        let port = try freeLocalPort()
        let (gateway, log) = try Self.start([
            "gateway", "--target", "s3://t@\(bucket)/app", "--source", dir + "/source",
            "--s3-store", "t={\"endpoint\":\"\(swift.endpoint)\",\"credentialsDir\":\"\(dir)/creds\"}",
            "--app-keys-dir", dir + "/app", "--mover-keys-dir", dir + "/mover",
            "--host", "127.0.0.1", "--port", String(port), "--metrics-port=-1",
        ])
        defer { gateway.terminate() }
        var answer = ""
        let answered = try await eventually(timeout: 30, interval: 0.2) {
            let r = try await runCommand("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/\(bucket)/key"], timeout: 10)
            answer = r.combined
            return r.status == 0 || !gateway.isRunning
        }
        #expect(answered && answer == "403", "curl: \(answer); the gateway's log: \(Self.readable(log))")
        #expect(gateway.isRunning, "\(Self.readable(log))")
    }

    @Test("KubeSim's API server as 65532: kubectl lists namespaces through it")
    func kubeSimServer() async throws {
        let data = try makeTempDir("nonroot-kubesim")
        chmod(data, 0o777)
        let (sim, log) = try Self.start(["sandbox", "api", "--data-dir", data + "/sim", "--ephemeral", "--no-workloads"])
        defer { sim.terminate() }
        var kubeconfig = ""
        #expect(try await eventually(timeout: 30, interval: 0.1) {
            kubeconfig = Self.readable(log).split(separator: "\n").first { $0.hasPrefix("kubeconfig: ") }.map { String($0.dropFirst(12)) } ?? ""
            return !kubeconfig.isEmpty || !sim.isRunning
        })
        try #require(!kubeconfig.isEmpty, "KubeSim did not start as 65532: \(Self.readable(log))")
        let r = try await runCommand("kubectl", ["--kubeconfig", kubeconfig, "get", "namespaces", "-o", "name"], timeout: 30)
        #expect(r.status == 0 && r.stdout.contains("namespace/default"), "\(r.combined); KubeSim: \(Self.readable(log))")
    }
}
