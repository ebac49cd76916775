import Foundation
import Yams

/// The kubeconfig file format (`apiVersion: v1, kind: Config`), as written by
/// kubectl. Only what a client needs to connect is modelled.
public struct KubeConfigFile: Codable, Sendable {
    public struct NamedCluster: Codable, Sendable {
        public var name: String
        public var cluster: Cluster
    }
    public struct Cluster: Codable, Sendable {
        public var server: String?
        public var certificateAuthority: String?
        public var certificateAuthorityData: String?
        public var insecureSkipTLSVerify: Bool?
        public var tlsServerName: String?
        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            case tlsServerName = "tls-server-name"
        }
    }
    public struct NamedUser: Codable, Sendable {
        public var name: String
        public var user: User
    }
    public struct User: Codable, Sendable {
        public var clientCertificate: String?
        public var clientCertificateData: String?
        public var clientKey: String?
        public var clientKeyData: String?
        public var token: String?
        public var tokenFile: String?
        public var exec: ExecConfig?
        public var username: String?
        public var password: String?
        enum CodingKeys: String, CodingKey {
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
            case token, tokenFile, exec, username, password
        }
    }
    /// An exec credential plugin (client.authentication.k8s.io).
    public struct ExecConfig: Codable, Sendable, Hashable {
        public struct EnvVar: Codable, Sendable, Hashable {
            public var name: String
            public var value: String
        }
        public var apiVersion: String?
        public var command: String
        public var args: [String]?
        public var env: [EnvVar]?
        public var interactiveMode: String?
        public var provideClusterInfo: Bool?

        public init(apiVersion: String?, command: String, args: [String]? = nil, env: [EnvVar]? = nil) {
            self.apiVersion = apiVersion
            self.command = command
            self.args = args
            self.env = env
        }
    }
    public struct NamedContext: Codable, Sendable {
        public var name: String
        public var context: Context
    }
    public struct Context: Codable, Sendable {
        public var cluster: String
        public var user: String?
        public var namespace: String?
    }

    public var apiVersion: String?
    public var kind: String?
    public var clusters: [NamedCluster]?
    public var users: [NamedUser]?
    public var contexts: [NamedContext]?
    public var currentContext: String?

    enum CodingKeys: String, CodingKey {
        case apiVersion, kind, clusters, users, contexts
        case currentContext = "current-context"
    }

    /// Parses kubeconfig YAML; `source` names the file in errors.
    public static func parse(yaml: String, source: String) throws -> KubeConfigFile {
        if yaml.trimmedWhitespace.isEmpty {
            return KubeConfigFile()
        }
        do {
            return try YAMLDecoder().decode(KubeConfigFile.self, from: yaml)
        } catch let error as YamlError {
            throw KubeConfigError.invalidYAML(file: source, detail: Self.describe(error))
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, let yaml = context.underlyingError as? YamlError {
                throw KubeConfigError.invalidYAML(file: source, detail: Self.describe(yaml))
            }
            throw KubeConfigError.invalidField(file: source, field: Self.fieldPath(of: error), detail: Self.describe(error))
        }
    }

    init() {}

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)\(context.map { " (\($0.text))" } ?? "")"
        case .parser(let context, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)\(context.map { " (\($0.text))" } ?? "")"
        case .composer(let context, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)\(context.map { " (\($0.text))" } ?? "")"
        default:
            return "\(error)"
        }
    }

    static func fieldPath(of error: DecodingError) -> String {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        case .keyNotFound(let key, let c): path = c.codingPath + [key]
        @unknown default: path = []
        }
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
        return out.isEmpty ? "(document)" : out
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let t, let c): return "expected \(t): \(c.debugDescription)"
        case .valueNotFound(let t, let c): return "missing \(t): \(c.debugDescription)"
        case .keyNotFound(let key, _): return "required field \(key.stringValue) is missing"
        case .dataCorrupted(let c): return c.debugDescription
        @unknown default: return "\(error)"
        }
    }
}

/// Everything that can be wrong with a kubeconfig or in-cluster setup.
/// Each case names the file and the field.
public enum KubeConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    case noConfig(searched: [String])
    case unreadableFile(file: String, detail: String)
    case invalidYAML(file: String, detail: String)
    case invalidField(file: String, field: String, detail: String)
    case noCurrentContext(files: [String])
    case contextNotFound(name: String, files: [String])
    case clusterNotFound(name: String, context: String, files: [String])
    case userNotFound(name: String, context: String, files: [String])
    case inClusterMissing(detail: String)
    case execFailed(command: String, detail: String)

    public var description: String {
        switch self {
        case .noConfig(let searched):
            return "no kubeconfig found (looked at \(searched.joined(separator: ", "))) and not running in a cluster; set KUBECONFIG or pass --kubeconfig"
        case .unreadableFile(let file, let detail):
            return "kubeconfig \(file): cannot read: \(detail)"
        case .invalidYAML(let file, let detail):
            return "kubeconfig \(file): invalid YAML at \(detail)"
        case .invalidField(let file, let field, let detail):
            return "kubeconfig \(file): field \(field): \(detail)"
        case .noCurrentContext(let files):
            return "kubeconfig \(files.joined(separator: ":")): field current-context is not set; set it (kubectl config use-context NAME) or pass a context explicitly"
        case .contextNotFound(let name, let files):
            return "kubeconfig \(files.joined(separator: ":")): context \"\(name)\" not found in field contexts; check the name (kubectl config get-contexts)"
        case .clusterNotFound(let name, let context, let files):
            return "kubeconfig \(files.joined(separator: ":")): cluster \"\(name)\" named by contexts[\(context)].context.cluster not found in field clusters"
        case .userNotFound(let name, let context, let files):
            return "kubeconfig \(files.joined(separator: ":")): user \"\(name)\" named by contexts[\(context)].context.user not found in field users"
        case .inClusterMissing(let detail):
            return "in-cluster config: \(detail)"
        case .execFailed(let command, let detail):
            return "exec credential plugin \(command): \(detail)"
        }
    }
}
