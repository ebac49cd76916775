import ArgumentParser
import AsyncHTTPClient
import FerryAPI
import Foundation
import KubeClient
import Logging

/// `kubectl ferry`: the kubectl plugin (the executable `kubectl-ferry` on PATH). One report of a
/// Migration, a plan with estimates, and thin wrappers over the annotations that steer it.
public struct KubectlFerry: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kubectl ferry",
        abstract: "Watch and steer Ferry Migrations.",
        subcommands: [Status.self, Plan.self, Pause.self, Resume.self, Rerun.self, Cancel.self, Cutover.self, Logs.self])

    public init() {}
}

/// Where to find the cluster, as kubectl takes it.
struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: "Path to the kubeconfig file (else KUBECONFIG, else ~/.kube/config).")
    var kubeconfig: String?

    @Option(name: .long, help: "The kubeconfig context to use.")
    var context: String?

    @Option(name: [.short, .long], help: "The Migration's namespace (else the context's).")
    var namespace: String?

    /// A client for the cluster and the namespace to use; `body` runs with them and the client is shut down after.
    func with<T>(_ body: (KubeClient, String) async throws -> T) async throws -> T {
        let config: ClientConfig
        do {
            config = try KubeConfigLoader.load(path: kubeconfig, context: context)
        } catch {
            throw ValidationError("no cluster to talk to: \(error)")
        }
        let http = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup)
        let client = KubeClient(config: config, httpClient: http, logger: Logger(label: "kubectl-ferry"))
        do {
            let out = try await body(client, namespace ?? config.namespace)
            try await http.shutdown()
            return out
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// Errors a user reads: what went wrong with which Migration, and no stack of types.
struct PluginError: Error, CustomStringConvertible {
    var description: String
}

extension KubeClient {
    /// The Migration, or an error that says where it was looked for.
    func migration(_ name: String, namespace: String) async throws -> Migration {
        do {
            return try await get(Migration.self, name: name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            throw PluginError(description: "migration \(name) not found in namespace \(namespace) (kubectl get migrations -A lists them)")
        }
    }
}

/// Standard output is a terminal (colour allowed) and NO_COLOR is unset.
var colorWanted: Bool {
    isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil && ProcessInfo.processInfo.environment["TERM"] != "dumb"
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
