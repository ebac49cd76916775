import FerryProtocol
import Foundation
import KubeClient

/// A way back after the cutover: the old server (`replication.source`) becomes a replica of the
/// new one (`replication.target`), from the new one's binary-log position at its promotion, for
/// the migrated databases. Going back is then a cutover in the other direction. Blocking.
extension Replication {
    /// The old server may replicate (rights to configure it), the new one writes a binary log
    /// under another server id: checked before anything is changed (with the snapshot).
    func checkReversible() throws {
        let grants = try source.query("SHOW GRANTS FOR CURRENT_USER()").compactMap(\.first)
        let missing = Self.missingRights(grants: grants, needed: [["REPLICATION SLAVE ADMIN", "SUPER"], ["SLAVE MONITOR", "REPLICA MONITOR", "SUPER"], ["RELOAD"]])
        guard missing.isEmpty else {
            throw StepError.configuration("reverse replication makes the old server a replica, and the source user \(source.endpoint.user) (spec.mysql.source.credentialsSecret) lacks \(missing.joined(separator: ", ")) ON *.*: "
                + "GRANT REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD ON *.* TO it, or set spec.mysql.cutover.reverseReplication: false. Nothing was changed")
        }
        guard let t = try target.query("SELECT @@log_bin, @@server_id").first, t.count == 2, let s = try source.query("SELECT @@server_id").first?.first else {
            throw StepError.target("\(targetName) did not answer SELECT @@log_bin")
        }
        guard t[0] == "1" else {
            throw StepError.configuration("reverse replication reads the new server's binary log, and \(targetName) has none (log_bin=OFF): start it with log-bin and binlog_format=ROW, "
                + "or set spec.mysql.cutover.reverseReplication: false. Nothing was changed")
        }
        guard t[1] != s else {
            throw StepError.configuration("\(targetName) and \(sourceName) share server_id \(s): replication between them needs different ones (server_id in the new server's config). Nothing was changed")
        }
    }

    /// The old server replicating the new one's writes from `from` (the new one's `gtid_binlog_pos`
    /// at its promotion) for `databases`, through `via` (how the old server reaches the new one),
    /// after the errant-transaction check: the old server may hold nothing the new one never applied.
    func startReverse(from position: String, databases: [String], via: (host: String, port: Int)) throws -> MySQLReverseResult {
        // Already set up by an earlier run: carried on, never rewound (a rewind would apply the new server's writes twice).
        if let replica = try source.queryNamed("SHOW SLAVE STATUS", what: "reading the old server's replication").first,
           replica["Master_Host"] == via.host, replica["Master_Port"] == String(via.port) {
            try source.run("SET GLOBAL read_only=1; START SLAVE", what: "starting reverse replication on \(sourceName)")
            try waitReplicating(via: via)
            return MySQLReverseResult(from: position, databases: databases, host: via.host, port: via.port)
        }
        // Errant transactions: anything in the old server's binary log that the new one has not (its own writes included).
        let oldPosition = try source.query("SELECT @@gtid_binlog_pos").first?.first ?? ""
        let known = try target.query("SELECT @@gtid_current_pos").first?.first ?? ""
        if let o = GTIDPosition(oldPosition), let k = GTIDPosition(known), o.transactionsAhead(of: k) > 0 {
            throw StepError.beforeChange(.configuration("\(sourceName) holds \(o.transactionsAhead(of: k)) transactions the new server never applied (old \(oldPosition), new \(known)): "
                + "written after it went read-only, by an admin? Replicating back would leave them behind; reverse replication is not set up. Nothing was changed"))
        }
        guard position.isEmpty || GTIDPosition(position) != nil else { throw StepError.configuration("\"\(position)\" is not a GTID position") }
        // A user on the new server with only REPLICATION SLAVE, a fresh password each time, kept out of its binary log.
        let password = Self.randomPassword()
        let user = "ferry_reverse"
        try target.run("""
            SET SESSION sql_log_bin=0;
            CREATE USER IF NOT EXISTS '\(user)'@'%' IDENTIFIED BY \(MySQLClient.quoteString(password));
            ALTER USER '\(user)'@'%' IDENTIFIED BY \(MySQLClient.quoteString(password));
            GRANT REPLICATION SLAVE ON *.* TO '\(user)'@'%';
            """, what: "creating the reverse-replication user on \(targetName)")
        // The old server stays read-only: only replication writes it (set read_only=1 in its config too: a restart forgets it).
        try source.run("""
            SET GLOBAL read_only=1;
            STOP ALL SLAVES;
            RESET SLAVE ALL;
            SET GLOBAL gtid_slave_pos=\(MySQLClient.quoteString(position));
            SET GLOBAL replicate_do_db=\(MySQLClient.quoteString(databases.joined(separator: ",")));
            CHANGE MASTER TO MASTER_HOST=\(MySQLClient.quoteString(via.host)), MASTER_PORT=\(via.port), MASTER_USER='\(user)',
              MASTER_PASSWORD=\(MySQLClient.quoteString(password)), MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
            START SLAVE;
            """, what: "making \(sourceName) a replica of the new server")
        try waitReplicating(via: via)
        return MySQLReverseResult(from: position, databases: databases, host: via.host, port: via.port)
    }

    /// Both threads of the old server's replication running within 30 s, else why not.
    private func waitReplicating(via: (host: String, port: Int)) throws {
        let started = Date()
        while true {
            let replica = try source.queryNamed("SHOW SLAVE STATUS", what: "reading the old server's replication").first ?? [:]
            if let e = replica["Last_SQL_Error"], !e.isEmpty { throw StepError.target("reverse replication on \(sourceName) is broken: \(e)") }
            if replica["Slave_IO_Running"] == "Yes" && replica["Slave_SQL_Running"] == "Yes" { return }
            if let e = replica["Last_IO_Error"], !e.isEmpty, Date().timeIntervalSince(started) > 5 {
                throw StepError.target("\(sourceName) cannot replicate from the new server at \(via.host):\(via.port) (spec.mysql.cutover.reverseHost/reversePort): \(e)")
            }
            guard Date().timeIntervalSince(started) < 30 else {
                throw StepError.target("\(sourceName) did not start replicating from \(via.host):\(via.port) within 30 s (IO \(replica["Slave_IO_Running"] ?? "?"), SQL \(replica["Slave_SQL_Running"] ?? "?"))")
            }
            usleep(200_000)
        }
    }

    static func randomPassword() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var g = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
    }
}
