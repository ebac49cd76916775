import Foundation
import NIOSSL

/// How a client authenticates its requests.
public enum AuthMethod: Sendable, Hashable {
    case none
    /// A fixed bearer token.
    case token(String)
    /// A bearer token read from a file and re-read every `refreshInterval`
    /// seconds (and after a 401), as projected service-account tokens rotate.
    case tokenFile(path: String, refreshInterval: Double)
    /// An exec credential plugin, run when no unexpired credential is cached.
    case exec(KubeConfigFile.ExecConfig, configFile: String)
    /// HTTP basic auth (legacy).
    case basic(username: String, password: String)
}

/// A fully resolved connection: server URL, TLS and authentication.
/// Build it with ``KubeConfigLoader`` or ``ClientConfig/inCluster(environment:serviceAccountDirectory:)``.
public struct ClientConfig: Sendable {
    /// Base URL, e.g. `https://127.0.0.1:6443` (no trailing slash).
    public var server: String
    /// Default namespace for namespaced requests.
    public var namespace: String
    /// TLS settings; nil for plain HTTP.
    public var tls: TLSConfiguration?
    public var auth: AuthMethod
    /// Where this came from, for messages (file names, "in-cluster").
    public var source: String
    /// True only when the source explicitly asked for insecure-skip-tls-verify.
    public var insecureSkipTLSVerify: Bool

    public init(server: String, namespace: String = "default", tls: TLSConfiguration? = nil, auth: AuthMethod = .none, source: String = "explicit", insecureSkipTLSVerify: Bool = false) {
        var s = server
        while s.hasSuffix("/") { s.removeLast() }
        self.server = s
        self.namespace = namespace
        self.tls = tls
        self.auth = auth
        self.source = source
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
    }

    /// The in-cluster service-account setup: KUBERNETES_SERVICE_HOST/PORT, the
    /// token (re-read every minute), ca.crt and namespace from the service
    /// account directory.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> ClientConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw KubeConfigError.inClusterMissing(detail: "environment variable KUBERNETES_SERVICE_HOST is not set (not running in a pod?)")
        }
        guard let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubeConfigError.inClusterMissing(detail: "environment variable KUBERNETES_SERVICE_PORT is not set")
        }
        let tokenPath = serviceAccountDirectory + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubeConfigError.inClusterMissing(detail: "service account token \(tokenPath) is missing or unreadable; is automountServiceAccountToken false?")
        }
        let caPath = serviceAccountDirectory + "/ca.crt"
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        } catch {
            throw KubeConfigError.inClusterMissing(detail: "CA certificate \(caPath): \(error)")
        }
        var namespace = "default"
        if let ns = try? String(contentsOfFile: serviceAccountDirectory + "/namespace", encoding: .utf8) {
            let trimmed = ns.trimmedWhitespace
            if !trimmed.isEmpty { namespace = trimmed }
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return ClientConfig(
            server: "https://\(hostPart):\(port)", namespace: namespace, tls: tls,
            auth: .tokenFile(path: tokenPath, refreshInterval: 60), source: "in-cluster")
    }
}
