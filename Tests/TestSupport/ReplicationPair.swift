import Foundation

/// Two MariaDB servers with binary logs and GTIDs (server ids 1 and 2), for replication tests:
/// started once per test process with scripts/test-servers.sh (ONLY=mysql MY_BINLOG=1), stopped
/// by PID when it exits. Tests that share them reset replication first (``sql(_:_:)``).
public struct ReplicationPair: Sendable {
    public var sourcePort: Int
    public var targetPort: Int

    public static func shared() async throws -> ReplicationPair { try await starter.value }

    private static let starter = Task<ReplicationPair, Error> {
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
