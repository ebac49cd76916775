import FerryProtocol
import Foundation
import KubeClient
import ProcessSpawn

extension MySQLServers {
    /// Clients for both servers, logged in with the mounted credentials.
    func replication() throws -> Replication {
        let (sourceUser, sourcePassword) = try Credentials.login(userEnv: "FERRY_MYSQL_SOURCE_USERNAME", passwordEnv: "FERRY_MYSQL_SOURCE_PASSWORD",
                                                                 directory: sourceCredentialsDir, defaultUser: "root")
        let (user, password) = try Credentials.login(userEnv: "FERRY_MYSQL_USERNAME", passwordEnv: "FERRY_MYSQL_PASSWORD", directory: credentialsDir, defaultUser: "root")
        return Replication(source: try MySQLClient(MySQLEndpoint(host: sourceHost, port: sourcePort, user: sourceUser, password: sourcePassword)),
                           target: try MySQLClient(MySQLEndpoint(host: host, port: port, user: user, password: password)))
    }
}

extension MySQLSnapshotArguments {
    /// Checks both servers (nothing changed before they pass), then: the target read-only, a
    /// consistent copy with its GTID position — dumped from the running source, or the package's
    /// dumps and the position they recorded — each database restored and verified (in parallel
    /// inside each database), and the target replicating from that position.
    public func run(say: @escaping @Sendable (String) -> Void = { print($0) }) async throws -> MySQLSnapshotResult {
        guard parallelism >= 0 && parallelism <= 64 else { throw StepError.configuration("--parallelism must be auto or between 1 and 64 (spec.mysql.parallelism)") }
        let started = Date()
        let r = try servers.replication()
        let folder = (workDir ?? NSTemporaryDirectory()) + "/ferry-snapshot-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pkg = try package.map { try BackupPackage.open($0) }
        let (databases, copy) = try await ProcessSpawn.onThread { () throws -> ([String], Copy) in
            do {
                try r.checkSource()
                let databases = try r.databases(self.databases)
                try r.checkTarget(databases, replaceExisting: replaceExisting)
                if reversible { try r.checkReversible() }
                if let pkg { return (databases, try Self.packageCopy(pkg, databases: databases, replication: r)) }
                say("dumping \(databases.joined(separator: ", ")) from \(r.sourceName) (one consistent snapshot)")
                let (file, split) = try r.snapshot(databases, to: folder + "/snapshot.sql")
                return (databases, .live(file, split))
            } catch let e as StepError {
                throw StepError.beforeChange(e)
            }
        }
        say("copy at GTID \(copy.position); restoring \(databases.count) databases")
        // Only replication (and this restore, as an admin) writes the target from here on.
        try await ProcessSpawn.onThread { try r.target.run("SET GLOBAL read_only=1", what: "setting \(r.targetName) read-only") }
        var restored: [MySQLResult] = []
        for db in databases {
            var options: MySQLRestore.Options
            var written: String?
            switch copy {
            case .live(let file, let split):
                // One database's copy at a time beside the snapshot: the scratch space needed is the dump plus its largest database.
                let path = folder + "/\(restored.count).sql"
                try SnapshotDump.write(split, database: db, of: file, to: path)
                written = path
                options = .init(dumpPath: path, database: db, parallelism: parallelism)
            case .package(let pkg, _):
                let source = try pkg.mysql(db)
                options = .init(dumpPath: source.dumpPath, database: db, parallelism: parallelism, expectedTables: source.expectedTables, expectedSHA256: source.sha256)
                options.parts = source.parts
                options.packageDatabase = db
            }
            defer { if let written { unlink(written) } }
            restored.append(try await MySQLRestore(client: r.target, options: MySQLRestore.resolvingAuto(options, client: r.target), say: say).run())
        }
        try await ProcessSpawn.onThread { try r.startReplica(from: copy.position, databases: databases) }
        say("\(r.targetName) replicates \(databases.joined(separator: ", ")) from \(r.sourceName) at \(copy.position)")
        return MySQLSnapshotResult(gtidPosition: copy.position, databases: restored, seconds: (Date().timeIntervalSince(started) * 1000).rounded() / 1000)
    }

    /// Where the copy comes from.
    enum Copy {
        /// One consistent dump of the running source, mapped and cut.
        case live(MappedFile, SnapshotDump.Split)
        /// A package's dumps, with the position they were taken at.
        case package(BackupPackage, position: String)

        var position: String {
            switch self {
            case .live(_, let split): split.gtidPosition
            case .package(_, let position): position
            }
        }
    }

    /// The package's copy, when it holds every database at one recorded position the source's
    /// binary logs still reach back to.
    static func packageCopy(_ pkg: BackupPackage, databases: [String], replication r: Replication) throws -> Copy {
        guard let position = pkg.manifest?.mysqlGTIDPosition, !position.isEmpty else {
            throw StepError.configuration("the package records no GTID position for its MySQL dumps: export it with mysql.gtid: true (one consistent dump of all databases), "
                + "or copy from the running source (spec.mysql.source.snapshot: live). Nothing was changed")
        }
        let missing = databases.filter { pkg.manifest?.mysql[$0] == nil }
        guard missing.isEmpty else {
            throw StepError.configuration("the package holds no dump of \(missing.joined(separator: ", ")) (spec.mysql.source.databases); it has \((pkg.manifest?.mysql.keys.sorted() ?? []).joined(separator: ", ")). Nothing was changed")
        }
        try r.checkBinlogsReach(position)
        return .package(pkg, position: position)
    }
}

extension MySQLStatusArguments {
    public func run() async throws -> ReplicationStatus {
        let r = try servers.replication()
        return try await ProcessSpawn.onThread { try r.status() }
    }
}

extension MySQLCutoverArguments {
    public func run() async throws -> MySQLCutoverResult {
        guard timeoutSeconds >= 1 else { throw StepError.configuration("--timeout-seconds must be at least 1 (spec.mysql.cutover.timeoutSeconds)") }
        let r = try servers.replication()
        guard back else { return try await ProcessSpawn.onThread { try r.cutover(timeout: timeoutSeconds, maxLag: maxLagSeconds, killWriters: killWriters, databases: databases) } }
        // Back: the roles swap; the old server replicates from the new one through the reverse address.
        guard let reverseHost else { throw StepError.configuration("--back needs --reverse-host: the address the old server replicates from") }
        let swapped = Replication(source: r.target, target: r.source)
        return try await ProcessSpawn.onThread {
            try swapped.cutover(timeout: timeoutSeconds, maxLag: maxLagSeconds, killWriters: killWriters, databases: databases, master: (reverseHost, reversePort ?? 3306))
        }
    }
}

extension MySQLReverseArguments {
    public func run() async throws -> MySQLReverseResult {
        let r = try servers.replication()
        return try await ProcessSpawn.onThread {
            do { try r.checkReversible() } catch let e as StepError { throw StepError.beforeChange(e) }
            return try r.startReverse(from: from, databases: databases, via: (reverseHost, reversePort))
        }
    }
}

extension MySQLWatchArguments {
    /// Prints a look at replication every `intervalSeconds` (a look that fails says why in
    /// `lastError` and the watch goes on), `count` times or until stopped; the last look. With
    /// `verify`, a ``ReplicationVerifier`` compares the tables meanwhile and each look carries
    /// where it stands.
    public func run(count: Int? = nil) async throws -> ReplicationStatus {
        guard intervalSeconds >= 1 else { throw StepError.configuration("--interval-seconds must be at least 1") }
        guard chunkRows >= 1 else { throw StepError.configuration("--chunk-rows must be at least 1") }
        let r = try servers.replication()
        // A monitor that ended while it held replication (to compare a table) left it stopped: started before the first look.
        if (try? await ProcessSpawn.onThread { try r.resumeIfHeld() }) == true { print("replication was stopped without an error (held by an earlier monitor?): started again") }
        let paused = Locked(false), healthy = Locked(false), stopped = Locked(false), broken = Locked(false)
        let verification = Locked(ReplicationVerification())
        defer { stopped.withLock { $0 = true } }
        if verify {
            let verifier = ReplicationVerifier(replication: r, chunkRows: chunkRows, databases: databases, paused: { held in paused.withLock { $0 = held } })
            Thread.detachNewThread {
                verifier.run(state: verification, healthy: { healthy.withLock { $0 } }, broken: { broken.withLock { b in defer { b = false }; return b } },
                             stop: { stopped.withLock { $0 } })
            }
        }
        var last: ReplicationStatus?
        var looks = 0
        while count.map({ looks < $0 }) ?? true {
            let held = paused.withLock { $0 }
            var look: ReplicationStatus
            do {
                look = try await ProcessSpawn.onThread { try r.status(databases: databases) }
            } catch {
                look = ReplicationStatus(sourcePosition: "", appliedPosition: "", transactionsBehind: -1, ioRunning: false, sqlRunning: false, lastError: "cannot look at replication: \(error)")
            }
            if held || paused.withLock({ $0 }) { look.pausedToVerify = true }
            if verify { look.verification = verification.withLock { $0 } }
            // Compare only while replication keeps up (a held replica keeps its last verdict).
            if look.pausedToVerify != true {
                let ok = look.lastError == nil && look.ioRunning && look.sqlRunning && (look.secondsBehind ?? Int.max) <= 60
                healthy.withLock { $0 = ok }
                // Broken replication may be "fixed" by skipping an event: what was compared before proves nothing then.
                if look.lastError != nil || !look.sqlRunning { broken.withLock { $0 = true } }
                // Stopped without an error, not by us (a comparison that ended badly, a stray STOP SLAVE): started again.
                if !look.ioRunning && !look.sqlRunning && look.lastError == nil && !paused.withLock({ $0 }), (try? await ProcessSpawn.onThread { try r.resumeIfHeld() }) == true {
                    print("replication was stopped without an error: started again")
                }
            }
            print(ReplicationStatus.logLine(look, at: Timestamps.format(Date())))
            last = look
            looks += 1
            if count.map({ looks >= $0 }) ?? false { break }
            try await Task.sleep(for: .seconds(intervalSeconds))
        }
        return last ?? ReplicationStatus(sourcePosition: "", appliedPosition: "", transactionsBehind: -1, ioRunning: false, sqlRunning: false)
    }
}
