import Foundation

/// `ferry gateway`: the S3 endpoint an application uses while its files move (`spec.files[].fallback`).
/// Sides are written as the mover's (`s3://NAME@bucket/prefix` with `--s3-store NAME=JSON`, or a folder).
/// The keys the application and the mover sign with are read from `keysDir`, never from argv.
public struct GatewayArguments: StepArguments {
    public static let command = ["gateway"]

    /// `s3://NAME@bucket/prefix`: where objects are written and read first.
    public var target: String
    /// A folder, or `s3://NAME@bucket/prefix`: read when the target has no such object.
    public var source: String
    public var stores: [String: FileSyncArguments.S3]
    /// The bucket name the application uses (default: the target's).
    public var bucket: String?
    /// A folder with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the application's) and MOVER_ACCESS_KEY_ID / MOVER_SECRET_ACCESS_KEY.
    public var keysDir: String
    public var host: String
    public var port: Int
    /// -1: none.
    public var metricsPort: Int
    /// A server: it runs until stopped, and reports nothing at its end.
    public var resultFile: String

    public init(target: String, source: String, stores: [String: FileSyncArguments.S3], bucket: String? = nil, keysDir: String, host: String = "0.0.0.0",
                port: Int = 9000, metricsPort: Int = 9090, resultFile: String = "") {
        self.target = target
        self.source = source
        self.stores = stores
        self.bucket = bucket
        self.keysDir = keysDir
        self.host = host
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
        w.option("keys-dir", keysDir)
        w.option("host", host)
        w.option("port", port)
        w.option("metrics-port", metricsPort)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["target", "source", "s3-store", "bucket", "keys-dir", "host", "port", "metrics-port"], flags: [])
        self.init(target: try r.required("target"), source: try r.required("source"), stores: try FileSyncArguments.stores(r.list("s3-store")),
                  bucket: try r.optional("bucket"), keysDir: try r.required("keys-dir"), host: try r.optional("host") ?? "0.0.0.0",
                  port: try r.int("port", default: 9000), metricsPort: try r.int("metrics-port", default: 9090), resultFile: "")
    }
}
