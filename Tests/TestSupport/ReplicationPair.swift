import Foundation
import ProcessSpawn

/// Two MariaDB servers with binary logs and GTIDs (server ids 1 and 2), for replication tests:
/// the ones scripts/with-test-servers.sh started (FERRY_TEST_REPL_*_PORT), else started once per
/// test process with scripts/test-servers.sh (ONLY=mysql MY_BINLOG=1) and stopped by PID when it exits. Tests that share them reset replication first (``sql(_:_:)``).
public struct ReplicationPair: Sendable {
    public var sourcePort: Int
    public var targetPort: Int

    public static func shared() async throws -> ReplicationPair { try await starter.value }

    /// Runs `body` with the pair to itself: tests in different suites (which run in parallel)
    /// take turns, since each resets both servers.
    public static func exclusive<T>(_ body: (ReplicationPair) async throws -> T) async throws -> T {
        let pair = try await shared()
        return try await turn.holding {
            try await pair.reset()
            return try await body(pair)
        }
    }

    private static let turn = AsyncSemaphore(1)

    private static let starter = Task<ReplicationPair, Error> {
        // Under `make test` (scripts/with-test-servers.sh) the pair is up already and stopped by the script.
        let env = ProcessInfo.processInfo.environment
        if let s = env["FERRY_TEST_REPL_SOURCE_PORT"].flatMap(Int.init), let t = env["FERRY_TEST_REPL_TARGET_PORT"].flatMap(Int.init) {
            return ReplicationPair(sourcePort: s, targetPort: t)
        }
        var ports: [Int] = []
        for (i, base) in [24306, 24406].enumerated() {
            let dir = NSTemporaryDirectory() + "ferry-replication-\(getpid())-\(i)"
            let result = try await runCommand("/usr/bin/env", ["ONLY=mysql", "MY_BINLOG=1", "MY_SERVER_ID=\(i + 1)", "MY_BUFFER_POOL=64M", "MY_PORT=\(base)",
                                                               repoRoot + "/scripts/test-servers.sh", "up", dir], timeout: 120)
            guard result.status == 0 else { throw TestServersError.startFailed(result.combined) }
            guard let line = result.stdout.split(separator: "\n").first(where: { $0.contains("FERRY_TEST_MYSQL_PORT=") }),
                  let port = shellAssignments(String(line.dropFirst(line.hasPrefix("export ") ? 7 : 0))).first(where: { $0.0 == "FERRY_TEST_MYSQL_PORT" }).flatMap({ Int($0.1) }) else {
                throw TestServersError.startFailed("no FERRY_TEST_MYSQL_PORT in \(result.stdout)")
            }
            ports.append(port)
            replicationDirectories.append(dir)
        }
        atexit {
            for dir in replicationDirectories { _ = system("'\(repoRoot)/scripts/test-servers.sh' down '\(dir)' >/dev/null 2>&1") }
        }
        return ReplicationPair(sourcePort: ports[0], targetPort: ports[1])
    }

    /// Runs SQL as root on the server at `port`; the output (batch, no column names).
    @discardableResult
    public func sql(_ port: Int, _ script: String, user: String = "root", password: String = "") async throws -> String {
        let r = try await runCommand("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(port)", "-u\(user)", "--batch", "--skip-column-names"]
                                     + (password.isEmpty ? [] : ["--password=\(password)"]), input: script)
        guard r.status == 0 else { throw ReplicationPairError(message: "SQL on \(port) failed: \(r.stderr.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined(separator: " "))\n\(script)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Both servers back to a blank state: no replication, both writable, empty binary logs.
    public func reset() async throws {
        try await sql(targetPort, "STOP ALL SLAVES; RESET SLAVE ALL; SET GLOBAL replicate_do_db=''; SET GLOBAL read_only=0; RESET MASTER; SET GLOBAL gtid_slave_pos='';")
        try await sql(sourcePort, "SET GLOBAL read_only=0; RESET MASTER;")
    }
}

nonisolated(unsafe) private var replicationDirectories: [String] = []

public struct ReplicationPairError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension ReplicationPair {
    /// A database `db` with table `t` of `rows` rows on the source, a replication user `repl`
    /// (password `repl pass`) with `grants`, and a non-admin application user `app` (password `app`).
    public func makeSource(_ db: String, rows: Int, grants: String = "REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN") async throws {
        try await sql(sourcePort, """
            CREATE DATABASE \(db); CREATE TABLE \(db).t (id INT PRIMARY KEY, v VARCHAR(40));
            INSERT INTO \(db).t SELECT seq, CONCAT('row ', seq) FROM \(db).seq_1_to_\(rows);
            CREATE USER IF NOT EXISTS repl@'%' IDENTIFIED BY 'repl pass'; REVOKE ALL PRIVILEGES, GRANT OPTION FROM repl@'%'; GRANT \(grants) ON *.* TO repl@'%';
            CREATE USER IF NOT EXISTS app@'%' IDENTIFIED BY 'app'; GRANT SELECT, INSERT, UPDATE, DELETE ON \(db).* TO app@'%';
            """)
    }

    public func checksum(_ port: Int, _ db: String) async throws -> String {
        try await sql(port, "CHECKSUM TABLE \(db).t").split(separator: "\t").last.map(String.init) ?? ""
    }
}

/// The application writing to the source as the non-admin user `app`: inserts, updates and
/// deletes, each followed by a read that prints an acknowledgement only if it committed.
public struct SQLWriter: Sendable {
    public let pid: pid_t
    public let directory: String

    public static func start(port: Int, db: String, statements: Int = 1500, pauseSeconds: Double = 0.003, firstID: Int = 100_000) throws -> SQLWriter {
        var script = ""
        for i in 1...statements {
            let id = firstID + i
            script += "INSERT INTO t VALUES (\(id), 'w\(i)'); SELECT CONCAT('ins ', id) FROM t WHERE id = \(id);\n"
            if i % 3 == 0 { script += "UPDATE t SET v = 'u\(i)' WHERE id = \(i); SELECT CONCAT('upd ', id) FROM t WHERE id = \(i) AND v = 'u\(i)';\n" }
            if i % 5 == 0 { script += "DELETE FROM t WHERE id = \(id - 2); SELECT 'del \(id - 2)' FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = \(id - 2));\n" }
            script += "DO SLEEP(\(pauseSeconds));\n"
        }
        let dir = try makeTempDir("writer")
        try Data(script.utf8).write(to: URL(fileURLWithPath: dir + "/in.sql"))
        let pid = try ProcessSpawn.spawn("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(port)", "-uapp", "--password=app", "--force", "--batch", "--skip-column-names", db],
                                         environment: ["PATH": "/usr/bin:/bin"],
                                         fileActions: [.open(0, path: dir + "/in.sql", flags: O_RDONLY, mode: 0), .open(1, path: dir + "/out", flags: O_WRONLY | O_CREAT, mode: 0o600),
                                                       .open(2, path: dir + "/err", flags: O_WRONLY | O_CREAT, mode: 0o600)])
        return SQLWriter(pid: pid, directory: dir)
    }

    public var acknowledged: [String] { ((try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    public var errors: String { (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? "" }
    public var inserted: [String] { acknowledged.filter { $0.hasPrefix("ins ") }.map { String($0.dropFirst(4)) } }
    public var deleted: [String] { acknowledged.filter { $0.hasPrefix("del ") }.map { String($0.dropFirst(4)) } }

    public func wait() async { _ = try? await ProcessSpawn.onThread { ProcessSpawn.waitStatus(pid) } }
    public func stop() { kill(pid, SIGKILL) }
}
