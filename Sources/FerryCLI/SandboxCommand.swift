import ArgumentParser
import Foundation
import KubeSim

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox", abstract: "Run Ferry without a cluster.", subcommands: [SandboxAPI.self])
}

/// `ferry sandbox api`: serve KubeSim until interrupted.
struct SandboxAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Serve KubeSim, a Kubernetes-API-compatible server, on 127.0.0.1 and write a kubeconfig for kubectl.")

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 0

    @Option(help: "Folder for the kubeconfig, certificates and saved state (default: a new temporary folder).")
    var dataDir: String?

    @Flag(help: "Serve HTTPS with a generated CA; the kubeconfig gets a client certificate.")
    var tls = false

    @Option(help: "Also accept this bearer token (HTTPS mode).")
    var token: [String] = []

    @Option(help: "Seconds between watch BOOKMARK events.")
    var bookmarkInterval: Double = 30

    @Option(help: "Changes kept for watch replay; older resourceVersions answer 410 Gone.")
    var historyLimit: Int = 10_000

    @Flag(help: "Do not run the built-in Deployment/StatefulSet/Job controllers and pod runner.")
    var noWorkloads = false

    @Flag(help: "Do not save state on exit or load it on start.")
    var ephemeral = false

    @Option(help: ArgumentHelp("Image mode: pods of image NAME run inside REF, a local image (a name in containers storage, or oci-archive:PATH), as its user with its read-only root (repeat; needs root and buildah).", valueName: "NAME=REF"))
    var image: [String] = []

    func run() async throws {
        var options = KubeSimOptions()
        options.port = port
        options.tls = tls
        options.dataDirectory = dataDir
        options.persistState = !ephemeral
        options.bookmarkInterval = bookmarkInterval
        options.historyLimit = historyLimit
        options.runWorkloads = !noWorkloads
        for t in token { options.tokens[t] = "token-user" }
        options.images = try ImageStore.parse(image)
        let server = try await KubeSimServer.start(options)
        let kubeconfig = try server.writeKubeconfig()
        say("KubeSim listening on \(server.url)")
        say("kubeconfig: \(kubeconfig)")
        say("try: KUBECONFIG=\(kubeconfig) kubectl get namespaces")
        await waitForTermination()
        await server.stop()
        say("KubeSim stopped; state in \(server.dataDirectory)")
    }
}

/// Suspends until SIGINT or SIGTERM.
func waitForTermination() async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
        let once = OnceFlag()
        for sig in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if once.set() { cont.resume() }
            }
            source.resume()
            SignalSources.keep(source)
        }
    }
}

final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}

enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: any DispatchSourceSignal) { sources.append(s) }
}

/// Writes a line to standard output at once (no stdio buffering, so scripts reading a pipe see it).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
