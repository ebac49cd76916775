import Foundation
import NIOSSL

/// Loads kubeconfig files the way kubectl does: `KUBECONFIG` may list several
/// files separated by ':'; they are merged (the first file that sets a value
/// wins, clusters/users/contexts merge by name) and relative paths resolve
/// against the file that named them.
public enum KubeConfigLoader {
    /// Resolves the configuration to use: an explicit path, else KUBECONFIG,
    /// else ~/.kube/config, else in-cluster.
    public static func load(
        path: String? = nil, context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ClientConfig {
        if let path { return try load(files: [path], context: context) }
        if let kc = environment["KUBECONFIG"], !kc.isEmpty {
            let files = kc.split(separator: ":").map(String.init).filter { !$0.isEmpty }
            let existing = files.filter { FileManager.default.fileExists(atPath: $0) }
            if existing.isEmpty { throw KubeConfigError.noConfig(searched: files) }
            return try load(files: existing, context: context)
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let defaultPath = home + "/.kube/config"
        if FileManager.default.fileExists(atPath: defaultPath) {
            return try load(files: [defaultPath], context: context)
        }
        if environment["KUBERNETES_SERVICE_HOST"] != nil {
            // FERRY_SERVICE_ACCOUNT_DIR exists for tests and benchmarks of the in-cluster path.
            return try ClientConfig.inCluster(environment: environment, serviceAccountDirectory: environment["FERRY_SERVICE_ACCOUNT_DIR"] ?? "/var/run/secrets/kubernetes.io/serviceaccount")
        }
        throw KubeConfigError.noConfig(searched: ["$KUBECONFIG", defaultPath, "in-cluster"])
    }

    /// A cluster, user or context, remembering which file it came from.
    struct Sourced<T> {
        var value: T
        var file: String
        var directory: String { (file as NSString).deletingLastPathComponent }
    }

    /// Loads and merges the given files, then resolves `context` (or current-context).
    public static func load(files: [String], context explicitContext: String? = nil) throws -> ClientConfig {
        var clusters: [String: Sourced<KubeConfigFile.Cluster>] = [:]
        var users: [String: Sourced<KubeConfigFile.User>] = [:]
        var contexts: [String: Sourced<KubeConfigFile.Context>] = [:]
        var currentContext: String?
        for file in files {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw KubeConfigError.unreadableFile(file: file, detail: error.localizedDescription)
            }
            let parsed = try KubeConfigFile.parse(yaml: text, source: file)
            for (i, c) in (parsed.clusters ?? []).enumerated() where clusters[c.name] == nil {
                if c.cluster.server == nil || c.cluster.server!.isEmpty {
                    throw KubeConfigError.invalidField(file: file, field: "clusters[\(i)].cluster.server", detail: "is empty; set the API server URL, e.g. https://127.0.0.1:6443")
                }
                clusters[c.name] = Sourced(value: c.cluster, file: file)
            }
            for u in parsed.users ?? [] where users[u.name] == nil {
                users[u.name] = Sourced(value: u.user, file: file)
            }
            for c in parsed.contexts ?? [] where contexts[c.name] == nil {
                contexts[c.name] = Sourced(value: c.context, file: file)
            }
            if currentContext == nil, let cc = parsed.currentContext, !cc.isEmpty { currentContext = cc }
        }
        guard let contextName = explicitContext ?? currentContext else {
            throw KubeConfigError.noCurrentContext(files: files)
        }
        guard let ctx = contexts[contextName] else {
            throw KubeConfigError.contextNotFound(name: contextName, files: files)
        }
        guard let cluster = clusters[ctx.value.cluster] else {
            throw KubeConfigError.clusterNotFound(name: ctx.value.cluster, context: contextName, files: files)
        }
        var user: Sourced<KubeConfigFile.User>?
        if let userName = ctx.value.user, !userName.isEmpty {
            guard let u = users[userName] else {
                throw KubeConfigError.userNotFound(name: userName, context: contextName, files: files)
            }
            user = u
        }
        return try resolve(cluster: cluster, user: user, namespace: ctx.value.namespace, source: files.joined(separator: ":"))
    }

    static func absolute(_ path: String, relativeTo dir: String) -> String {
        if path.hasPrefix("/") { return path }
        if path.hasPrefix("~/") { return NSHomeDirectory() + String(path.dropFirst(1)) }
        return dir + "/" + path
    }

    static func decodeBase64(_ s: String, file: String, field: String) throws -> [UInt8] {
        let cleaned = s.filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: cleaned) else {
            throw KubeConfigError.invalidField(file: file, field: field, detail: "is not valid base64; encode the PEM with base64 -w0")
        }
        return Array(data)
    }

    static func readFile(_ path: String, file: String, field: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeConfigError.invalidField(file: file, field: field, detail: "cannot read \(path); check that the file exists and is readable")
        }
        return Array(data)
    }

    static func resolve(
        cluster: Sourced<KubeConfigFile.Cluster>, user: Sourced<KubeConfigFile.User>?, namespace: String?, source: String
    ) throws -> ClientConfig {
        let c = cluster.value
        let server = c.server!
        guard server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw KubeConfigError.invalidField(file: cluster.file, field: "clusters.cluster.server", detail: "\"\(server)\" must start with https:// or http://")
        }
        if let name = c.tlsServerName, !name.isEmpty {
            throw KubeConfigError.invalidField(file: cluster.file, field: "clusters.cluster.tls-server-name", detail: "is not supported by Ferry's client; point server at a name or address the certificate covers and remove tls-server-name")
        }
        var tls: TLSConfiguration?
        let insecure = c.insecureSkipTLSVerify == true
        if server.hasPrefix("https://") {
            var t = TLSConfiguration.makeClientConfiguration()
            if insecure {
                t.certificateVerification = .none
            } else if let data = c.certificateAuthorityData {
                let pem = try decodeBase64(data, file: cluster.file, field: "certificate-authority-data")
                t.trustRoots = .certificates(try parseCertificates(pem, file: cluster.file, field: "certificate-authority-data"))
            } else if let path = c.certificateAuthority {
                let full = absolute(path, relativeTo: cluster.directory)
                let pem = try readFile(full, file: cluster.file, field: "certificate-authority")
                t.trustRoots = .certificates(try parseCertificates(pem, file: cluster.file, field: "certificate-authority"))
            }
            if let u = user {
                let v = u.value
                var certPEM: [UInt8]?
                var keyPEM: [UInt8]?
                if let d = v.clientCertificateData {
                    certPEM = try decodeBase64(d, file: u.file, field: "client-certificate-data")
                } else if let p = v.clientCertificate {
                    certPEM = try readFile(absolute(p, relativeTo: u.directory), file: u.file, field: "client-certificate")
                }
                if let d = v.clientKeyData {
                    keyPEM = try decodeBase64(d, file: u.file, field: "client-key-data")
                } else if let p = v.clientKey {
                    keyPEM = try readFile(absolute(p, relativeTo: u.directory), file: u.file, field: "client-key")
                }
                switch (certPEM, keyPEM) {
                case (let cert?, let key?):
                    let chain = try parseCertificates(cert, file: u.file, field: "client-certificate")
                    t.certificateChain = chain.map { .certificate($0) }
                    do {
                        t.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
                    } catch {
                        throw KubeConfigError.invalidField(file: u.file, field: "client-key", detail: "not a PEM private key: \(error)")
                    }
                case (.some, nil):
                    throw KubeConfigError.invalidField(file: u.file, field: "client-key", detail: "client-certificate is set but client-key is missing; set both")
                case (nil, .some):
                    throw KubeConfigError.invalidField(file: u.file, field: "client-certificate", detail: "client-key is set but client-certificate is missing; set both")
                case (nil, nil):
                    break
                }
            }
            tls = t
        }
        var auth = AuthMethod.none
        if let u = user?.value {
            if let token = u.token, !token.isEmpty {
                auth = .token(token)
            } else if let tf = u.tokenFile, !tf.isEmpty {
                let full = absolute(tf, relativeTo: user!.directory)
                auth = .tokenFile(path: full, refreshInterval: 60)
            } else if var exec = u.exec {
                let version = exec.apiVersion ?? ""
                guard version == "client.authentication.k8s.io/v1" || version == "client.authentication.k8s.io/v1beta1" else {
                    throw KubeConfigError.invalidField(file: user!.file, field: "users.user.exec.apiVersion", detail: "\"\(version)\" is not supported; use client.authentication.k8s.io/v1")
                }
                if exec.command.contains("/") && !exec.command.hasPrefix("/") {
                    exec.command = absolute(exec.command, relativeTo: user!.directory)
                }
                auth = .exec(exec, configFile: user!.file)
            } else if let name = u.username, let pw = u.password {
                auth = .basic(username: name, password: pw)
            }
        }
        return ClientConfig(
            server: server, namespace: namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default", tls: tls, auth: auth,
            source: source, insecureSkipTLSVerify: insecure)
    }

    static func parseCertificates(_ pem: [UInt8], file: String, field: String) throws -> [NIOSSLCertificate] {
        do {
            let certs = try NIOSSLCertificate.fromPEMBytes(pem)
            if certs.isEmpty { throw KubeConfigError.invalidField(file: file, field: field, detail: "holds no PEM certificate") }
            return certs
        } catch let e as KubeConfigError {
            throw e
        } catch {
            throw KubeConfigError.invalidField(file: file, field: field, detail: "not a PEM certificate: \(error)")
        }
    }
}
