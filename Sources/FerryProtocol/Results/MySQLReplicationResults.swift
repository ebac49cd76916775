import Foundation

/// What `mysql reverse` reports: the old server replicates from the new one.
public struct MySQLReverseResult: Codable, Sendable, Equatable {
    /// The new server's binary-log position it starts from.
    public var from: String
    public var databases: [String]
    /// How the old server reaches the new one.
    public var host: String
    public var port: Int

    public init(from: String, databases: [String], host: String, port: Int) {
        self.from = from
        self.databases = databases
        self.host = host
        self.port = port
    }
}

extension MySQLReverseResult: StepResult {
    public var summary: String { "the old server replicates \(databases.joined(separator: ", ")) from \(host):\(port) from \(from.isEmpty ? "the start" : from) on" }
}

/// What `mysql snapshot` reports: the databases restored and the GTID position the target
/// replicates from.
public struct MySQLSnapshotResult: Codable, Sendable, Equatable {
    public var gtidPosition: String
    public var databases: [MySQLResult]
    public var seconds: Double

    public init(gtidPosition: String, databases: [MySQLResult], seconds: Double) {
        self.gtidPosition = gtidPosition
        self.databases = databases
        self.seconds = seconds
    }
}

extension MySQLSnapshotResult: StepResult {
    public var summary: String {
        "\(databases.count) databases, rows \(databases.map(\.rows).reduce(0, +)); replicating from \(gtidPosition)"
    }
}

/// What `mysql status` reports: the target's replication against the source.
public struct ReplicationStatus: Codable, Sendable, Equatable {
    /// The source's `gtid_binlog_pos`.
    public var sourcePosition: String
    /// The target's `gtid_slave_pos`.
    public var appliedPosition: String
    /// Transactions the target has still to apply (the GTID difference).
    public var transactionsBehind: Int64
    /// `Seconds_Behind_Master`; nil while the SQL thread is not running.
    public var secondsBehind: Int?
    public var ioRunning: Bool
    public var sqlRunning: Bool
    /// `Last_SQL_Error` or `Last_IO_Error` (the SQL error names the table).
    public var lastError: String?
    /// The monitor holds replication stopped at a known position to compare a table (threads stopped on purpose).
    public var pausedToVerify: Bool?
    /// How the comparison of source and target stands.
    public var verification: ReplicationVerification?

    public init(sourcePosition: String, appliedPosition: String, transactionsBehind: Int64, secondsBehind: Int? = nil, ioRunning: Bool, sqlRunning: Bool, lastError: String? = nil,
                pausedToVerify: Bool? = nil, verification: ReplicationVerification? = nil) {
        self.sourcePosition = sourcePosition
        self.appliedPosition = appliedPosition
        self.transactionsBehind = transactionsBehind
        self.secondsBehind = secondsBehind
        self.ioRunning = ioRunning
        self.sqlRunning = sqlRunning
        self.lastError = lastError
        self.pausedToVerify = pausedToVerify
        self.verification = verification
    }
}

/// Verify while running: every table compared on both sides in primary-key chunks, each table
/// at one GTID position (the target's replication stopped there, both sides read at it).
public struct ReplicationVerification: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        /// Not started: replication is not healthy yet.
        case waiting
        case verifying
        /// Every table compared equal (those that cannot be compared are listed in `unverified`).
        case verified
        /// At least one table differs: the cutover is refused until it compares equal again.
        case mismatch
    }

    public var state: State
    /// Tables to compare, and those compared so far in the current pass.
    public var tables: Int
    public var checked: Int
    public var mismatches: [TableMismatch]
    /// Tables that cannot be compared while the source takes writes, with why (e.g. `shop.log: engine MyISAM is not transactional`).
    public var unverified: [String]
    /// The table being compared.
    public var current: String?
    /// Why the last comparison could not be made (it is tried again).
    public var lastError: String?
    /// Passes over every table completed (they repeat until the cutover).
    public var passes: Int?
    public var startedAt: String?
    public var finishedAt: String?

    public init(state: State = .waiting, tables: Int = 0, checked: Int = 0, mismatches: [TableMismatch] = [], unverified: [String] = [], current: String? = nil,
                lastError: String? = nil, startedAt: String? = nil, finishedAt: String? = nil) {
        self.state = state
        self.tables = tables
        self.checked = checked
        self.mismatches = mismatches
        self.unverified = unverified
        self.current = current
        self.lastError = lastError
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// `verified`, `verifying 3/12`, `1 table differs`, `waiting to verify`.
    public var short: String {
        switch state {
        case .waiting: "waiting to verify"
        case .verifying: "verifying \(checked)/\(tables)"
        case .verified: unverified.isEmpty ? "verified" : "verified (\(unverified.count) not comparable)"
        case .mismatch: mismatches.count == 1 ? "1 table differs" : "\(mismatches.count) tables differ"
        }
    }
}

/// A table that differs between source and target, at one GTID position.
public struct TableMismatch: Codable, Sendable, Hashable {
    /// `db.table`.
    public var table: String
    /// The first differing key range, e.g. `key [1000, 2000)`, or `the whole table`.
    public var range: String
    /// What differs there: row counts, or the same count with different rows; a missing table; other columns.
    public var detail: String
    /// The GTID position both sides were read at.
    public var position: String

    public init(table: String, range: String, detail: String, position: String) {
        self.table = table
        self.range = range
        self.detail = detail
        self.position = position
    }

    public var text: String { "\(table) \(range): \(detail)" }
}

extension ReplicationStatus: StepResult {
    public var summary: String {
        if let lastError { return "replication broken: \(lastError)" }
        return "lag \(secondsBehind.map { "\($0)s" } ?? "?"), \(transactionsBehind) transactions behind"
    }
}

/// What `mysql cutover` reports.
public struct MySQLCutoverResult: Codable, Sendable, Equatable {
    /// The source's last position, which the target applied before it was promoted.
    public var sourcePosition: String
    /// When the source stopped taking writes (RFC 3339): where downtime starts.
    public var readOnlyAt: String
    public var promotedAt: String
    /// How long the target took to apply the source's last transactions.
    public var waitedSeconds: Double
    /// Connections on the source that still held write transactions (`id user@host db`).
    public var writers: [String]
    /// Of those, the ones killed (`killWriters`).
    public var killed: [String]
    /// An earlier run had promoted the target already.
    public var alreadyPromoted: Bool
    /// An earlier run had set the source read-only and ended before the target was promoted; this
    /// one finished it (downtime started with that run, before `readOnlyAt`).
    public var resumed: Bool?
    /// The target's `gtid_binlog_pos` as it was promoted: where reverse replication starts.
    public var targetPosition: String?
    /// The databases it replicated (its replication filter).
    public var databases: [String]?

    public init(sourcePosition: String, readOnlyAt: String, promotedAt: String, waitedSeconds: Double, writers: [String] = [], killed: [String] = [], alreadyPromoted: Bool = false,
                resumed: Bool = false) {
        self.sourcePosition = sourcePosition
        self.readOnlyAt = readOnlyAt
        self.promotedAt = promotedAt
        self.waitedSeconds = waitedSeconds
        self.writers = writers
        self.killed = killed
        self.alreadyPromoted = alreadyPromoted
        self.resumed = resumed ? true : nil
    }
}

extension MySQLCutoverResult: StepResult {
    public var summary: String {
        alreadyPromoted ? "the target was promoted by an earlier run"
            : "target promoted at \(sourcePosition) after \(waitedSeconds) s of catching up\(resumed == true ? " (carrying on from an earlier run that set the source read-only)" : "")"
    }
}

extension ReplicationStatus {
    static let logPrefix = "replication "

    /// `replication <RFC 3339 time> {json}`: one look, as the monitor prints it.
    public static func logLine(_ status: ReplicationStatus, at time: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return logPrefix + time + " " + ((try? encoder.encode(status)).map { String(decoding: $0, as: UTF8.self) } ?? "{}")
    }

    /// The newest look in a monitor's output, and when it was taken.
    public static func lastLook(inLog log: String) -> (status: ReplicationStatus, at: String)? {
        for line in log.split(separator: "\n").reversed() where line.hasPrefix(logPrefix) {
            let rest = line.dropFirst(logPrefix.count)
            guard let space = rest.firstIndex(of: " ") else { continue }
            if let status = try? JSONDecoder().decode(ReplicationStatus.self, from: Data(rest[rest.index(after: space)...].utf8)) {
                return (status, String(rest[..<space]))
            }
        }
        return nil
    }
}
