import ArgumentParser
import FerryProtocol
import FerrySteps

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve an S3 endpoint over a target bucket and a source (folder or bucket) while files move.",
        discussion: """
            GET and HEAD are served from the target, else from the source (the object is then copied to the target); \
            PUT, multipart and DELETE go to the target, a DELETE hiding the source's copy; ListObjectsV2 merges both. \
            The application signs with the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY files of --app-keys-dir, the mover with those of --mover-keys-dir.
            """)

    @Option(help: "The target: s3://STORE@bucket/prefix.")
    var target: String
    @Option(help: "The source: a folder, or s3://STORE@bucket/prefix.")
    var source: String
    @Option(help: "A store: NAME={\"endpoint\":…,\"credentialsDir\":…} (repeatable).")
    var s3Store: [String] = []
    @Option(help: "The bucket name the application uses (default: the target's).")
    var bucket: String?
    @Option(help: "Folder with the application's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a mounted Secret).")
    var appKeysDir: String
    @Option(help: "Folder with the mover's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a mounted Secret).")
    var moverKeysDir: String
    @Option(help: "Address to listen on.")
    var host: String = "0.0.0.0"
    @Option(help: "An environment variable holding the address to listen on (the pod's IP, POD_IP); overrides --host when set.")
    var hostEnv: String?
    @Option(help: "Port of the S3 endpoint.")
    var port: Int = 9000
    @Option(help: "Port of /metrics and /healthz (-1: none).")
    var metricsPort: Int = 9090

    func arguments() throws -> GatewayArguments {
        do {
            return GatewayArguments(target: target, source: source, stores: try FileSyncArguments.stores(s3Store), bucket: bucket, appKeysDir: appKeysDir, moverKeysDir: moverKeysDir, host: host, hostEnv: hostEnv,
                                    port: port, metricsPort: metricsPort, resultFile: "")
        } catch let e as ArgvError {
            throw StepError.configuration(e.description)
        }
    }

    func run() async throws { try await arguments().run() }
}
