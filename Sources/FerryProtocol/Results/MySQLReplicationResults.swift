import Foundation

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

    public init(sourcePosition: String, appliedPosition: String, transactionsBehind: Int64, secondsBehind: Int? = nil, ioRunning: Bool, sqlRunning: Bool, lastError: String? = nil) {
        self.sourcePosition = sourcePosition
        self.appliedPosition = appliedPosition
        self.transactionsBehind = transactionsBehind
        self.secondsBehind = secondsBehind
        self.ioRunning = ioRunning
        self.sqlRunning = sqlRunning
        self.lastError = lastError
    }
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

    public init(sourcePosition: String, readOnlyAt: String, promotedAt: String, waitedSeconds: Double, writers: [String] = [], killed: [String] = [], alreadyPromoted: Bool = false) {
        self.sourcePosition = sourcePosition
        self.readOnlyAt = readOnlyAt
        self.promotedAt = promotedAt
        self.waitedSeconds = waitedSeconds
        self.writers = writers
        self.killed = killed
        self.alreadyPromoted = alreadyPromoted
    }
}

extension MySQLCutoverResult: StepResult {
    public var summary: String {
        alreadyPromoted ? "the target was promoted by an earlier run" : "target promoted at \(sourcePosition) after \(waitedSeconds) s of catching up"
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
