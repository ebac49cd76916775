import Foundation

/// `ferry mover files`: the file sync's transfer pod. Copies each tree into its target,
/// pausable and bandwidth-limited through the control endpoint (``MoverAPI``), whose bearer
/// token is read from `controlTokenFile`, never from argv.
public struct FileSyncArguments: StepArguments {
    public static let command = ["mover", "files"]

    /// One tree: `source=target` (split at the first `=`).
    public struct Copy: Equatable, Sendable {
        public var source: String
        public var target: String
        public init(source: String, target: String) {
            self.source = source
            self.target = target
        }

        public var text: String { "\(source)=\(target)" }

        public init(text: String, option: String = "copy") throws {
            let (source, target) = try ArgvReader.pair(text, option: option, shape: option == "copy" ? "SOURCE=TARGET" : "SOURCE=FILE")
            self.init(source: source, target: target)
        }
    }

    /// A daily window, `HH:MM` to `HH:MM` in an IANA time zone.
    public struct Window: Equatable, Sendable {
        public var start: String
        public var end: String
        public var timeZone: String
        public init(start: String, end: String, timeZone: String = "UTC") {
            self.start = start
            self.end = end
            self.timeZone = timeZone
        }
    }

    /// The object store an `s3://bucket/prefix` side of a copy is in (`s3://NAME@bucket/prefix`: the store named NAME).
    public struct S3: Sendable, Equatable, Codable {
        /// `https://s3.example:443` (or `http://` for a store inside the cluster).
        public var endpoint: String
        public var region: String
        /// The bucket in the path (MinIO, Swift, Ceph), not in the host name.
        public var pathStyle: Bool
        /// A mounted Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, and `AWS_SESSION_TOKEN` for temporary keys (else the environment).
        public var credentialsDir: String?
        /// PEM certificates the endpoint's TLS certificate may chain to, besides the system's.
        public var caFile: String?
        /// A Ferry gateway (`spec.files[].fallback`): it takes a write only where the key is free, and
        /// answers 412 where the application wrote or deleted since; the mover counts those as done.
        public var gateway: Bool?
        /// Files larger than this go in multipart uploads of parts this size, `parts` at once.
        public var partSize: Int
        public var parts: Int
        public init(endpoint: String, region: String = "us-east-1", pathStyle: Bool = true, credentialsDir: String? = nil, caFile: String? = nil, partSize: Int = 8 << 20, parts: Int = 4,
                    gateway: Bool? = nil) {
            self.endpoint = endpoint
            self.region = region
            self.pathStyle = pathStyle
            self.credentialsDir = credentialsDir
            self.caFile = caFile
            self.gateway = gateway
            self.partSize = partSize
            self.parts = parts
        }

        /// Only the endpoint is required; the rest as the flags default.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(endpoint: try c.decode(String.self, forKey: .endpoint), region: try c.decodeIfPresent(String.self, forKey: .region) ?? "us-east-1",
                      pathStyle: try c.decodeIfPresent(Bool.self, forKey: .pathStyle) ?? true, credentialsDir: try c.decodeIfPresent(String.self, forKey: .credentialsDir),
                      caFile: try c.decodeIfPresent(String.self, forKey: .caFile), partSize: try c.decodeIfPresent(Int.self, forKey: .partSize) ?? 8 << 20,
                      parts: try c.decodeIfPresent(Int.self, forKey: .parts) ?? 4)
            gateway = try c.decodeIfPresent(Bool.self, forKey: .gateway)
        }
    }

    public var copies: [Copy]
    /// The store of `s3://bucket/prefix` sides.
    public var s3: S3?
    /// Named stores, for `s3://NAME@bucket/prefix` sides (`--s3-store NAME=JSON`).
    public var stores: [String: S3]
    public var parallelism: Int
    /// size (size + mtime) or checksum (contents).
    public var verify: String
    /// Remove what a target has and its source does not.
    public var delete: Bool
    /// Bytes per second (0: unlimited).
    public var bandwidth: Int
    public var window: Window?
    public var controlPort: Int
    /// An environment variable holding the address to listen on (the pod's IP).
    public var controlHostEnv: String?
    public var controlTokenFile: String?
    public var startPaused: Bool
    public var resultFile: String
    /// `source=journal`: the change journal of a source folder. The final pass copies only the
    /// paths it records when it is trusted, else walks the whole tree and says why.
    public var journals: [Copy]
    /// Watch the journaled sources from before the first pass; after it, keep watching until
    /// POST ``MoverAPI/final``, then run the final pass from the journals and end.
    public var watch: Bool
    /// How a folder's files reach a folder target (`spec.fileSync.method`).
    public var method: FileSyncMethod
    /// This pod's share of the trees, one of several transfer pods (`spec.fileSync.shards`).
    public var shard: Shard?
    /// Source folders whose `<name>.tar.gz` archives are unpacked into `<name>/` in a staging
    /// folder before the copy (`spec.files[].unpack`: a SaaS export).
    public var unpack: [String] = []
    /// Where archives are unpacked (a volume of the pod's own); nil: a new folder under TMPDIR.
    public var staging: String?

    public init(copies: [Copy], parallelism: Int = 16, verify: String = "size", delete: Bool = false, bandwidth: Int = 0, window: Window? = nil,
                controlPort: Int = 8086, controlHostEnv: String? = nil, controlTokenFile: String? = nil, startPaused: Bool = false, s3: S3? = nil, stores: [String: S3] = [:], resultFile: String = TerminationMessage.path,
                journals: [Copy] = [], watch: Bool = false, method: FileSyncMethod = .auto, shard: Shard? = nil) {
        self.method = method
        self.shard = shard
        self.journals = journals
        self.watch = watch
        self.copies = copies
        self.s3 = s3
        self.stores = stores
        self.parallelism = parallelism
        self.verify = verify
        self.delete = delete
        self.bandwidth = bandwidth
        self.window = window
        self.controlPort = controlPort
        self.controlHostEnv = controlHostEnv
        self.controlTokenFile = controlTokenFile
        self.startPaused = startPaused
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.options("copy", copies.map(\.text))
        w.option("parallelism", parallelism)
        w.option("verify", verify)
        w.flag("delete", delete)
        w.option("bandwidth", bandwidth)
        w.option("control-port", controlPort)
        w.option("control-host-env", controlHostEnv)
        w.option("control-token-file", controlTokenFile)
        w.option("result-file", resultFile)
        if let s3 {
            w.option("s3-endpoint", s3.endpoint)
            w.option("s3-region", s3.region)
            w.flag("s3-virtual-hosted", !s3.pathStyle)
            w.option("s3-credentials-dir", s3.credentialsDir)
            w.option("s3-ca-file", s3.caFile)
            w.option("s3-part-size", s3.partSize)
            w.option("s3-parts", s3.parts)
        }
        w.options("s3-store", stores.keys.sorted().map { "\($0)=\(Self.json(stores[$0]!))" })
        if let window {
            w.option("window-start", window.start)
            w.option("window-end", window.end)
            w.option("window-time-zone", window.timeZone)
        }
        w.flag("start-paused", startPaused)
        w.options("journal", journals.map(\.text))
        w.flag("watch", watch)
        w.option("method", method == .auto ? nil : method.rawValue)
        w.option("shard", shard?.text)
        w.options("unpack", unpack)
        w.option("staging", staging)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["copy", "parallelism", "verify", "bandwidth", "control-port", "control-host-env", "control-token-file",
                                                                       "result-file", "window-start", "window-end", "window-time-zone",
                                                                       "s3-endpoint", "s3-region", "s3-credentials-dir", "s3-ca-file", "s3-part-size", "s3-parts", "s3-store", "journal", "method", "shard", "unpack", "staging"], flags: ["delete", "start-paused", "s3-virtual-hosted", "watch"])
        var s3: S3?
        if let endpoint = try r.optional("s3-endpoint") {
            s3 = S3(endpoint: endpoint, region: try r.optional("s3-region") ?? "us-east-1", pathStyle: !r.flag("s3-virtual-hosted"), credentialsDir: try r.optional("s3-credentials-dir"),
                    caFile: try r.optional("s3-ca-file"), partSize: try r.int("s3-part-size", default: 8 << 20), parts: try r.int("s3-parts", default: 4))
        }
        let start = try r.optional("window-start"), end = try r.optional("window-end")
        var window: Window?
        if start != nil || end != nil {
            guard let start, let end else { throw ArgvError("give both --window-start and --window-end") }
            window = Window(start: start, end: end, timeZone: try r.optional("window-time-zone") ?? "UTC")
        }
        let methodText = try r.optional("method")
        guard let method = FileSyncMethod(rawValue: methodText ?? "auto") else {
            throw ArgvError("--method \(methodText ?? ""): give copy, reflink or move (spec.fileSync.method); leave it out to reflink where the filesystem can and copy elsewhere")
        }
        self.init(copies: try r.list("copy").map { try Copy(text: $0) }, parallelism: try r.int("parallelism", default: 16), verify: try r.optional("verify") ?? "size",
                  delete: r.flag("delete"), bandwidth: try r.int("bandwidth", default: 0), window: window, controlPort: try r.int("control-port", default: 8086),
                  controlHostEnv: try r.optional("control-host-env"), controlTokenFile: try r.optional("control-token-file"), startPaused: r.flag("start-paused"),
                  s3: s3, stores: try Self.stores(r.list("s3-store")), resultFile: try r.optional("result-file") ?? TerminationMessage.path,
                  journals: try r.list("journal").map { try Copy(text: $0, option: "journal") }, watch: r.flag("watch"), method: method,
                  shard: try r.optional("shard").map { try Shard(text: $0) })
        unpack = r.list("unpack")
        staging = try r.optional("staging")
    }

    /// `NAME=JSON` for each `--s3-store`; a name twice, or a value that is not a store, is refused.
    public static func stores(_ texts: [String]) throws -> [String: S3] {
        var out: [String: S3] = [:]
        for text in texts {
            let (name, json) = try ArgvReader.pair(text, option: "s3-store", shape: "NAME={\"endpoint\":…}")
            guard let store = try? JSONDecoder().decode(S3.self, from: Data(json.utf8)) else { throw ArgvError("--s3-store \(name): not a store's JSON (endpoint, region, pathStyle, credentialsDir, caFile, partSize, parts)") }
            guard out.updateValue(store, forKey: name) == nil else { throw ArgvError("--s3-store \(name) is given twice") }
        }
        return out
    }

    public static func json(_ store: S3) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? e.encode(store)) ?? Data(), as: UTF8.self)
    }
}

/// How the mover puts a folder's files into a folder target (`--method`, `spec.fileSync.method`).
public enum FileSyncMethod: String, Codable, Sendable, CaseIterable {
    /// A reflink where the filesystem can make one, else a copy of the bytes (the default).
    case auto
    /// Always a copy of the bytes: the target owns its blocks.
    case copy
    /// FICLONE (XFS, btrfs): the target shares the source's blocks until either side writes, so
    /// each side can change without touching the other. Refused when the filesystem cannot.
    case reflink
    /// rename(2) within one filesystem: instant, and the source folder is emptied. Asked for
    /// explicitly, for a package that is no longer needed; refused across filesystems or mounts.
    case move
}

/// `I/N`: the I-th (from 0) of N transfer pods; each copies the files ``ShardPlan`` gives it.
public struct Shard: Codable, Sendable, Equatable, Hashable {
    public var index: Int
    public var count: Int
    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }
    public var text: String { "\(index)/\(count)" }
    public init(text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), (1...64).contains(n), (0..<n).contains(i) else {
            throw ArgvError("--shard \(text): give I/N, the I-th (from 0) of N shards, N from 1 to 64 (spec.fileSync.shards)")
        }
        self.init(index: i, count: n)
    }
}
