import Foundation
import KubeClient
import KubeSim
import NIOSSL
import TestSupport
import Testing

@Suite("TLS and authentication against KubeSim in HTTPS mode", .timeLimit(.minutes(3)))
struct TLSTests {
    func sim() async throws -> SimFixture {
        try await SimFixture.start {
            $0.tls = true
            $0.tokens = ["s3cret": "dave"]
        }
    }

    func config(_ f: SimFixture, ca: String, auth: KubeSimServer.KubeconfigAuth) throws -> ClientConfig {
        let dir = try makeTempDir("tls")
        let path = try f.server.writeKubeconfig(to: dir + "/kc", auth: auth)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let original = Data(f.server.authority!.certificatePEM.utf8).base64EncodedString()
        try text.replacingOccurrences(of: original, with: Data(ca.utf8).base64EncodedString()).write(toFile: path, atomically: true, encoding: .utf8)
        return try KubeConfigLoader.load(files: [path])
    }

    @Test("the client verifies the server against the CA; a wrong CA is rejected")
    func verifiesCA() async throws {
        let f = try await sim()
        defer { Task { await f.stop() } }
        let good = try config(f, ca: f.server.authority!.certificatePEM, auth: .clientCertificate(user: "admin"))
        #expect(try await KubeClient(config: good, httpClient: sharedHTTPClient).list(.namespaces).items.count == 1)
        let other = try CertificateAuthority(commonName: "someone-else")
        let bad = try config(f, ca: other.certificatePEM, auth: .clientCertificate(user: "admin"))
        do {
            _ = try await KubeClient(config: bad, httpClient: sharedHTTPClient).list(.namespaces)
            Issue.record("a server signed by another CA must be rejected")
        } catch let e as KubeClientError {
            guard case .transport = e else { Issue.record("got \(e)"); return }
        }
    }

    @Test("client certificate and bearer token authenticate; no credentials → 401 Unauthorized")
    func authentication() async throws {
        let f = try await sim()
        defer { Task { await f.stop() } }
        let ca = f.server.authority!.certificatePEM
        #expect(try await KubeClient(config: try config(f, ca: ca, auth: .clientCertificate(user: "erin")), httpClient: sharedHTTPClient).list(.namespaces).items.count == 1)
        #expect(try await KubeClient(config: try config(f, ca: ca, auth: .token("s3cret")), httpClient: sharedHTTPClient).list(.namespaces).items.count == 1)
        for auth in [KubeSimServer.KubeconfigAuth.anonymous, .token("wrong")] {
            do {
                _ = try await KubeClient(config: try config(f, ca: ca, auth: auth), httpClient: sharedHTTPClient).list(.namespaces)
                Issue.record("expected 401")
            } catch let e as KubeAPIError {
                guard case .unauthorized(let s) = e else { Issue.record("got \(e)"); return }
                #expect(s.code == 401)
            }
        }
    }

    @Test("insecure-skip-tls-verify is honoured only when the kubeconfig says so")
    func insecureOnlyWhenAsked() async throws {
        let f = try await sim()
        defer { Task { await f.stop() } }
        let dir = try makeTempDir("tls")
        func kubeconfig(insecure: Bool) throws -> ClientConfig {
            try "apiVersion: v1\nclusters:\n- {name: c, cluster: {server: \"\(f.server.url)\"\(insecure ? ", insecure-skip-tls-verify: true" : "")}}\nusers:\n- {name: u, user: {token: s3cret}}\ncontexts:\n- {name: x, context: {cluster: c, user: u}}\ncurrent-context: x\n".write(toFile: dir + "/kc", atomically: true, encoding: .utf8)
            return try KubeConfigLoader.load(files: [dir + "/kc"])
        }
        // No CA given: the system roots do not know KubeSim's CA, so verification fails.
        await #expect(throws: KubeClientError.self) { _ = try await KubeClient(config: try kubeconfig(insecure: false), httpClient: sharedHTTPClient).list(.namespaces) }
        let insecure = try kubeconfig(insecure: true)
        #expect(insecure.insecureSkipTLSVerify)
        #expect(try await KubeClient(config: insecure, httpClient: sharedHTTPClient).list(.namespaces).items.count == 1)
    }

    @Test("kubectl talks to KubeSim over TLS with a client certificate and a token")
    func kubectlOverTLS() async throws {
        let f = try await sim()
        defer { Task { await f.stop() } }
        let home = try makeTempDir("home")
        let viaCert = try await runCommand("kubectl", ["get", "namespaces", "-o", "name"], environment: ["KUBECONFIG": f.kubeconfig, "HOME": home])
        #expect(viaCert.stdout == "namespace/default\n", "\(viaCert.stderr)")
        let tokenConfig = try f.server.writeKubeconfig(to: home + "/token-kc", auth: .token("s3cret"))
        #expect(try await runCommand("kubectl", ["get", "ns", "default", "-o", "name"], environment: ["KUBECONFIG": tokenConfig, "HOME": home]).status == 0)
        let anonymous = try f.server.writeKubeconfig(to: home + "/anon-kc", auth: .anonymous)
        let denied = try await runCommand("kubectl", ["get", "ns"], environment: ["KUBECONFIG": anonymous, "HOME": home])
        #expect(denied.status != 0)
        // kubectl answers a 401 by asking for a user name (basic auth), which fails without a terminal.
        #expect(denied.combined.contains("Unauthorized") || denied.combined.contains("Please enter Username"), "\(denied.combined)")
    }
}
