import FerryProtocol
import Foundation
import KubeClient

/// MariaDB replication from the old server (source) to the new one (target), as the snapshot,
/// status and cutover steps use it. Blocking; every refusal names the server and the fix, and
/// comes before anything is changed.
struct Replication: Sendable {
    let source: MySQLClient
    let target: MySQLClient

    var sourceName: String { "the source \(source.endpoint.host):\(source.endpoint.port)" }
    var targetName: String { "the target \(target.endpoint.host):\(target.endpoint.port)" }

    // MARK: - checks (nothing changed yet)

    /// The source writes a row-based binary log with GTIDs, and its user may replicate and set read_only.
    func checkSource() throws {
        guard let row = try source.query("SELECT @@log_bin, @@binlog_format, @@gtid_binlog_pos").first, row.count == 3 else {
            throw StepError.target("\(sourceName) did not answer SELECT @@log_bin")
        }
        if try source.query("SELECT @@read_only").first?.first == "1" {
            throw StepError.configuration("\(sourceName) is read-only: Ferry copies from the primary the application writes to (a read replica, or a server in maintenance, "
                + "would be promoted past writes it never saw). Point spec.mysql.source at the primary. Nothing was changed")
        }
        guard row[0] == "1" else {
            throw StepError.configuration("\(sourceName) has no binary log (log_bin=OFF): start it with log-bin and binlog_format=ROW (spec.mysql.source); replication needs it. Nothing was changed")
        }
        guard row[1] == "ROW" else {
            throw StepError.configuration("\(sourceName) logs binlog_format=\(row[1]); replication limited to the migrated databases needs ROW: SET GLOBAL binlog_format=ROW (and in its config). Nothing was changed")
        }
        let grants = try source.query("SHOW GRANTS FOR CURRENT_USER()").compactMap(\.first)
        let missing = Self.missingRights(grants: grants, needed: [["REPLICATION SLAVE"], ["SELECT"], ["READ_ONLY ADMIN", "SUPER"], ["PROCESS"]])
        guard missing.isEmpty else {
            throw StepError.configuration("the source user \(source.endpoint.user) (spec.mysql.source.credentialsSecret) lacks \(missing.joined(separator: ", ")) ON *.*: "
                + "GRANT REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS ON *.* TO it. Nothing was changed")
        }
    }

    /// Which of `needed` (each a list of alternatives) the global grants do not give.
    static func missingRights(grants: [String], needed: [[String]]) -> [String] {
        let global = grants.filter { $0.uppercased().contains(" ON *.* TO ") }.map { $0.uppercased() }
        if global.contains(where: { $0.hasPrefix("GRANT ALL PRIVILEGES ON *.*") }) { return [] }
        let rights = Set(global.flatMap { line -> [String] in
            guard let on = line.range(of: " ON *.* TO ") else { return [] }
            return line[line.index(line.startIndex, offsetBy: 6)..<on.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        })
        return needed.filter { alternatives in !alternatives.contains(where: rights.contains) }.map { $0.joined(separator: " or ") }
    }

    /// The databases to move: `wanted`, or every one on the source but the system ones; names a
    /// replication filter can carry (no comma, no control character).
    func databases(_ wanted: [String]) throws -> [String] {
        let all = try source.userDatabases()
        let list = wanted.isEmpty ? all : wanted
        if let bad = list.first(where: { $0.contains(",") || $0.unicodeScalars.contains { $0.value < 32 } }) {
            throw StepError.configuration("database \(bad) cannot be replicated on its own (a comma or control character in its name); leave it out of spec.mysql.source.databases")
        }
        let absent = list.filter { !all.contains($0) }
        guard absent.isEmpty else {
            throw StepError.configuration("\(sourceName) has no database \(absent.joined(separator: ", ")) (spec.mysql.source.databases); it has \(all.joined(separator: ", "))")
        }
        guard !list.isEmpty else { throw StepError.configuration("\(sourceName) holds no database to move") }
        return list
    }

    /// The target holds none of the databases (unless an earlier run of this step wrote them) and
    /// replicates from nothing else.
    func checkTarget(_ databases: [String], replaceExisting: Bool) throws {
        if !replaceExisting {
            let present = Set(try target.userDatabases()).intersection(databases).sorted()
            guard present.isEmpty else {
                throw StepError.configuration("\(targetName) already holds \(present.joined(separator: ", ")), not written by this Migration; "
                    + "drop it there or leave it out of spec.mysql.source.databases. Nothing was changed")
            }
        }
        for replica in try target.queryNamed("SHOW ALL SLAVES STATUS", what: "reading the target's replication") {
            let host = replica["Master_Host"] ?? "", port = replica["Master_Port"] ?? ""
            guard host == source.endpoint.host && port == String(source.endpoint.port) else {
                throw StepError.configuration("\(targetName) already replicates from \(host):\(port)\(replica["Connection_name"].map { $0.isEmpty ? "" : " (connection \($0))" } ?? ""); "
                    + "stop and reset that first (STOP SLAVE; RESET SLAVE ALL). Nothing was changed")
            }
        }
    }

    // MARK: - snapshot and replication

    /// One consistent dump of `databases` from the source into `path` (the caller removes it),
    /// mapped and cut per database, with its GTID position.
    func snapshot(_ databases: [String], to path: String) throws -> (MappedFile, SnapshotDump.Split) {
        try source.consistentDump(databases, to: path)
    }

    /// The source's binary logs still hold every transaction after `position` (a package's
    /// recorded position), and `position` is in its history.
    func checkBinlogsReach(_ position: String) throws {
        guard let wanted = GTIDPosition(position) else { throw StepError.configuration("the package's GTID position \"\(position.prefix(80))\" is not one") }
        let logs: [String]
        do {
            logs = try source.query("SHOW BINARY LOGS").compactMap(\.first)
        } catch {
            throw StepError.configuration("\(sourceName) does not list its binary logs to the source user (\(error)): GRANT BINLOG MONITOR ON *.* TO it, so Ferry can check the package's position is still in them")
        }
        guard let first = logs.first else { throw StepError.configuration("\(sourceName) has no binary logs; replication from the package's position \(position) is not possible") }
        let start = try source.query("SELECT BINLOG_GTID_POS(\(MySQLClient.quoteString(first)), 4)").first?.first ?? ""
        if let s = GTIDPosition(start), s.transactionsAhead(of: wanted) > 0 {
            throw StepError.configuration("\(sourceName)'s oldest binary log \(first) starts at \(start), after the package's position \(position): the transactions in between are no longer there "
                + "(binary-log retention, binlog_expire_logs_seconds). Export a new package with mysql.gtid: true, or copy from the running source (spec.mysql.source.snapshot: live)")
        }
        let now = GTIDPosition(try source.query("SELECT @@gtid_binlog_pos").first?.first ?? "")
        if let now, wanted.transactionsAhead(of: now) > 0 {
            throw StepError.configuration("the package's position \(position) is ahead of \(sourceName) (\(now.text)): the package was not exported from this server")
        }
    }

    /// The target read-only, replicating the migrated databases from `position` on.
    func startReplica(from position: String, databases: [String]) throws {
        let e = source.endpoint
        try target.run("""
            STOP ALL SLAVES;
            RESET SLAVE ALL;
            SET GLOBAL read_only=1;
            SET GLOBAL gtid_slave_pos=\(MySQLClient.quoteString(position));
            SET GLOBAL replicate_do_db=\(MySQLClient.quoteString(databases.joined(separator: ",")));
            CHANGE MASTER TO MASTER_HOST=\(MySQLClient.quoteString(e.host)), MASTER_PORT=\(e.port), MASTER_USER=\(MySQLClient.quoteString(e.user)),
              MASTER_PASSWORD=\(MySQLClient.quoteString(e.password)), MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
            START SLAVE;
            """, what: "starting replication on \(targetName)")
    }

    /// The target's replication filter (`replicate_do_db`): the databases it replicates.
    func replicationFilter() throws -> [String] {
        (try target.query("SELECT @@replicate_do_db").first?.first ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Starts the target's replication when both its threads are stopped without an error (a
    /// comparison held it and ended before it let go); true when it did.
    func resumeIfHeld() throws -> Bool {
        guard let replica = try target.queryNamed("SHOW SLAVE STATUS", what: "reading the target's replication").first,
              replica["Slave_IO_Running"] == "No", replica["Slave_SQL_Running"] == "No",
              (replica["Last_SQL_Error"] ?? "").isEmpty, (replica["Last_IO_Error"] ?? "").isEmpty else { return false }
        try target.run("START SLAVE", what: "starting replication again on \(targetName)")
        return true
    }

    /// Where the target stands against the source.
    /// `databases`: the migrated ones; the target's replication filter must be exactly these,
    /// and the target read-only (a restarted server forgets both: only replication may write it).
    func status(databases: [String] = []) throws -> ReplicationStatus {
        let sourcePosition = try source.query("SELECT @@gtid_binlog_pos").first?.first ?? ""
        let settings = try target.query("SELECT @@gtid_slave_pos, @@replicate_do_db, @@read_only").first ?? []
        let applied = settings.first ?? ""
        var problem: String?
        if !databases.isEmpty {
            let filter = Set((settings.count > 1 ? settings[1] : "").split(separator: ",").map(String.init))
            if filter != Set(databases) {
                problem = "\(targetName) replicates \(filter.isEmpty ? "every database" : filter.sorted().joined(separator: ", ")), not only \(databases.sorted().joined(separator: ", ")) "
                    + "(was it restarted? SET GLOBAL replicate_do_db is not kept: put replicate_do_db in its config, or re-run the snapshot)"
            } else if settings.count > 2, settings[2] != "1" {
                problem = "\(targetName) is writable while it replicates (was it restarted? put read_only=1 in its config until the cutover): only replication may write it"
            }
        }
        let replica = try target.queryNamed("SHOW SLAVE STATUS", what: "reading the target's replication").first
        let behind = GTIDPosition(sourcePosition).map { s in GTIDPosition(applied).map { Int64(s.transactionsAhead(of: $0)) } ?? -1 } ?? -1
        let sqlError = replica?["Last_SQL_Error"].flatMap { $0.isEmpty ? nil : $0 }
        let ioError = replica?["Last_IO_Error"].flatMap { $0.isEmpty ? nil : $0 }
        return ReplicationStatus(sourcePosition: sourcePosition, appliedPosition: applied, transactionsBehind: behind,
                                 secondsBehind: replica?["Seconds_Behind_Master"].flatMap { Int($0) },
                                 ioRunning: replica?["Slave_IO_Running"] == "Yes", sqlRunning: replica?["Slave_SQL_Running"] == "Yes",
                                 lastError: sqlError ?? ioError ?? (replica == nil ? "\(targetName) is not a replica" : nil) ?? problem)
    }

    // MARK: - cutover

    /// Source read-only → its writers named (and killed) → the target applies the source's last
    /// transaction within `timeout` → the target promoted (replication stopped, reset, writable).
    /// On a timeout the source is made writable again and nothing else is done. Safe to run
    /// again after a run that died at any point: it carries on from what the servers show
    /// (the source already read-only, the replica stopped or already reset, the target promoted).
    /// `master`: where the target's replication reads from, when not the source's own address
    /// (going back: the old server reaches the new one through another address).
    func cutover(timeout: Int, maxLag: Int? = nil, killWriters: Bool, databases: [String] = [], master: (host: String, port: Int)? = nil,
                 now: () -> Date = Date.init) throws -> MySQLCutoverResult {
        let back = master != nil
        // What to do when the copy on the target cannot be trusted: never a new snapshot over the new primary when going back.
        let recopy = back ? "fix reverse replication on the old server, or set it up again (ferry.dev/rerun=mysql-reverse)"
            : "re-run the snapshot (ferry.dev/rerun=mysql-snapshot)"
        // A monitor comparing tables, or an earlier cutover, may have ended holding replication.
        _ = try? resumeIfHeld()
        let replicas = try target.queryNamed("SHOW SLAVE STATUS", what: "reading the target's replication")
        let sourceReadOnly = (try? source.query("SELECT @@read_only").first?.first).map { $0 == "1" }
        guard let replica = replicas.first else { return try finishDetached(sourceReadOnly: sourceReadOnly, databases: databases, recopy: recopy, now: now) }
        let expected = master ?? (source.endpoint.host, source.endpoint.port)
        guard replica["Master_Host"] == expected.host, replica["Master_Port"] == String(expected.port) else {
            throw StepError.beforeChange(.configuration("\(targetName) replicates from \(replica["Master_Host"] ?? "?"):\(replica["Master_Port"] ?? "?"), not from \(expected.host):\(expected.port); \(recopy)"))
        }
        // A comparison that ended while it ran replication up to a position leaves that limit in force.
        if let until = replica["Until_Condition"], !until.isEmpty, until != "None" {
            try target.run("STOP SLAVE; START SLAVE", what: "clearing a left-over START SLAVE UNTIL on \(targetName)")
        }
        // Read-only already: an earlier run of this cutover set it and ended before it finished
        // (the snapshot refuses a source that was read-only to begin with).
        let resumed = sourceReadOnly == true
        if let error = replica["Last_SQL_Error"], !error.isEmpty {
            let undone = resumed ? undoReadOnly() : ""
            throw StepError.beforeChange(.target("replication on \(targetName) is broken: \(error); fix the row there or \(recopy). " + (resumed ? undone : "The source was not touched")))
        }
        // A fresh look: the controller decided on the monitor's last one, which may be seconds old.
        if !resumed, let maxLag, let lag = replica["Seconds_Behind_Master"].flatMap({ Int($0) }), lag > maxLag {
            throw StepError.beforeChange(.target("\(targetName) is \(lag) s behind (more than \(maxLag) s, spec.mysql.cutover.maxLagSeconds); the cutover waits. The source was not touched"))
        }
        try source.run("SET GLOBAL read_only=1", what: "setting \(sourceName) read-only")
        let readOnlyAt = now()
        Failpoint.hit("cutover-after-read-only")
        // From the moment the target is detached, the source must stay read-only: a failure then is
        // finished by running the cutover again (finishDetached), never undone.
        var detached = false
        do {
            let writers = try openWriters()
            var killed: [String] = []
            if killWriters {
                for w in writers {
                    try? source.run("KILL CONNECTION \(w.id)", what: "killing connection \(w.id)")
                    killed.append(w.text)
                }
            }
            Failpoint.hit("cutover-after-writers")
            let position = try source.query("SELECT @@gtid_binlog_pos").first?.first ?? ""
            let waitStart = now()
            let waited = try target.query("SELECT MASTER_GTID_WAIT(\(MySQLClient.quoteString(position)), \(timeout))").first?.first
            guard waited == "0" else {
                throw StepError.target("\(targetName) did not apply the source's last transaction (\(position)) within \(timeout) s (spec.mysql.cutover.timeoutSeconds)")
            }
            let waitedSeconds = (now().timeIntervalSince(waitStart) * 1000).rounded() / 1000
            Failpoint.hit("cutover-after-caught-up")
            try target.run("STOP SLAVE", what: "stopping replication on \(targetName)")
            Failpoint.hit("cutover-after-stop-replica")
            let filter = try replicationFilter()
            detached = true
            try target.run("RESET SLAVE ALL; SET GLOBAL replicate_do_db=''", what: "detaching \(targetName) from the source")
            Failpoint.hit("cutover-after-reset")
            // Nothing writes the target before it is writable: its position now is where reverse replication starts.
            let targetPosition = try target.query("SELECT @@gtid_binlog_pos").first?.first ?? ""
            try target.run("SET GLOBAL read_only=0", what: "making \(targetName) writable")
            var result = MySQLCutoverResult(sourcePosition: position, readOnlyAt: Timestamps.formatMicro(readOnlyAt), promotedAt: Timestamps.formatMicro(now()),
                                            waitedSeconds: waitedSeconds, writers: writers.map(\.text), killed: killed, resumed: resumed)
            result.targetPosition = targetPosition
            result.databases = databases.isEmpty ? (filter.isEmpty ? nil : filter) : databases
            return result
        } catch {
            if detached {
                // The target may be detached, or even writable: the source stays read-only, so the two never both take writes.
                throw StepError.target("\(error); \(sourceName) stays read-only and \(targetName) no longer replicates: the cutover is run again to finish it")
            }
            // Nothing lost: the source takes writes again, the target replicates on.
            _ = try? resumeIfHeld()
            throw StepError.beforeChange(.target("\(error); \(undoReadOnly())"))
        }
    }

    /// The source writable again; what happened, for the report.
    private func undoReadOnly() -> String {
        (try? source.run("SET GLOBAL read_only=0", what: "making \(sourceName) writable again")) != nil
            ? "\(sourceName) is writable again and the target still replicates: nothing was lost"
            : "and \(sourceName) could NOT be made writable again: SET GLOBAL read_only=0 on it by hand"
    }

    /// The target replicates from nothing: promoted by an earlier run (done), or detached by one
    /// that ended before it made the target writable (finished here when the target holds every
    /// transaction of the read-only source). Anything else is refused: never both writable.
    private func finishDetached(sourceReadOnly: Bool?, databases: [String], recopy: String, now: () -> Date) throws -> MySQLCutoverResult {
        let stamp = Timestamps.formatMicro(now())
        let applied = try target.query("SELECT @@gtid_slave_pos").first?.first ?? ""
        if try target.query("SELECT @@read_only").first?.first == "0" {
            guard sourceReadOnly != false else {
                throw StepError.beforeChange(.configuration("\(targetName) replicates from nothing and takes writes, and \(sourceName) takes writes too: this is not a cutover Ferry made "
                    + "(or the source was made writable after it). Nothing was changed; stop the application on one of them"))
            }
            return MySQLCutoverResult(sourcePosition: applied, readOnlyAt: stamp, promotedAt: stamp, waitedSeconds: 0, alreadyPromoted: true)
        }
        let sourcePosition = sourceReadOnly == true ? (try? source.query("SELECT @@gtid_binlog_pos").first?.first) ?? nil : nil
        guard let sourcePosition, let sp = GTIDPosition(sourcePosition), let ap = GTIDPosition(applied), sp.transactionsAhead(of: ap) == 0 else {
            let undone = sourceReadOnly == true ? "; " + undoReadOnly() : ""
            throw StepError.beforeChange(.configuration("\(targetName) does not replicate from \(sourceName) and does not hold all its transactions (applied \(applied)); "
                + "\(recopy)\(undone)"))
        }
        let filter = try replicationFilter()
        let targetPosition = try target.query("SELECT @@gtid_binlog_pos").first?.first ?? ""
        try target.run("SET GLOBAL replicate_do_db=''; SET GLOBAL read_only=0", what: "making \(targetName) writable")
        var result = MySQLCutoverResult(sourcePosition: sourcePosition, readOnlyAt: stamp, promotedAt: stamp, waitedSeconds: 0, resumed: true)
        result.targetPosition = targetPosition
        result.databases = databases.isEmpty ? (filter.isEmpty ? nil : filter) : databases
        return result
    }

    struct Writer {
        var id: String
        var text: String
    }

    /// Client connections on the source with a transaction that has written rows (not ours).
    func openWriters() throws -> [Writer] {
        try source.query("""
            SELECT p.ID, p.USER, p.HOST, COALESCE(p.DB, '') FROM information_schema.INNODB_TRX t
            JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
            WHERE p.ID <> CONNECTION_ID() AND (t.trx_rows_modified > 0 OR t.trx_state = 'LOCK WAIT') ORDER BY p.ID
            """).map { Writer(id: $0[0], text: "\($0[0]) \($0[1])@\($0[2])\($0[3].isEmpty ? "" : " \($0[3])")") }
    }
}
