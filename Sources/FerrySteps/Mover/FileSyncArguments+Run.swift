import FerryProtocol
import Foundation
import ProcessSpawn

extension FileSyncArguments {
    /// Copies each tree into its target, one after another with one progress, serving the
    /// control endpoint on `controlHost` (or the address in `controlHostEnv`) while it runs.
    /// Fails when a file could not be copied or differs after the copy.
    public func run(controlHost: String = "0.0.0.0") async throws -> FileSyncResult {
        guard parallelism >= 1 && parallelism <= 256 else { throw StepError.configuration("--parallelism must be between 1 and 256 (spec.fileSync.parallelism)") }
        guard verify == "size" || verify == "checksum" else { throw StepError.configuration("--verify must be size or checksum (spec.fileSync.verify)") }
        let control = MoverControl(bandwidth: Int64(bandwidth), window: try window.map { try DailyWindow(start: $0.start, end: $0.end, timeZone: $0.timeZone) })
        if startPaused { control.pause() }
        if controlPort >= 0 {
            let host = controlHostEnv.flatMap { ProcessInfo.processInfo.environment[$0] }.flatMap { $0.isEmpty ? nil : $0 } ?? controlHost
            var token: String?
            if let file = controlTokenFile {
                guard let t = Credentials.read(file), !t.isEmpty else {
                    throw StepError.configuration("--control-token-file \(file) cannot be read or is empty; the control endpoint will not run without its token")
                }
                token = t
            }
            let server = try MoverControlServer(control: control, host: host, port: controlPort, token: token)
            server.start()
            print("control endpoint on \(host):\(server.port)\(token == nil ? " (no token)" : " (bearer token required)")")
        }
        guard !copies.isEmpty else { throw StepError.configuration("give --source and --target, or --copy SOURCE=TARGET") }
        for folder in unpack where !copies.contains(where: { $0.source == folder }) {
            throw StepError.configuration("--unpack \(folder): no --copy from that folder")
        }
        // A SaaS export's archives, unpacked before the copy into a staging folder of the pod's own.
        let stagingRoot = unpack.isEmpty ? nil : try staging.map { $0 + "/ferry-unpack" } ?? ArchiveStaging.privateFolder()
        defer { if let stagingRoot { try? FileManager.default.removeItem(atPath: stagingRoot) } }
        let pairs = try copies.enumerated().map { i, c in
            guard unpack.contains(c.source), let stagingRoot else { return (c.source, c.target) }
            guard journals.isEmpty, method != .move else { throw StepError.configuration("--unpack stages archives: it goes with neither --journal nor --method move") }
            return (try ArchiveStaging.stage(c.source, into: stagingRoot + "/\(i)"), c.target)
        }
        for side in pairs.flatMap({ [$0.0, $0.1] }) where side.hasPrefix("s3://") && S3URL(side) == nil {
            throw StepError.configuration("--copy: \(side) is not s3://[STORE@]bucket/prefix with a bucket name S3 takes (3–63 lowercase letters, digits, - and .)")
        }
        let folderCopies = pairs.filter { !$0.0.hasPrefix("s3://") && !$0.1.hasPrefix("s3://") }
        for j in journals where !folderCopies.contains(where: { JournalVerdict.canonical($0.0) == JournalVerdict.canonical(j.source) }) {
            throw StepError.configuration("--journal \(j.text): no --copy from the folder \(j.source) into a folder (a journal records a source folder that is copied into a folder)")
        }
        try checkMethod(folderCopies: folderCopies.count, all: pairs.count)
        guard !watch || !journals.isEmpty else { throw StepError.configuration("--watch needs a --journal SOURCE=FILE for each folder to watch (spec.fileSync.journal)") }
        let buckets = try pairs.map { try S3URL($0.1).map { try bucketClient($0) } }
        let sources = try pairs.map { try S3URL($0.0).map { try bucketClient($0) } }
        let journalOf = Dictionary(journals.map { (JournalVerdict.canonical($0.source), $0.target) }, uniquingKeysWith: { a, _ in a })
        // Watching starts before anything of the trees is read: every later change is recorded.
        let watchers = try watch ? journals.map { try JournalWatcher(root: $0.source, journal: $0.target) } : []
        watchers.forEach { $0.start() }
        defer { watchers.forEach { $0.stop() } }
        let watching = Dictionary(watchers.map { ($0.journal, $0) }, uniquingKeysWith: { a, _ in a })
        let (parallelism, checksum, delete) = (parallelism, verify == "checksum", delete)
        // One pass over every copy. `final`: the final pass of a watching mover, whose
        // journals it flushes itself. A journaled folder copy outside --watch judges its journal
        // (asking its watcher, in whatever process, to flush) and copies only what it records.
        let pass = { @Sendable (final: Bool) throws -> FileSyncResult in
            let journaled = { (from: String) in !watch || final ? journalOf[JournalVerdict.canonical(from)] : nil }
            // Copies with a bucket side, and journaled ones, count their own totals.
            let roots = method == .move ? [] : pairs.filter { !$0.0.hasPrefix("s3://") && !$0.1.hasPrefix("s3://") && journaled($0.0) == nil }.map { RawPath($0.0) }
            // One of several pods: the counting scan makes each tree's plan, the same on every
            // shard for the same tree, and counts only this shard's share.
            let plans = shard.map { s in
                Dictionary(roots.map { root in
                    let (plan, files, bytes) = ShardPlan.scan(root, shard: s.index, count: s.count)
                    control.scanned(files: files, bytes: bytes)
                    return (root.description, plan)
                }, uniquingKeysWith: { a, _ in a })
            }
            let scanner = Thread { if shard == nil { FileMover.countTotals(roots, control: control) } else { control.scanFinished() } }
            scanner.start()
            var results: [FileSyncResult] = []
            var reports: [JournalReport] = []
            var shardReports: [ShardReport] = []
            for (((from, to), bucket), source) in zip(zip(pairs, buckets), sources) {
                // Parts as the writing side's store says (the reading side's for a download).
                let (partSize, parts) = ((bucket ?? source).map { ($0.2.partSize, $0.2.parts) }) ?? (8 << 20, 4)
                let gateway = bucket?.2.gateway == true
                if let (client, prefix, _) = source, let (targetClient, targetPrefix, _) = bucket {
                    results.append(try BucketToBucket(source: client, sourcePrefix: prefix, target: targetClient, targetPrefix: targetPrefix, parallelism: parallelism,
                                                      partSize: partSize, partsAtOnce: parts, delete: delete && !gateway, checksum: checksum, gateway: gateway, control: control).run())
                    continue
                }
                if let (client, prefix, _) = source {
                    results.append(try BucketToFolder(client: client, prefix: prefix, target: RawPath(to), parallelism: parallelism, partSize: partSize, checksum: checksum, control: control).run())
                    continue
                }
                if let (client, prefix, _) = bucket {
                    results.append(try FolderToBucket(source: RawPath(from), client: client, prefix: prefix, parallelism: parallelism, partSize: partSize, partsAtOnce: parts,
                                                      delete: delete && !gateway, checksum: checksum, gateway: gateway, control: control).run())
                    continue
                }
                if method == .move {
                    results.append(try TreeMove(source: RawPath(from), target: RawPath(to), control: control).run())
                    continue
                }
                var options = FileMover.Options(source: from, target: to, parallelism: parallelism, checksum: checksum, delete: delete)
                options.method = method
                options.countTotals = false
                if let shard, let plan = plans?[RawPath(from).description] {
                    options.shard = (shard.index, plan)
                    var result = try FileMover(options: options, control: control).run()
                    result.shard = ShardReport(index: shard.index, count: shard.count, mode: plan.mode.rawValue, digest: plan.digest)
                    shardReports.append(result.shard!)
                    results.append(result)
                    continue
                }
                // A watched source may change under the pass: the journal has what vanished.
                options.live = watch && !final
                if let journal = journaled(from) {
                    let verdict: JournalVerdict
                    let watcher = watching[journal]
                    if let watcher {
                        let nonce = UUID().uuidString
                        try watcher.flush(nonce: nonce)
                        verdict = JournalVerdict.of(ChangeJournal.read(journal) ?? [], root: JournalVerdict.place(from), target: JournalVerdict.place(to), flushed: nonce, removing: delete)
                    } else {
                        verdict = JournalWatcher.flushAndJudge(journal: journal, root: from, target: to, removing: delete)
                    }
                    let (result, report) = try FinalPass.run(options, verdict: verdict, final: watch, control: control,
                                                             record: { if let watcher { try watcher.record($0) } else { try ChangeJournal.append($0, to: journal) } }, say: { print($0) })
                    results.append(result)
                    reports.append(report)
                    continue
                }
                let began = ChangeJournal.now()
                let result = try FileMover(options: options, control: control).run()
                // A complete pass: the journal's final pass may trust what it saw unchanged.
                if let journal = journalOf[JournalVerdict.canonical(from)], let watcher = watching[journal], result.errors.isEmpty, result.verify.differing == 0 {
                    try watcher.record(.passed(ms: began, target: JournalVerdict.place(to), removed: delete))
                }
                results.append(result)
            }
            while !scanner.isFinished { usleep(10_000) }
            var combined = FileSyncResult.combined(results, pairs: pairs.map(\.1))
            combined.journals = reports.isEmpty ? nil : reports
            if let shard, !shardReports.isEmpty {
                // One digest for all the trees: the plan of each, in order.
                combined.shard = ShardReport(index: shard.index, count: shard.count, mode: Set(shardReports.map(\.mode)).sorted().joined(separator: "+"),
                                             digest: shardReports.map(\.digest).joined(separator: "."))
            }
            if !reports.isEmpty { control.setJournals(reports) }
            return combined
        }
        var outcome = try await ProcessSpawn.onThread { try pass(false) }
        if watch {
            try Self.requireComplete(outcome)
            control.setFirstPass(outcome)
            // The first pass is done: record changes until the final pass is asked for.
            control.setPhase(.watching)
            let live = Thread {
                while control.progress().state == .watching {
                    control.setJournals(watchers.map { JournalReport(source: String(decoding: $0.root, as: UTF8.self), mechanism: $0.mechanism, trusted: $0.failed == nil,
                                                                     paths: $0.pathsRecorded, reason: $0.failed) })
                    usleep(500_000)
                }
            }
            live.start()
            print("first pass done (\(outcome.filesCopied) files copied); watching for changes until POST \(MoverAPI.final)")
            try await ProcessSpawn.onThread { control.waitForFinal() }
            control.setPhase(.copying)
            control.startPass()
            outcome = try await ProcessSpawn.onThread { try pass(true) }
        }
        try Self.requireComplete(outcome)
        return outcome.compacted()
    }

    /// `--method` against the rest, before anything is read: reflink and move are between
    /// folders; move empties its source, so it takes no --delete (everything would be an extra)
    /// and no journal (the watcher would record the move itself as changes).
    func checkMethod(folderCopies: Int, all: Int) throws {
        if let shard, shard.count > 1 {
            guard folderCopies == all else { throw StepError.configuration("--shard splits folders; a bucket side is copied by one pod (spec.fileSync.shards: leave it out)") }
            guard journals.isEmpty && !watch else { throw StepError.configuration("--shard and a change journal (--journal, --watch; spec.fileSync.journal) do not go together yet: one pod keeps the journal; leave shards out or turn the journal off") }
            guard method != .move && !delete else { throw StepError.configuration("--shard copies a share of each tree: --method move and --delete need the whole tree in one pod") }
        }
        guard method == .reflink || method == .move else { return }
        guard folderCopies == all else {
            throw StepError.configuration("--method \(method.rawValue) works between folders; a bucket side is copied (spec.fileSync.method: leave it out, or copy)")
        }
        guard method == .move else { return }
        guard !delete else { throw StepError.configuration("--method move empties the source: --delete would then remove everything it moved; leave --delete out") }
        guard journals.isEmpty && !watch else {
            throw StepError.configuration("--method move and a change journal (--journal, --watch; spec.fileSync.journal) do not go together: the journal would record the move itself; turn the journal off")
        }
    }

    /// Fails when a file could not be copied or differs after the copy.
    static func requireComplete(_ outcome: FileSyncResult) throws {
        if !outcome.errors.isEmpty || outcome.verify.differing > 0 {
            let list = outcome.errors.prefix(20).joined(separator: "; ")
            throw StepError.target("\(outcome.errors.count) files could not be copied (\(list)); \(outcome.verify.differing) differ after the copy (\(outcome.verify.examples.prefix(5).joined(separator: "; ")))")
        }
    }

    /// The client and key prefix of an `s3://[NAME@]bucket/prefix` side: the store NAME (or the
    /// `--s3-*` one), its credentials from the mounted Secret's files (else the environment), its CA.
    func bucketClient(_ url: S3URL) throws -> (S3Client, String, S3) {
        let field = url.store.isEmpty ? "--s3-endpoint" : "--s3-store \(url.store)"
        guard let s3 = url.store.isEmpty ? s3 : stores[url.store] else {
            throw StepError.configuration(url.store.isEmpty ? "\(url.text) needs --s3-endpoint (spec.files[].to.s3.endpoint)" : "\(url.text) names the store \(url.store), which no --s3-store gives")
        }
        return (try s3.client(bucket: url.bucket, prefix: url.prefix, field: field, named: url.text), url.prefix, s3)
    }
}

extension FileSyncArguments.S3 {
    /// A client for `bucket` in this store: its settings checked (`field` names them in a refusal),
    /// the keys from the credentials folder's files (else the environment), its CA trusted.
    func client(bucket: String, prefix: String, field: String, named: String) throws -> S3Client {
        guard URL(string: endpoint)?.host != nil, endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw StepError.configuration("\(field): the endpoint \"\(endpoint)\" must be an http(s) URL, e.g. https://s3.example:443 (spec.files[].to.s3.endpoint)")
        }
        guard partSize >= 5 << 20, partSize <= 5 << 30 else { throw StepError.configuration("\(field): the part size must be between 5 MiB and 5 GiB (S3's limits)") }
        guard (1...64).contains(parts) else { throw StepError.configuration("\(field): the parts at once must be between 1 and 64") }
        let env = ProcessInfo.processInfo.environment
        func value(_ key: String) -> String? { credentialsDir.flatMap { Credentials.read("\($0)/\(key)") } ?? env[key] }
        guard let access = value("AWS_ACCESS_KEY_ID"), !access.isEmpty, let secret = value("AWS_SECRET_ACCESS_KEY"), !secret.isEmpty else {
            throw StepError.configuration("no S3 credentials for \(named): the Secret needs keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (spec.files[].to.s3.credentialsSecret)")
        }
        let token = value("AWS_SESSION_TOKEN").flatMap { $0.isEmpty ? nil : $0 }
        return S3Client(location: S3Location(endpoint: endpoint, region: region, bucket: bucket, prefix: prefix, pathStyle: pathStyle),
                        credentials: .init(accessKey: access, secretKey: secret, sessionToken: token), http: try S3HTTP.client(caFile: caFile))
    }
}

/// `s3://[NAME@]bucket/prefix`: a side of a copy in an object store (the store NAME, or the default one). Pure.
struct S3URL: Equatable {
    var store: String = ""
    var bucket: String
    var prefix: String
    var text: String { "s3://\(store.isEmpty ? "" : store + "@")\(bucket)/\(prefix)" }

    /// nil when `s` is not an s3:// URL; a bucket name S3 would refuse is nil too (the caller says why).
    init?(_ s: String) {
        guard s.hasPrefix("s3://") else { return nil }
        var rest = s.dropFirst(5)
        let head = rest.prefix { $0 != "/" }
        if let at = head.firstIndex(of: "@") {
            store = String(head[..<at])
            guard !store.isEmpty else { return nil }
            rest = rest[rest.index(after: at)...]
        }
        let bucket = rest.prefix { $0 != "/" }
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }) else { return nil }
        self.bucket = String(bucket)
        self.prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
    }
}
