import Foundation
import ProcessSpawn

/// Two ClickHouse servers (source and target) for copy tests: the ones scripts/with-test-servers.sh
/// started (FERRY_TEST_CH_PAIR_*), else started once per test process with scripts/test-servers.sh
/// (ONLY=clickhouse) and stopped by PID when it exits. Tests take turns (``exclusive(_:)``).
public struct ClickHousePair: Sendable {
    public var sourceHTTP: Int
    public var sourceTCP: Int
    public var targetHTTP: Int
    public var targetTCP: Int

    public static func shared() async throws -> ClickHousePair { try await starter.value }

    public static func exclusive<T>(_ body: (ClickHousePair) async throws -> T) async throws -> T {
        let pair = try await shared()
        return try await turn.holding { try await body(pair) }
    }

    private static let turn = AsyncSemaphore(1)

    private static let starter = Task<ClickHousePair, Error> {
        let env = ProcessInfo.processInfo.environment
        if let a = env["FERRY_TEST_CH_PAIR_SOURCE"], let b = env["FERRY_TEST_CH_PAIR_TARGET"] {
            let s = a.split(separator: ":").compactMap { Int($0) }, t = b.split(separator: ":").compactMap { Int($0) }
            if s.count == 2, t.count == 2 { return ClickHousePair(sourceHTTP: s[0], sourceTCP: s[1], targetHTTP: t[0], targetTCP: t[1]) }
        }
        var found: [(Int, Int)] = []
        for (i, base) in [(28223, 29100), (28323, 29200)].enumerated() {
            let dir = NSTemporaryDirectory() + "ferry-ch-pair-\(getpid())-\(i)"
            // The source has a cluster "source" of itself, for Distributed tables.
            let cluster = i == 0 ? ["CH_EXTRA_CONFIG=<remote_servers><source><shard><replica><host>127.0.0.1</host><port>@TCP@</port></replica></shard></source></remote_servers>"] : []
            let result = try await runCommand("/usr/bin/env", cluster + ["ONLY=clickhouse", "CH_HTTP=\(base.0)", "CH_TCP=\(base.1)", repoRoot + "/scripts/test-servers.sh", "up", dir], timeout: 120)
            guard result.status == 0 else { throw TestServersError.startFailed(result.combined) }
            guard let line = result.stdout.split(separator: "\n").first(where: { $0.contains("FERRY_TEST_CLICKHOUSE_HTTP=") }) else {
                throw TestServersError.startFailed("no FERRY_TEST_CLICKHOUSE_HTTP in \(result.stdout)")
            }
            let vars = Dictionary(shellAssignments(String(line.dropFirst(line.hasPrefix("export ") ? 7 : 0))), uniquingKeysWith: { a, _ in a })
            guard let http = vars["FERRY_TEST_CLICKHOUSE_HTTP"].flatMap({ Int($0) }), let tcp = vars["FERRY_TEST_CLICKHOUSE_TCP"].flatMap({ Int($0) }) else {
                throw TestServersError.startFailed("no ports in \(line)")
            }
            found.append((http, tcp))
            clickHouseDirectories.append(dir)
        }
        atexit {
            for dir in clickHouseDirectories { _ = system("'\(repoRoot)/scripts/test-servers.sh' down '\(dir)' >/dev/null 2>&1") }
        }
        return ClickHousePair(sourceHTTP: found[0].0, sourceTCP: found[0].1, targetHTTP: found[1].0, targetTCP: found[1].1)
    }

    /// Runs SQL on the server at `http` (as default); the output (TabSeparated).
    @discardableResult
    public func sql(_ http: Int, _ query: String) async throws -> String {
        let r = try await runCommand("/usr/bin/curl", ["-sS", "--fail-with-body", "--data-binary", "@-", "http://127.0.0.1:\(http)/"], input: query)
        guard r.status == 0 else { throw ClickHousePairError(message: "ClickHouse on \(http) failed: \(r.stdout) \(r.stderr)\n\(query)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

nonisolated(unsafe) private var clickHouseDirectories: [String] = []

public struct ClickHousePairError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A ZooKeeper and two ClickHouse servers that are replicas of one shard of cluster `target`
/// (macros shard=01, replica=a/b; distributed DDL on): the target of the engine-rewrite tests.
/// The ones scripts/with-test-servers.sh started (FERRY_TEST_CH_REPLICAS), else started once per
/// test process (`ONLY=replicas`) and stopped by PID when it exits. Taken with the pair's turn.
public struct ClickHouseReplicas: Sendable {
    public var a: (http: Int, tcp: Int)
    public var b: (http: Int, tcp: Int)
    public var zookeeperPort: Int

    public static func shared() async throws -> ClickHouseReplicas { try await starter.value }

    private static let starter = Task<ClickHouseReplicas, Error> {
        let env = ProcessInfo.processInfo.environment
        func parse(_ replicas: String, _ zk: String) -> ClickHouseReplicas? {
            let r = replicas.split(separator: ",").map { $0.split(separator: ":").compactMap { Int($0) } }
            guard r.count == 2, r.allSatisfy({ $0.count == 2 }), let z = Int(zk) else { return nil }
            return ClickHouseReplicas(a: (r[0][0], r[0][1]), b: (r[1][0], r[1][1]), zookeeperPort: z)
        }
        if let r = env["FERRY_TEST_CH_REPLICAS"], let z = env["FERRY_TEST_ZK_PORT"], let found = parse(r, z) { return found }
        let dir = NSTemporaryDirectory() + "ferry-ch-replicas-\(getpid())"
        let result = try await runCommand("/usr/bin/env", ["ONLY=replicas", repoRoot + "/scripts/test-servers.sh", "up", dir], timeout: 180)
        guard result.status == 0 else { throw TestServersError.startFailed(result.combined) }
        let vars = Dictionary(shellAssignments(String(result.stdout.split(separator: "\n").last { $0.contains("FERRY_TEST_CH_REPLICAS=") }?.dropFirst(7) ?? "")),
                              uniquingKeysWith: { a, _ in a })
        guard let found = parse(vars["FERRY_TEST_CH_REPLICAS"] ?? "", vars["FERRY_TEST_ZK_PORT"] ?? "") else { throw TestServersError.startFailed("no replicas in \(result.stdout)") }
        replicaDirectory = dir
        atexit {
            if let dir = replicaDirectory { _ = system("'\(repoRoot)/scripts/test-servers.sh' down '\(dir)' >/dev/null 2>&1") }
        }
        return found
    }
}

nonisolated(unsafe) private var replicaDirectory: String?
