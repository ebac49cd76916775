import Foundation

/// `ferry gateway`: the S3 endpoint an application uses while its files move (`spec.files[].fallback`).
/// Sides are written as the mover's (`s3://NAME@bucket/prefix` with `--s3-store NAME=JSON`, or a folder).
/// The keys the application and the mover sign with are read from their folders (mounted Secrets), never from argv.
public struct GatewayArguments: StepArguments {
    public static let command = ["gateway"]

    /// `s3://NAME@bucket/prefix`: where objects are written and read first.
    public var target: String
    /// A folder, or `s3://NAME@bucket/prefix`: read when the target has no such object.
    public var source: String
    public var stores: [String: FileSyncArguments.S3]
    /// The bucket name the application uses (default: the target's).
    public var bucket: String?
    /// Folders with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the application's keys, and the mover's.
    public var appKeysDir: String
    public var moverKeysDir: String
    public var host: String
    /// An environment variable holding the address to listen on (the pod's IP); overrides host when set.
    public var hostEnv: String?
    public var port: Int
    /// -1: none.
    public var metricsPort: Int
    /// A server: it runs until stopped, and reports nothing at its end.
    public var resultFile: String

    public init(target: String, source: String, stores: [String: FileSyncArguments.S3], bucket: String? = nil, appKeysDir: String, moverKeysDir: String, host: String = "0.0.0.0", hostEnv: String? = nil,
                port: Int = 9000, metricsPort: Int = 9090, resultFile: String = "") {
        self.target = target
        self.source = source
        self.stores = stores
        self.bucket = bucket
        self.appKeysDir = appKeysDir
        self.moverKeysDir = moverKeysDir
        self.host = host
        self.hostEnv = hostEnv
        self.port = port
        self.metricsPort = metricsPort
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("target", target)
        w.option("source", source)
        w.options("s3-store", stores.keys.sorted().map { "\($0)=\(FileSyncArguments.json(stores[$0]!))" })
        w.option("bucket", bucket)
        w.option("app-keys-dir", appKeysDir)
        w.option("mover-keys-dir", moverKeysDir)
        w.option("host", host)
        w.option("host-env", hostEnv)
        w.option("port", port)
        w.option("metrics-port", metricsPort)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["target", "source", "s3-store", "bucket", "app-keys-dir", "mover-keys-dir", "host", "host-env", "port", "metrics-port"], flags: [])
        self.init(target: try r.required("target"), source: try r.required("source"), stores: try FileSyncArguments.stores(r.list("s3-store")),
                  bucket: try r.optional("bucket"), appKeysDir: try r.required("app-keys-dir"), moverKeysDir: try r.required("mover-keys-dir"), host: try r.optional("host") ?? "0.0.0.0", hostEnv: try r.optional("host-env"),
                  port: try r.int("port", default: 9000), metricsPort: try r.int("metrics-port", default: 9090), resultFile: "")
    }
}
