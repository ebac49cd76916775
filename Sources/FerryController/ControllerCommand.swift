import ArgumentParser
import AsyncHTTPClient
import FerryAPI
import FerryEngine
import FerryOperator
import Foundation
import KubeClient
import KubeRuntime
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `ferry controller` (and `ferry-controller`, the image's link to ferry, which the Deployment runs):
/// reconcile Migrations.
public struct ControllerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the Migration controller (in a cluster, or against KUBECONFIG / KubeSim).")

    @Option(help: "Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, then in-cluster).")
    var kubeconfig: String?

    @Option(help: "kubeconfig context to use (default: current-context).")
    var context: String?

    @Option(name: .customLong("namespace"), help: "Namespace to watch; repeat for several (default: all). Env: FERRY_NAMESPACES=a,b")
    var namespaces: [String] = []

    @Flag(inversion: .prefixedNo, help: "Elect a leader through a Lease so only one replica reconciles.")
    var leaderElect = true

    @Option(help: "Namespace of the leader-election Lease (default: the client's namespace).")
    var leaseNamespace: String?

    @Option(help: "Name of the leader-election Lease.")
    var leaseName = "ferry-controller"

    @Option(help: "This replica's identity in the Lease (default: hostname-pid).")
    var identity: String?

    @Option(help: "Port for /healthz, /readyz and /metrics (0 picks a free port, -1 disables).")
    var metricsPort = 8080

    @Option(help: "Address for the health and metrics port.")
    var metricsHost = "0.0.0.0"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Env: FERRY_LOG_LEVEL")
    var logLevel: String?

    @Option(help: "Concurrent reconciles.")
    var workers = 2

    @Option(help: "Seconds between full resyncs.")
    var resync: Double = 300

    @Option(help: "Image for step Jobs (has ferry and the MariaDB client). Env: FERRY_STEP_IMAGE")
    var stepImage: String?

    @Option(help: "Path of ferry inside the step image. Env: FERRY_STEP_COMMAND")
    var stepCommand: String?

    @Option(help: "Attempts per step before it fails (the first run included).")
    var stepAttempts = 3

    @Option(help: "Seconds before a failed step's second attempt (doubles each time, at most 300).")
    var stepRetryDelay: Double = 10

    @Option(help: "Seconds between looks at a running step.")
    var stepPoll: Double = 5

    @Option(help: "Port of the data-files-transfer pod's control endpoint.")
    var moverPort = 8086

    @Option(help: "Client-side limit on API requests per second (client-go's QPS).")
    var kubeApiQps: Double = 50

    @Option(help: "Requests allowed at once above the QPS (client-go's Burst).")
    var kubeApiBurst = 100

    @Option(name: .customLong("allow-workload-namespace"), help: "A namespace whose workloads a Migration of another namespace may stop (repeatable; default: only the Migration's own).")
    var workloadNamespaces: [String] = []

    public init() {}

    public func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let levelText = logLevel ?? env["FERRY_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError("--log-level \(levelText) is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "ferry.controller")

        let config = try KubeConfigLoader.load(path: kubeconfig, context: context)
        var httpConfig = HTTPClient.Configuration()
        httpConfig.timeout.connect = .seconds(10)
        let http = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: httpConfig)
        guard kubeApiQps > 0, kubeApiBurst >= 1 else { throw ValidationError("--kube-api-qps must be above 0 and --kube-api-burst at least 1") }
        let client = KubeClient(config: config, httpClient: http, logger: Logger(label: "ferry.kube"), rateLimiter: RateLimiter(qps: kubeApiQps, burst: kubeApiBurst))
        let id = identity ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let watched = namespaces.isEmpty ? (env["FERRY_NAMESPACES"].map { $0.split(separator: ",").map(String.init) } ?? []) : namespaces
        let events = EventRecorder(client: client, controller: "ferry.dev/controller", instance: id, logger: Logger(label: "ferry.events"))
        guard stepAttempts >= 1, stepRetryDelay >= 0, stepPoll > 0 else {
            throw ValidationError("--step-attempts must be at least 1, --step-retry-delay at least 0 and --step-poll above 0")
        }
        let defaults = StepSettings()
        let settings = StepSettings(
            image: stepImage ?? env["FERRY_STEP_IMAGE"] ?? defaults.image,
            command: stepCommand ?? env["FERRY_STEP_COMMAND"] ?? defaults.command,
            retry: RetryPolicy(maxAttempts: stepAttempts, baseDelay: stepRetryDelay),
            pollSeconds: stepPoll, moverPort: moverPort, workloadNamespaces: Set(workloadNamespaces))
        let reconciler = MigrationReconciler(client: client, events: events, settings: settings, http: http, logger: Logger(label: "ferry.migration"))
        let controllers = (watched.isEmpty ? [nil] : watched.map { Optional($0) }).map { ns in
            Controller(client: client, primary: Migration.resource, namespace: ns, owned: MigrationReconciler.ownedResources, ownedLabelSelector: FerryNames.migrationLabel, reconciler: reconciler, workers: workers, resyncSeconds: resync, logger: Logger(label: "ferry.controller"))
        }
        var elector: LeaderElector?
        if leaderElect {
            elector = LeaderElector(client: client, namespace: leaseNamespace ?? config.namespace, name: leaseName, identity: id, logger: Logger(label: "ferry.leader"))
        }
        logger.info("starting", metadata: ["server": "\(config.server)", "namespaces": "\(watched.isEmpty ? "all" : watched.joined(separator: ","))", "leaderElection": "\(leaderElect)", "identity": "\(id)"])
        var services: [any Service] = [ControllerService(controllers: controllers, elector: elector)]
        if metricsPort >= 0 {
            services.append(HealthServer(host: metricsHost, port: metricsPort, registry: registry, logger: Logger(label: "ferry.health")) {
                controllers.allSatisfy(\.hasSynced)
            })
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
        }
        try? await http.shutdown()
        if let failure {
            logger.critical("stopped", metadata: ["error": "\(failure)"])
            throw ExitCode(1)
        }
        logger.info("stopped cleanly")
    }
}

/// Runs the controllers, behind leader election when configured; ends on graceful shutdown.
struct ControllerService: Service {
    let controllers: [Controller]
    let elector: LeaderElector?

    func run() async throws {
        do {
            try await runControllers()
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    func runControllers() async throws {
        try await cancelWhenGracefulShutdown {
            let runAll: @Sendable () async -> Void = {
                await withTaskGroup(of: Void.self) { group in
                    for c in controllers { group.addTask { await c.run() } }
                }
            }
            if let elector {
                try await elector.run(runAll)
            } else {
                await runAll()
            }
        }
    }
}

extension ControllerCommand {
    /// Parses the process's arguments and runs, as a root command (ferry called as `ferry-controller`).
    public static func runAsRoot() async {
        await Self.main(nil)
    }
}
