import Foundation
import KubeClient
import KubeSim
import TestSupport
import Testing

@Suite("kubeconfig, in-cluster config and credentials", .timeLimit(.minutes(3)))
struct ConfigTests {
    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    func tlsSim(tokens: [String: String] = [:]) async throws -> SimFixture {
        try await SimFixture.start {
            $0.tls = true
            $0.tokens = tokens
        }
    }

    func namespaces(_ config: ClientConfig) async throws -> [String] {
        try await KubeClient(config: config, httpClient: sharedHTTPClient).list(.namespaces).items.compactMap(\.name)
    }

    @Test("certificates as files (relative to the kubeconfig) and as data both connect over TLS")
    func certificatesAsFilesAndData() async throws {
        let f = try await tlsSim()
        defer { Task { await f.stop() } }
        let dir = try makeTempDir("kc")
        let client = try f.server.authority!.issueClient(user: "alice")
        try write(f.server.authority!.certificatePEM, dir + "/ca.pem")
        try write(client.certificatePEM, dir + "/client.pem")
        try write(client.keyPEM, dir + "/client.key")
        try write("""
            apiVersion: v1
            kind: Config
            clusters:
            - name: c
              cluster: {server: "\(f.server.url)", certificate-authority: ca.pem}
            users:
            - name: u
              user: {client-certificate: client.pem, client-key: client.key}
            contexts:
            - name: ctx
              context: {cluster: c, user: u, namespace: team}
            current-context: ctx
            """, dir + "/files.yaml")
        let fromFiles = try KubeConfigLoader.load(files: [dir + "/files.yaml"])
        #expect(fromFiles.namespace == "team")
        #expect(!fromFiles.insecureSkipTLSVerify)
        #expect(try await namespaces(fromFiles) == ["default"])
        try write("""
            apiVersion: v1
            kind: Config
            clusters:
            - name: c
              cluster: {server: "\(f.server.url)", certificate-authority-data: \(b64(f.server.authority!.certificatePEM))}
            users:
            - name: u
              user: {client-certificate-data: \(b64(client.certificatePEM)), client-key-data: \(b64(client.keyPEM))}
            contexts:
            - {name: ctx, context: {cluster: c, user: u}}
            current-context: ctx
            """, dir + "/data.yaml")
        #expect(try await namespaces(try KubeConfigLoader.load(files: [dir + "/data.yaml"])) == ["default"])
    }

    @Test("KUBECONFIG merges files: first value wins, contexts resolve across files, explicit context")
    func mergedFiles() async throws {
        let dir = try makeTempDir("kc")
        try write("""
            apiVersion: v1
            kind: Config
            clusters:
            - {name: a, cluster: {server: "http://127.0.0.1:1111"}}
            users:
            - {name: ua, user: {token: tok-a}}
            current-context: first
            """, dir + "/one.yaml")
        try write("""
            apiVersion: v1
            kind: Config
            clusters:
            - {name: a, cluster: {server: "http://127.0.0.1:9999"}}
            - {name: b, cluster: {server: "http://127.0.0.1:2222"}}
            contexts:
            - {name: first, context: {cluster: a, user: ua, namespace: one}}
            - {name: second, context: {cluster: b}}
            current-context: second
            """, dir + "/two.yaml")
        let merged = try KubeConfigLoader.load(environment: ["KUBECONFIG": "\(dir)/one.yaml:\(dir)/missing.yaml:\(dir)/two.yaml"])
        #expect(merged.server == "http://127.0.0.1:1111", "the first file's cluster a wins")
        #expect(merged.namespace == "one")
        #expect(merged.auth == .token("tok-a"))
        let explicit = try KubeConfigLoader.load(environment: ["KUBECONFIG": "\(dir)/one.yaml:\(dir)/two.yaml"].merging([:]) { a, _ in a })
        #expect(explicit.server == "http://127.0.0.1:1111")
        let second = try KubeConfigLoader.load(files: [dir + "/one.yaml", dir + "/two.yaml"], context: "second")
        #expect(second.server == "http://127.0.0.1:2222")
        #expect(second.auth == .none)
    }

    @Test("errors name the file, the line or the field")
    func errors() throws {
        let dir = try makeTempDir("kc")
        try write("apiVersion: v1\nclusters:\n- name: a\n  cluster: {server: http://x\n users: []\n", dir + "/bad.yaml")
        do {
            _ = try KubeConfigLoader.load(files: [dir + "/bad.yaml"])
            Issue.record("expected an error")
        } catch let e as KubeConfigError {
            #expect("\(e)".contains("bad.yaml"))
            #expect("\(e)".contains("line "))
        }
        try write("apiVersion: v1\nclusters:\n- {name: a, cluster: {server: \"http://127.0.0.1:1\"}}\ncontexts:\n- {name: real, context: {cluster: a}}\ncurrent-context: real\n", dir + "/ok.yaml")
        #expect(throws: KubeConfigError.contextNotFound(name: "nope", files: [dir + "/ok.yaml"])) {
            try KubeConfigLoader.load(files: [dir + "/ok.yaml"], context: "nope")
        }
        do {
            _ = try KubeConfigLoader.load(files: [dir + "/ok.yaml"], context: "nope")
        } catch {
            #expect("\(error)".contains("context \"nope\" not found"))
        }
        try write("apiVersion: v1\nclusters:\n- {name: a, cluster: {server: \"https://127.0.0.1:1\", certificate-authority: nowhere.pem}}\ncontexts:\n- {name: c, context: {cluster: a}}\ncurrent-context: c\n", dir + "/ca.yaml")
        do {
            _ = try KubeConfigLoader.load(files: [dir + "/ca.yaml"])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("certificate-authority"))
            #expect("\(error)".contains("nowhere.pem"))
        }
        try write("apiVersion: v1\nclusters:\n- {name: a, cluster: {server: \"https://127.0.0.1:1\", certificate-authority-data: \"!!notbase64\"}}\ncontexts:\n- {name: c, context: {cluster: a}}\ncurrent-context: c\n", dir + "/ca2.yaml")
        #expect(throws: KubeConfigError.self) { try KubeConfigLoader.load(files: [dir + "/ca2.yaml"]) }
        try write("apiVersion: v1\nclusters:\n- {name: a, cluster: {server: \"https://127.0.0.1:1\"}}\ncontexts:\n- {name: c, context: {cluster: a}}\n", dir + "/nocurrent.yaml")
        do {
            _ = try KubeConfigLoader.load(files: [dir + "/nocurrent.yaml"])
        } catch {
            #expect("\(error)".contains("current-context"))
        }
        try write("apiVersion: v1\nclusters:\n- {name: a, cluster: {server: [1]}}\n", dir + "/type.yaml")
        do {
            _ = try KubeConfigLoader.load(files: [dir + "/type.yaml"])
        } catch {
            #expect("\(error)".contains("clusters[0].cluster.server"), "\(error)")
        }
    }

    @Test("a token file is re-read after its refresh interval and after a 401")
    func tokenFileRotation() async throws {
        let dir = try makeTempDir("tok")
        let path = dir + "/token"
        try write("first\n", path)
        let clock = TestClock()
        let provider = CredentialProvider(method: .tokenFile(path: path, refreshInterval: 60), now: { clock.now })
        #expect(try await provider.authorization() == "Bearer first")
        try write("second", path)
        clock.advance(30)
        #expect(try await provider.authorization() == "Bearer first", "cached within the interval")
        clock.advance(31)
        #expect(try await provider.authorization() == "Bearer second")
        // Against the server: a rotated token is picked up after the 401.
        let f = try await tlsSim(tokens: ["good": "bob"])
        defer { Task { await f.stop() } }
        try write("stale", path)
        var config = try KubeConfigLoader.load(files: [try f.server.writeKubeconfig(to: dir + "/kc", auth: .anonymous)])
        config.auth = .tokenFile(path: path, refreshInterval: 3600)
        let client = KubeClient(config: config, httpClient: sharedHTTPClient)
        do {
            _ = try await client.list(.namespaces)
            Issue.record("expected 401")
        } catch let e as KubeAPIError {
            guard case .unauthorized = e else { Issue.record("got \(e)"); return }
        }
        try write("good", path)
        #expect(try await client.list(.namespaces).items.count == 1)
    }

    @Test("exec credential plugin: token used, cached until expirationTimestamp, errors named")
    func execPlugin() async throws {
        let dir = try makeTempDir("exec")
        let counter = dir + "/calls"
        let expiry = Timestamps.format(Date().addingTimeInterval(100))
        try write("""
            #!/bin/sh
            echo x >> "\(counter)"
            test -n "$KUBERNETES_EXEC_INFO" || exit 3
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"$TOKEN_VALUE"'","expirationTimestamp":"\(expiry)"}}'
            """, dir + "/plugin.sh")
        chmod(dir + "/plugin.sh", 0o755)
        let f = try await tlsSim(tokens: ["from-exec": "carol"])
        defer { Task { await f.stop() } }
        let kc = dir + "/kc"
        try write("""
            apiVersion: v1
            kind: Config
            clusters:
            - {name: c, cluster: {server: "\(f.server.url)", certificate-authority-data: \(b64(f.server.authority!.certificatePEM))}}
            users:
            - name: u
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: ./plugin.sh
                  env: [{name: TOKEN_VALUE, value: from-exec}]
            contexts:
            - {name: x, context: {cluster: c, user: u}}
            current-context: x
            """, kc)
        let config = try KubeConfigLoader.load(files: [kc])
        let client = KubeClient(config: config, httpClient: sharedHTTPClient)
        #expect(try await client.list(.namespaces).items.count == 1)
        #expect(try await client.list(.namespaces).items.count == 1)
        let calls = try String(contentsOfFile: counter, encoding: .utf8).split(separator: "\n").count
        #expect(calls == 1, "the credential is cached until it expires")
        // With a clock past the expiry (minus skew), the plugin runs again.
        guard case .exec(let exec, let file) = config.auth else { Issue.record("expected exec auth"); return }
        let clock = TestClock()
        let provider = CredentialProvider(method: .exec(exec, configFile: file), now: { clock.now })
        _ = try await provider.authorization()
        clock.advance(95)
        _ = try await provider.authorization()
        #expect(try String(contentsOfFile: counter, encoding: .utf8).split(separator: "\n").count == 3)
        // A failing plugin is named with its exit status.
        let failing = CredentialProvider(method: .exec(.init(apiVersion: "client.authentication.k8s.io/v1", command: "/bin/false"), configFile: kc))
        do {
            _ = try await failing.authorization()
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("/bin/false"))
            #expect("\(error)".contains("status 1"))
        }
    }

    @Test("in-cluster: service-account token, CA and namespace; missing environment is named")
    func inCluster() async throws {
        let f = try await tlsSim(tokens: ["sa-token": "system:serviceaccount:ferry:ferry"])
        defer { Task { await f.stop() } }
        let sa = try makeTempDir("sa")
        try write("sa-token\n", sa + "/token")
        try write(f.server.authority!.certificatePEM, sa + "/ca.crt")
        try write("ferry-system", sa + "/namespace")
        let config = try ClientConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(f.server.port)], serviceAccountDirectory: sa)
        #expect(config.namespace == "ferry-system")
        #expect(config.auth == .tokenFile(path: sa + "/token", refreshInterval: 60))
        #expect(try await namespaces(config) == ["default"])
        // With no kubeconfig anywhere, the loader falls back to the in-cluster setup.
        let fallback = try KubeConfigLoader.load(environment: [
            "HOME": "/nonexistent", "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(f.server.port),
            "FERRY_SERVICE_ACCOUNT_DIR": sa,
        ])
        #expect(fallback.source == "in-cluster")
        #expect(try await namespaces(fallback) == ["default"])
        #expect(throws: KubeConfigError.self) { try ClientConfig.inCluster(environment: [:], serviceAccountDirectory: sa) }
        do {
            _ = try ClientConfig.inCluster(environment: [:], serviceAccountDirectory: sa)
        } catch {
            #expect("\(error)".contains("KUBERNETES_SERVICE_HOST"))
        }
    }
}

/// A settable clock for credential caching tests.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date()
    var now: Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }
    func advance(_ seconds: Double) {
        lock.lock()
        current = current.addingTimeInterval(seconds)
        lock.unlock()
    }
}
