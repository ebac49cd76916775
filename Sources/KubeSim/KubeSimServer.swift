import Foundation
import KubeClient
import Logging
import NIOSSL

/// Settings for a KubeSim instance.
public struct KubeSimOptions: Sendable {
    /// Always a loopback address unless you know better.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port.
    public var port: Int = 0
    /// Serve HTTPS with a generated CA and require client-certificate or token authentication.
    public var tls: Bool = false
    /// Where certificates, the state snapshot and (later) pod data live; nil = a new temporary folder.
    public var dataDirectory: String?
    /// Save the object store here on stop and load it on start (survives restarts).
    public var persistState: Bool = true
    /// Bearer tokens accepted in HTTPS mode (token → user).
    public var tokens: [String: String] = [:]
    /// Seconds between BOOKMARK events on watches that ask for them.
    public var bookmarkInterval: Double = 30
    /// How many changes are kept for watch replay before older versions answer 410.
    public var historyLimit: Int = 10_000
    /// Run the built-in Deployment/StatefulSet/Job controllers and the pod runner.
    public var runWorkloads: Bool = true
    /// Answer every N-th request 429 Too Many Requests (0: never), for tests of client back-off.
    public var throttleEvery: Int = 0
    /// Image mode: pod image name → local image (a containers-storage name or `oci-archive:PATH`);
    /// pods of these images run inside them (``ImageStore``). Needs root and buildah.
    public var images: [String: String] = [:]

    public init() {}
}

/// KubeSim: a small Kubernetes-API-compatible server for tests and for
/// trying Ferry without a cluster. Start it, point kubectl or KubeClient at
/// the kubeconfig it writes, stop it.
public final class KubeSimServer: Sendable {
    public let store: ObjectStore
    public let options: KubeSimOptions
    public let dataDirectory: String
    /// The CA that signs the server and client certificates (HTTPS mode).
    public let authority: CertificateAuthority?
    let http: HTTPServer
    let bookmarkTask: Task<Void, Never>
    let workloadTask: Task<Void, Never>?
    let podRunner: PodRunner?
    let serviceProxy: ServiceProxy?

    public var port: Int { http.port }
    /// A service account's token, as the server signs it for pods (HTTPS mode; nil otherwise).
    public func serviceAccountToken(namespace: String, name: String) -> String? {
        http.authenticator.serviceAccounts?.token(namespace: namespace, name: name)
    }

    /// The 429s served (with `throttleEvery`).
    public var throttle: Throttle? { http.handler.throttle }
    public var url: String { "\(options.tls ? "https" : "http")://\(options.host):\(port)" }
    var statePath: String { dataDirectory + "/state.json" }

    private init(store: ObjectStore, options: KubeSimOptions, dataDirectory: String, authority: CertificateAuthority?, http: HTTPServer, bookmarkTask: Task<Void, Never>, workloadTask: Task<Void, Never>?, podRunner: PodRunner?, serviceProxy: ServiceProxy?) {
        self.workloadTask = workloadTask
        self.podRunner = podRunner
        self.serviceProxy = serviceProxy
        self.store = store
        self.options = options
        self.dataDirectory = dataDirectory
        self.authority = authority
        self.http = http
        self.bookmarkTask = bookmarkTask
    }

    /// Starts serving; returns once the port is bound.
    public static func start(_ options: KubeSimOptions = KubeSimOptions(), logger: Logger = Logger(label: "kubesim")) async throws -> KubeSimServer {
        let fm = FileManager.default
        let dir = options.dataDirectory ?? (NSTemporaryDirectory() + "kubesim-" + UUID().uuidString.prefix(8).lowercased())
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = ObjectStore(historyLimit: options.historyLimit)
        let statePath = dir + "/state.json"
        if options.persistState, let data = fm.contents(atPath: statePath) {
            do {
                store.restore(try JSONWire.parse(Array(data)))
            } catch {
                throw SimError(500, "InternalError", "cannot load KubeSim state \(statePath): \(error); delete it to start empty")
            }
        }
        // Every change also goes to an append-only journal, replayed over the snapshot on start.
        if options.persistState { try store.openJournal(dir + "/state.log") }
        var authority: CertificateAuthority?
        var tlsContext: NIOSSLContext?
        if options.tls {
            let ca: CertificateAuthority
            if let cert = try? String(contentsOfFile: dir + "/ca.crt", encoding: .utf8),
                let key = try? String(contentsOfFile: dir + "/ca.key", encoding: .utf8)
            {
                ca = try CertificateAuthority(certificatePEM: cert, keyPEM: key)
            } else {
                ca = try CertificateAuthority()
                try ca.certificatePEM.write(toFile: dir + "/ca.crt", atomically: true, encoding: .utf8)
                try ca.keyPEM.write(toFile: dir + "/ca.key", atomically: true, encoding: .utf8)
                chmod(dir + "/ca.key", 0o600)
            }
            let serverCert = try ca.issueServer()
            var config = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serverCert.certificatePEM.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serverCert.keyPEM.utf8), format: .pem)))
            config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
            config.certificateVerification = .optionalVerification
            tlsContext = try NIOSSLContext(configuration: config)
            authority = ca
        }
        let channel = try await HTTPServer.bind(host: options.host, port: options.port, tls: tlsContext)
        let port = channel.channel.localAddress?.port ?? options.port
        var handler = APIHandler(store: store, serverAddress: "\(options.host):\(port)")
        if options.runWorkloads { handler.podDataDirectory = dir }
        handler.throttle = Throttle(every: options.throttleEvery)
        let serviceAccounts = ServiceAccountTokens()
        let http = HTTPServer(
            handler: handler, authenticator: Authenticator(tokens: options.tokens, required: options.tls, serviceAccounts: serviceAccounts),
            tlsContext: tlsContext, logger: logger, serverChannel: channel)
        http.start()
        let interval = options.bookmarkInterval
        let bookmarks = Task {
            var ticks = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(min(interval, 1.0) * 1_000_000_000))
                ticks += 1
                if Double(ticks) * min(interval, 1.0) >= interval {
                    ticks = 0
                    store.emitBookmarks()
                }
                store.collectGarbage()
                if options.persistState { store.compact(snapshotPath: dir + "/state.json", journalPath: dir + "/state.log", onlyAbove: 32 << 20) }
            }
        }
        var runner: PodRunner?
        var proxy: ServiceProxy?
        var workloads: Task<Void, Never>?
        if options.runWorkloads {
            let controllers = WorkloadControllers(store: store)
            // In HTTPS mode pods get what a cluster mounts: the API address, a token for their
            // service account and the CA (FERRY_SERVICE_ACCOUNT_DIR points at the folder).
            let apiAccess = authority.map { PodRunner.APIAccess(host: options.host, port: port, caPEM: $0.certificatePEM, tokens: serviceAccounts) }
            let podRunner = PodRunner(store: store, dataDirectory: dir, apiAccess: apiAccess,
                                      images: options.images.isEmpty ? nil : ImageStore(references: options.images))
            runner = podRunner
            let services = ServiceProxy(store: store)
            proxy = services
            workloads = Task {
                while !Task.isCancelled {
                    controllers.reconcileAll()
                    podRunner.reconcile()
                    services.reconcile()
                    try? await Task.sleep(nanoseconds: 200_000_000)
                }
            }
        }
        return KubeSimServer(store: store, options: options, dataDirectory: dir, authority: authority, http: http, bookmarkTask: bookmarks, workloadTask: workloads, podRunner: runner, serviceProxy: proxy)
    }

    /// Stops serving: closes watches and connections, saves state when asked.
    public func stop() async {
        bookmarkTask.cancel()
        workloadTask?.cancel()
        await workloadTask?.value
        podRunner?.stopAll()
        serviceProxy?.stopAll()
        store.closeAllWatches()
        await http.stop()
        if options.persistState {
            store.compact(snapshotPath: statePath, journalPath: dataDirectory + "/state.log")
        }
    }

    /// How a written kubeconfig authenticates.
    public enum KubeconfigAuth: Sendable {
        /// A client certificate for this user, signed by the CA (HTTPS mode).
        case clientCertificate(user: String)
        /// A bearer token (must be one of `options.tokens` to be accepted).
        case token(String)
        case anonymous
    }

    /// Writes a kubeconfig for this server and returns its path. In HTTPS mode
    /// it embeds the CA and, for `.clientCertificate`, a freshly issued client certificate.
    @discardableResult
    public func writeKubeconfig(to path: String? = nil, auth: KubeconfigAuth? = nil, namespace: String = "default") throws -> String {
        let path = path ?? dataDirectory + "/kubeconfig"
        let auth = auth ?? (options.tls ? .clientCertificate(user: "admin") : .anonymous)
        var cluster = "    server: \(url)\n"
        if let authority {
            cluster += "    certificate-authority-data: \(Data(authority.certificatePEM.utf8).base64EncodedString())\n"
        }
        var user = ""
        switch auth {
        case .clientCertificate(let name):
            guard let authority else { throw SimError(400, "BadRequest", "client certificates need KubeSim in TLS mode") }
            let issued = try authority.issueClient(user: name)
            user = "    client-certificate-data: \(Data(issued.certificatePEM.utf8).base64EncodedString())\n    client-key-data: \(Data(issued.keyPEM.utf8).base64EncodedString())\n"
        case .token(let t):
            user = "    token: \(t)\n"
        case .anonymous:
            user = "    {}\n"
        }
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: kubesim
              cluster:
            \(cluster.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            users:
            - name: kubesim-user
              user:
            \(user.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            contexts:
            - name: kubesim
              context:
                cluster: kubesim
                user: kubesim-user
                namespace: \(namespace)
            current-context: kubesim

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }
}
