import FerryEngine

/// How step Jobs are built: the image holding the `ferry` binary and
/// the MariaDB client, where `ferry` is in it, and how steps are retried.
public struct StepSettings: Sendable {
    public var image: String
    /// The `ferry` executable inside the image.
    public var command: String
    public var retry: RetryPolicy
    /// How often a running step is looked at (Job changes also wake the controller).
    public var pollSeconds: Double
    public var imagePullPolicy: String
    /// Port of the data-files-transfer pod's control endpoint.
    public var moverPort: Int

    /// Namespaces other than its own whose workloads a Migration may stop (`--allow-workload-namespace`).
    public var workloadNamespaces: Set<String>

    public init(image: String = "ghcr.io/ferry-dev/ferry:latest", command: String = "/usr/local/bin/ferry", retry: RetryPolicy = RetryPolicy(), pollSeconds: Double = 5, imagePullPolicy: String = "IfNotPresent", moverPort: Int = 8086, workloadNamespaces: Set<String> = []) {
        self.moverPort = moverPort
        self.workloadNamespaces = workloadNamespaces
        self.image = image
        self.command = command
        self.retry = retry
        self.pollSeconds = pollSeconds
        self.imagePullPolicy = imagePullPolicy
    }
}
