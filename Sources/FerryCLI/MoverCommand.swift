import ArgumentParser
import FerryProtocol
import FerrySteps
import Foundation

/// `ferry mover ...`: long-running data movers (the file sync's transfer pod).
struct MoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mover", abstract: "Long-running data movers (the file sync's transfer pod).",
        subcommands: [MoverFiles.self, MoverWatch.self])
}

/// `ferry mover watch`: the change journal of a folder, recorded until SIGINT or SIGTERM.
struct MoverWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Record every change under a folder into a change journal, until SIGINT or SIGTERM.",
        discussion: """
            Start it before the first copy (`ferry mover files`); leave it running until the application has stopped and \
            `ferry mover files --journal SOURCE=FILE` has run: that final pass asks it to flush, then copies only the recorded \
            paths (or walks the whole tree, saying why, when the journal cannot be trusted). Uses fanotify where it may \
            (CAP_SYS_ADMIN), else inotify.
            """)

    @Option(help: "The folder to watch.")
    var root: String
    @Option(help: "The journal file (appended to; created if missing).")
    var journal: String

    func run() async throws {
        let watcher = try JournalWatcher(root: root, journal: journal)
        watcher.start()
        await waitForTermination()
        watcher.stop()
        print("stopped; \(watcher.pathsRecorded) paths recorded in \(journal)")
    }
}

struct MoverFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Copy a tree into another: parallel, skip-existing, pausable, bandwidth-limited, verified.",
        discussion: """
            Control while it runs: GET /progress, POST /pause, POST /resume, POST /bandwidth (body: bytes/s) on --control-port; \
            SIGUSR2 pauses, SIGUSR1 resumes. Files are written under a temporary name and renamed into place when complete, \
            so a rerun after a kill copies only what is missing or different.
            """)

    @Option(help: "The folder to copy from.")
    var source: String?
    @Option(help: "The folder to copy into (created if missing).")
    var target: String?
    @Option(name: .customLong("copy"), help: "SOURCE=TARGET, repeatable: several trees one after another, one progress.")
    var copies: [String] = []
    @Option(help: "Files copied at once.")
    var parallelism: Int = 16
    @Option(help: "How to decide a file is already there and to verify: size (size + mtime) or checksum (contents).")
    var verify: String = "size"
    @Flag(help: "Remove what the target has and the source does not.")
    var delete = false
    @Option(help: "Bytes per second at most (0 = unlimited); changeable while running.")
    var bandwidth: Int = 0
    @Option(help: "Daily window start, HH:MM; outside the window the copy waits.")
    var windowStart: String?
    @Option(help: "Daily window end, HH:MM (may be earlier than the start: overnight).")
    var windowEnd: String?
    @Option(help: "Time zone of the window (IANA name).")
    var windowTimeZone: String = "UTC"
    @Option(help: "Port of the control endpoint (0 picks a free one, -1 disables).")
    var controlPort: Int = 8086
    @Option(help: "Address of the control endpoint.")
    var controlHost: String = "0.0.0.0"
    @Option(help: "An environment variable holding the address to listen on (the pod's IP, POD_IP); overrides --control-host when set.")
    var controlHostEnv: String?
    @Option(help: "A file holding the bearer token every control request must carry (the mounted <migration>-mover Secret).")
    var controlTokenFile: String?
    @Flag(help: "Start paused (resume by signal or POST /resume).")
    var startPaused = false
    @Option(help: "The object store of an s3://bucket/prefix target: its endpoint, e.g. https://s3.example:443.")
    var s3Endpoint: String?
    @Option(help: "The object store's region.")
    var s3Region: String = "us-east-1"
    @Flag(help: "The bucket in the host name (AWS), not in the path (MinIO, Swift, Ceph).")
    var s3VirtualHosted = false
    @Option(help: "Folder with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as files (a mounted Secret); else the environment.")
    var s3CredentialsDir: String?
    @Option(help: "PEM certificates the endpoint's TLS certificate may chain to (a mounted Secret's ca.crt), besides the system's.")
    var s3CaFile: String?
    @Option(help: "A named store for s3://NAME@bucket/prefix sides: NAME={\"endpoint\":…,\"credentialsDir\":…} (repeatable).")
    var s3Store: [String] = []
    @Option(help: "Files larger than this many bytes go in multipart uploads of parts this size.")
    var s3PartSize: Int = 8 << 20
    @Option(help: "Parts of one file uploaded at once.")
    var s3Parts: Int = 4
    @Option(name: .customLong("journal"), help: "SOURCE=FILE, repeatable: the change journal of a source folder (see `ferry mover watch`); the final pass then copies only the paths it records, or walks the whole tree when it is not trusted.")
    var journals: [String] = []
    @Flag(help: "Watch each journaled source from before the first pass; after it keep watching until POST /final, then run the final pass from the journals.")
    var watch = false
    @Option(help: "copy, reflink or move. Left out: a reflink (FICLONE: the copy shares the source's blocks until either side writes) where the filesystem can, else a copy. reflink: every file, refused up front where the filesystem cannot. move: rename within one filesystem, the source emptied; refused across filesystems or mounts.")
    var method: String?
    @Option(help: "I/N: this process copies the I-th (from 0) of N shares of each folder tree (whole top-level folders balanced by size, or each file by a hash of its path when one folder dominates); N processes with 0/N … N-1/N copy everything once.")
    var shard: String?
    @Option(help: "A source folder (repeatable) whose NAME.tar.gz archives (a SaaS export's attachment folders, no folder level inside) are unpacked into NAME/ in a staging folder under TMPDIR before the copy; links, devices and entries leaving their folder are refused.")
    var unpack: [String] = []
    @Option(help: "Where --unpack stages the archives' contents (default: a new folder under TMPDIR); removed when the copy ends.")
    var staging: String?
    @OptionGroup var result: ResultOptions

    func arguments() throws -> FileSyncArguments {
        var window: FileSyncArguments.Window?
        if windowStart != nil || windowEnd != nil {
            guard let s = windowStart, let e = windowEnd else { throw StepError.configuration("give both --window-start and --window-end (spec.fileSync.window)") }
            window = .init(start: s, end: e, timeZone: windowTimeZone)
        }
        var given: [FileSyncArguments.Copy]
        var journaled: [FileSyncArguments.Copy]
        do {
            given = try copies.map { try FileSyncArguments.Copy(text: $0) }
            journaled = try journals.map { try FileSyncArguments.Copy(text: $0, option: "journal") }
        } catch let e as ArgvError {
            throw StepError.configuration(e.description)
        }
        if let source, let target { given.insert(.init(source: source, target: target), at: 0) }
        guard let chosen = FileSyncMethod(rawValue: method ?? "auto") else {
            throw StepError.configuration("--method \(method ?? ""): give copy, reflink or move, or leave it out (spec.fileSync.method)")
        }
        let stores: [String: FileSyncArguments.S3]
        do {
            stores = try FileSyncArguments.stores(s3Store)
        } catch let e as ArgvError {
            throw StepError.configuration(e.description)
        }
        var arguments = FileSyncArguments(copies: given, parallelism: parallelism, verify: verify, delete: delete, bandwidth: bandwidth, window: window,
                                 controlPort: controlPort, controlHostEnv: controlHostEnv, controlTokenFile: controlTokenFile, startPaused: startPaused,
                                 s3: s3Endpoint.map { .init(endpoint: $0, region: s3Region, pathStyle: !s3VirtualHosted, credentialsDir: s3CredentialsDir, caFile: s3CaFile,
                                                                 partSize: s3PartSize, parts: s3Parts) },
                                 stores: stores, resultFile: result.resultFile, journals: journaled, watch: watch, method: chosen, shard: try shard.map { text in
                                    do { return try Shard(text: text) } catch let e as ArgvError { throw StepError.configuration(e.description) }
                                 })
        arguments.unpack = unpack
        arguments.staging = staging
        return arguments
    }

    func run() async throws {
        try await reportStep(result.resultFile) { try await arguments().run(controlHost: controlHost) }
    }
}
