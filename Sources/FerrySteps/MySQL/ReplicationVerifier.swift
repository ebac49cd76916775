import FerryProtocol
import Foundation
import KubeClient

/// Verify while running, as Vitess's VDiff does: for each replicated table, the target's
/// replication is stopped, the source opens a consistent snapshot and names its GTID position,
/// the target runs up to exactly that position and opens its own snapshot, replication goes
/// on, and both snapshots are compared in primary-key chunks at leisure. The target is held
/// only while it catches up to the position. Blocking.
struct ReplicationVerifier: Sendable {
    let replication: Replication
    var chunkRows = 10_000
    /// The migrated databases (empty: the target's replication filter).
    var databases: [String] = []
    /// How long the target may take to reach the source's snapshot position.
    var catchUpSeconds = 120
    /// Failed tries after which a table is listed as not comparable and the pass goes on.
    var triesPerTable = 5
    /// Told while the target's replication is held on purpose.
    var paused: @Sendable (Bool) -> Void = { _ in }

    enum Outcome: Equatable {
        case equal
        case differs(TableMismatch)
        /// Cannot be compared while the source takes writes (why).
        case unverifiable(String)
    }

    /// A table, named apart from any dot in either name.
    struct Table: Hashable, Comparable {
        var database: String
        var table: String
        var name: String { "\(database).\(table)" }
        static func < (a: Table, b: Table) -> Bool { (a.database, a.table) < (b.database, b.table) }
    }

    var source: MySQLClient { replication.source }
    var target: MySQLClient { replication.target }

    /// The databases compared: those given, else the target's replication filter.
    func replicatedDatabases() throws -> [String] {
        try (databases.isEmpty ? replication.replicationFilter() : databases).sorted()
    }

    /// Table → engine, for the tables of `databases` on `client` (system-versioned ones included).
    func tables(_ client: MySQLClient, _ databases: [String]) throws -> [Table: String] {
        guard !databases.isEmpty else { return [:] }
        let rows = try client.query("SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(ENGINE, '') FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_SCHEMA IN ("
            + databases.map(MySQLClient.quoteString).joined(separator: ", ") + ")")
        return Dictionary(rows.filter { $0.count == 3 }.map { (Table(database: $0[0], table: $0[1]), $0[2]) }, uniquingKeysWith: { a, _ in a })
    }

    /// A table's columns and primary key on `client`.
    func shape(_ client: MySQLClient, database: String, table: String) throws -> TableChecksum {
        let where_ = "TABLE_SCHEMA = \(MySQLClient.quoteString(database)) AND TABLE_NAME = \(MySQLClient.quoteString(table))"
        let columns = try client.query("SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, '') FROM information_schema.COLUMNS WHERE \(where_) ORDER BY ORDINAL_POSITION")
            .filter { $0.count == 4 }
            .map { TableChecksum.Column(name: $0[0], type: $0[1], charset: $0[2].isEmpty ? nil : $0[2], collation: $0[3].isEmpty ? nil : $0[3]) }
        let keyNames = try client.query("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE \(where_) AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX").compactMap(\.first)
        let key = keyNames.compactMap { name in columns.first { $0.name == name } }
        return TableChecksum(database: database, table: table, columns: columns, key: key)
    }

    /// Compares `database.table`, present on both sides, at one GTID position.
    func compare(database: String, table: String, engine: String) throws -> Outcome {
        let name = "\(database).\(table)"
        guard engine.lowercased() == "innodb" else { return .unverifiable("\(name): engine \(engine) is not transactional, so it cannot be read at one position while the source takes writes") }
        let shape = try shape(source, database: database, table: table)
        let other = try self.shape(target, database: database, table: table)
        guard shape.columns == other.columns else {
            return .differs(TableMismatch(table: name, range: "the whole table", detail: "its columns differ: source (\(shape.columns.map(\.name).joined(separator: ", "))), "
                + "target (\(other.columns.map(\.name).joined(separator: ", ")))", position: ""))
        }
        let (sourceSession, targetSession, position) = try openAtOnePosition()
        defer { sourceSession.close(); targetSession.close() }
        // Every chunkRows-th key on the source (as printed, and as literals), one keyset read each;
        // chunk i runs from key i-1 (inclusive) to key i (exclusive), the first from the start, the last to the end.
        var keys: [(fields: [String], literal: [String])] = []
        if shape.chunkable {
            while true {
                let rows = try sourceSession.query(shape.nextBoundaryQuery(from: keys.last?.literal, every: max(1, chunkRows)), what: "cutting \(name) into chunks")
                guard let fields = rows.first else { break }
                guard let literal = shape.literals(fields) else { throw StepError.target("the source printed a key of \(name) that is not one") }
                keys.append((fields, literal))
            }
        }
        let chunks = (0...keys.count).map { i in (lower: i == 0 ? nil : keys[i - 1], upper: i == keys.count ? nil : keys[i]) }
        let batch = 200
        for start in stride(from: 0, to: chunks.count, by: batch) {
            let slice = chunks[start..<min(start + batch, chunks.count)]
            let sql = slice.map { shape.checksumQuery(where: shape.range(lower: $0.lower?.literal, upper: $0.upper?.literal)) }.joined(separator: ";\n")
            let mine = try sourceSession.query(sql, what: "checksumming \(name) on the source")
            let theirs = try targetSession.query(sql, what: "checksumming \(name) on the target")
            guard mine.count == slice.count, theirs.count == slice.count else { throw StepError.target("checksumming \(name): \(mine.count) and \(theirs.count) answers for \(slice.count) chunks") }
            for (i, (a, b)) in zip(mine, theirs).enumerated() where a != b {
                let chunk = slice[slice.startIndex + i]
                let detail = a.first == b.first ? "the same \(a.first ?? "?") rows on both sides, with different values" : "source \(a.first ?? "?") rows, target \(b.first ?? "?") rows"
                return .differs(TableMismatch(table: name, range: shape.displayRange(lower: chunk.lower?.fields, upper: chunk.upper?.fields), detail: detail, position: position))
            }
        }
        return .equal
    }

    /// Settings both sides read with: the same time zone (TIMESTAMP values print alike), a
    /// plain SQL mode (quoted names and literals mean the same), sessions that outlive long reads.
    static let sessionSettings = "SET SESSION time_zone='+00:00', sql_mode='NO_ENGINE_SUBSTITUTION', wait_timeout=86400, net_read_timeout=3600, net_write_timeout=3600; "
        + "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"

    /// A snapshot on each side, both at the same GTID position: the target's replication
    /// stopped, the source's snapshot taken and its position read, the target run up to it
    /// and its snapshot taken, replication started again (an UNTIL never left in force).
    func openAtOnePosition() throws -> (MySQLSession, MySQLSession, String) {
        try target.run("STOP SLAVE", what: "holding replication on \(replication.targetName) to compare")
        paused(true)
        var held = true
        defer {
            // STOP first: a START SLAVE on a replica still running up to an UNTIL position would leave that limit in force.
            if held { try? target.run("STOP SLAVE; START SLAVE", what: "starting replication again on \(replication.targetName)") }
            paused(false)
        }
        let sourceSession = try MySQLSession(source)
        _ = try sourceSession.query(Self.sessionSettings + "; START TRANSACTION WITH CONSISTENT SNAPSHOT", what: "opening a snapshot on \(replication.sourceName)")
        let position = try sourceSession.query("""
            SELECT BINLOG_GTID_POS((SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'BINLOG_SNAPSHOT_FILE'),
                                   (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'BINLOG_SNAPSHOT_POSITION'))
            """, what: "reading the snapshot's GTID position on \(replication.sourceName)").first?.first ?? ""
        guard let wanted = GTIDPosition(position) else { throw StepError.target("\(replication.sourceName) named no GTID position for its snapshot (\"\(position.prefix(80))\")") }
        // Already there (the server runs no UNTIL that is met before it starts), else run up to it.
        let stoppedAt = GTIDPosition(try target.query("SELECT @@gtid_slave_pos").first?.first ?? "")
        let there = stoppedAt.map { wanted.transactionsAhead(of: $0) == 0 } ?? false
        if !there {
            try target.run("START SLAVE UNTIL master_gtid_pos = \(MySQLClient.quoteString(wanted.text))", what: "running \(replication.targetName) up to \(wanted.text)")
        }
        let deadline = Date().addingTimeInterval(TimeInterval(catchUpSeconds))
        while !there {
            let replica = try target.queryNamed("SHOW SLAVE STATUS", what: "reading the target's replication").first ?? [:]
            if let error = replica["Last_SQL_Error"], !error.isEmpty { throw StepError.target("replication on \(replication.targetName) is broken: \(error)") }
            if replica["Slave_SQL_Running"] == "No" { break }
            guard Date() < deadline else { throw StepError.target("\(replication.targetName) did not reach \(wanted.text) within \(catchUpSeconds) s to compare") }
            usleep(20_000)
        }
        let targetSession = try MySQLSession(target)
        let applied = try targetSession.query(Self.sessionSettings + "; START TRANSACTION WITH CONSISTENT SNAPSHOT; SELECT @@gtid_slave_pos",
                                               what: "opening a snapshot on \(replication.targetName)").first?.first ?? ""
        guard let at = GTIDPosition(applied), wanted.transactionsAhead(of: at) == 0, at.transactionsAhead(of: wanted) == 0 else {
            targetSession.close()
            sourceSession.close()
            throw StepError.target("\(replication.targetName) stopped at \(applied), not at the source's snapshot \(wanted.text); the comparison is tried again")
        }
        try target.run("STOP SLAVE; START SLAVE", what: "starting replication again on \(replication.targetName)")
        held = false
        return (sourceSession, targetSession, wanted.text)
    }
}

extension ReplicationVerifier {
    /// `table` compared, a table on one side only included.
    func compareOne(_ table: Table, databases: [String]) throws -> Outcome {
        let mine = try tables(source, databases), theirs = try tables(target, databases)
        switch (mine[table], theirs[table]) {
        case let (engine?, _?):
            return try compare(database: table.database, table: table.table, engine: engine)
        case (_?, nil):
            return .differs(TableMismatch(table: table.name, range: "the whole table", detail: "missing on the target", position: ""))
        case (nil, _?):
            return .differs(TableMismatch(table: table.name, range: "the whole table", detail: "on the target only, not on the source", position: ""))
        case (nil, nil):
            return .equal
        }
    }

    /// Verifies until `stop()`, in passes over every replicated table, each followed by a rest
    /// as long as the pass took (at least `minRestSeconds`, at most an hour: the source spends at
    /// most half its time on comparisons), each starting with the tables that differed (a table
    /// fixed on the target, or copied again, clears first). The state reads `verifying` until a
    /// whole pass has run since replication was last broken (`broken()`: an error since the last
    /// call; an event skipped by hand may have left a difference), then `verified` or `mismatch`;
    /// a difference found turns it to `mismatch` at once. A comparison that fails is tried again
    /// with the reason in `lastError`, and after `triesPerTable` the table is listed as not
    /// comparable; nothing is compared while replication is not `healthy()`.
    func run(state: Locked<ReplicationVerification>, healthy: @Sendable () -> Bool, broken: @Sendable () -> Bool = { false }, minRestSeconds: Int = 5,
             stop: @Sendable () -> Bool) {
        /// A whole pass ran since replication was last broken, and this one has seen no break.
        var settled = false, brokenDuringPass = false
        func noteBroken() {
            if broken() {
                settled = false
                brokenDuringPass = true
                state.withLock { if $0.state == .verified { $0.state = .verifying } }
            }
        }
        func waitHealthy() -> Bool {
            while !healthy() {
                noteBroken()
                if stop() { return false }
                sleep(1)
            }
            noteBroken()
            return !stop()
        }
        /// One table's outcome, tried until it is had (or `stop`).
        func outcome(_ table: Table, _ databases: [String]) -> Outcome? {
            var tries = 0
            while waitHealthy() {
                do {
                    let o = try compareOne(table, databases: databases)
                    state.withLock { $0.lastError = nil }
                    return o
                } catch {
                    tries += 1
                    state.withLock { $0.lastError = "\(table.name): \(error)" }
                    if tries >= triesPerTable { return .unverifiable("\(table.name): could not be compared after \(tries) tries (\(error))") }
                    sleep(5)
                }
            }
            return nil
        }
        func record(_ name: String, _ o: Outcome, into v: inout ReplicationVerification) {
            v.mismatches.removeAll { $0.table == name }
            v.unverified.removeAll { $0.hasPrefix(name + ":") }
            switch o {
            case .equal: break
            case .differs(let m): v.mismatches.append(m)
            case .unverifiable(let why): v.unverified.append(why)
            }
        }
        var passes = 0
        while waitHealthy() {
            let listed: (databases: [String], tables: [Table])
            do {
                let databases = try replicatedDatabases()
                guard !databases.isEmpty else { throw StepError.target("no database to compare: the target's replication filter is empty") }
                listed = (databases, Set(try tables(source, databases).keys).union(try tables(target, databases).keys).sorted())
            } catch {
                state.withLock { $0.lastError = "listing the tables: \(error)" }
                sleep(5)
                continue
            }
            let differed = Set(state.withLock { $0.mismatches.map(\.table) })
            let order = listed.tables.filter { differed.contains($0.name) } + listed.tables.filter { !differed.contains($0.name) }
            state.withLock {
                if passes == 0 { $0 = ReplicationVerification(state: .verifying, startedAt: Timestamps.format(Date())) }
                $0.tables = order.count
                $0.checked = 0
                // Tables gone from both sides since the last pass differ no more.
                $0.mismatches.removeAll { m in !order.contains { $0.name == m.table } }
            }
            let passStarted = Date()
            brokenDuringPass = false
            for table in order {
                state.withLock { $0.current = table.name }
                guard let o = outcome(table, listed.databases) else { return }
                state.withLock {
                    record(table.name, o, into: &$0)
                    $0.checked += 1
                    if !$0.mismatches.isEmpty { $0.state = .mismatch } else if settled { $0.state = .verified }
                }
            }
            passes += 1
            // A pass that saw replication break proves nothing about the tables it compared before: another one starts at once.
            settled = !brokenDuringPass
            state.withLock {
                $0.current = nil
                $0.state = !$0.mismatches.isEmpty ? .mismatch : (settled ? .verified : .verifying)
                $0.passes = passes
                $0.finishedAt = Timestamps.format(Date())
            }
            if !settled { continue }
            let rest = max(minRestSeconds, min(3600, Int(Date().timeIntervalSince(passStarted).rounded(.up))))
            for _ in 0..<rest where !stop() {
                noteBroken()
                sleep(1)
            }
        }
    }
}
