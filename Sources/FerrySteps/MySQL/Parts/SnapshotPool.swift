import Foundation

/// N connections that all read one consistent snapshot of the server: taken under a brief
/// `FLUSH TABLES WITH READ LOCK` on a further connection (each connection starts
/// `START TRANSACTION WITH CONSISTENT SNAPSHOT` while writes wait), with the binary log
/// position of that point, then the lock is released. With one connection no lock is needed.
/// Connections are borrowed one per part.
final class SnapshotPool: @unchecked Sendable {
    typealias Position = PackageManifest.MySQLSnapshot

    let position: Position
    private let idle: Locked<[WireConnection]>
    private let available: DispatchSemaphore
    private let all: [WireConnection]

    /// Opens `count` connections at one snapshot. Refuses, naming the privilege, when the lock
    /// several connections need cannot be taken.
    /// Rows as stored (no character set conversion), TIMESTAMPs in UTC as mysqldump writes them,
    /// string literals quoted the standard way whatever the server's sql_mode, idle connections
    /// kept through a long export.
    static let session = "SET NAMES binary; SET SESSION sql_mode = '', time_zone = '+00:00', net_write_timeout = 600, wait_timeout = 86400; "
        + "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"

    /// `lock`: take the global read lock even for one connection (the GTID position needs it).
    init(_ endpoint: MySQLEndpoint, count: Int, lock: Bool = false, say: (String) -> Void) throws {
        var connections: [WireConnection] = []
        for _ in 0..<max(1, count) { connections.append(try WireConnection(endpoint)) }
        for c in connections { try c.execute(Self.session) }
        var position = Position()
        if connections.count == 1 && !lock {
            try connections[0].execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            // MariaDB keeps the binlog position of a consistent snapshot without any lock.
            let rows = (try? connections[0].query("SHOW STATUS LIKE 'binlog_snapshot_%'")) ?? []
            for r in rows where r.count == 2 {
                if r[0] == "Binlog_snapshot_file", let v = r[1], !v.isEmpty { position.binlogFile = v }
                if r[0] == "Binlog_snapshot_position", let v = r[1] { position.binlogPosition = Int64(v) }
            }
        } else {
            let lock = try WireConnection(endpoint)
            defer { lock.close() }
            do {
                try lock.execute("SET SESSION lock_wait_timeout = 60")
                try lock.execute("FLUSH TABLES WITH READ LOCK")
            } catch {
                throw StepError.target("a parallel export (mysql.parallelism \(count)) holds FLUSH TABLES WITH READ LOCK for an instant so that its \(count) connections read one snapshot, and the server refused it (\(error)); grant the export's user RELOAD, or set mysql.parallelism: 1")
            }
            let started = Date()
            for c in connections { try c.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT") }
            position = Self.readPosition(lock)
            try lock.execute("UNLOCK TABLES")
            let held = Int(Date().timeIntervalSince(started) * 1000)
            say("snapshot taken on \(connections.count) connections, writes held for \(held) ms, at \(position.summary)")
        }
        self.position = position
        all = connections
        idle = Locked(connections)
        available = DispatchSemaphore(value: connections.count)
    }

    /// The server's binary log position (the caller holds the global read lock).
    static func readPosition(_ c: WireConnection) -> Position {
        var p = Position()
        if let row = (try? c.query("SHOW MASTER STATUS"))?.first, row.count >= 2 {
            p.binlogFile = row[0]
            p.binlogPosition = row[1].flatMap { Int64($0) }
        }
        if let g = (try? c.query("SELECT @@GLOBAL.gtid_binlog_pos"))?.first?.first {
            p.gtid = g
            // A replica applies changes its own binary log may not show (log_slave_updates off).
            p.replica = (try? c.query("SELECT @@GLOBAL.gtid_slave_pos"))?.first?.first ?? nil
        } else if let g = (try? c.query("SELECT @@GLOBAL.gtid_executed"))?.first?.first {
            p.gtid = g?.replacingOccurrences(of: "\n", with: "")
        }
        return p
    }

    /// Runs `body` on a connection of the snapshot (waits for one to be free).
    func with<T>(_ body: (WireConnection) throws -> T) throws -> T {
        available.wait()
        let c = idle.withLock { $0.removeLast() }
        defer {
            idle.withLock { $0.append(c) }
            available.signal()
        }
        return try body(c)
    }

    func close() {
        for c in all { c.close() }
    }
}
