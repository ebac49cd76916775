import Foundation

/// The real MariaDB, ClickHouse and Redis the data-plane tests use. `make test`
/// starts them once (scripts/with-test-servers.sh) and passes their ports in
/// FERRY_TEST_* variables; a bare `swift test` starts them on first use with
/// scripts/test-servers.sh and stops them when the test process exits.
public struct TestServers: Sendable {
    public var mysqlPort: Int
    public var clickhouseHTTP: Int
    public var clickhouseTCP: Int
    public var redisPort: Int
    public var redisPassword: String
    /// The Tansu Kafka-protocol broker (0 when not started).
    public var kafkaPort: Int = 0
    /// Brokers behind SASL (plaintext), TLS + SASL, and TLS that requires a client certificate (0 when not started).
    public var kafkaSASLPort: Int = 0
    public var kafkaTLSPort: Int = 0
    public var kafkaMTLSPort: Int = 0
    /// ca.crt, client.crt, client.key of the test CA.
    public var kafkaTLSDirectory: String = ""
    public var kafkaSASLUser: String = ""
    public var kafkaSASLPassword: String = ""

    public var clickhouseURL: String { "http://127.0.0.1:\(clickhouseHTTP)" }

    public init(mysqlPort: Int, clickhouseHTTP: Int, clickhouseTCP: Int, redisPort: Int, redisPassword: String) {
        self.mysqlPort = mysqlPort
        self.clickhouseHTTP = clickhouseHTTP
        self.clickhouseTCP = clickhouseTCP
        self.redisPort = redisPort
        self.redisPassword = redisPassword
    }

    /// The running servers (started on first call when the environment has none).
    public static func shared() async throws -> TestServers {
        try await starter.value
    }

    private static let starter = Task<TestServers, Error> {
        var env = ProcessInfo.processInfo.environment
        if env["FERRY_TEST_MYSQL_PORT"] == nil {
            let dir = NSTemporaryDirectory() + "ferry-servers-\(getpid())"
            let result = try await runCommand(repoRoot + "/scripts/test-servers.sh", ["up", dir], timeout: 120)
            guard result.status == 0 else { throw TestServersError.startFailed(result.combined) }
            for line in result.stdout.split(separator: "\n") where line.hasPrefix("export ") {
                for (key, value) in shellAssignments(String(line.dropFirst(7))) { env[key] = value }
            }
            stopDirectory = dir
            atexit {
                if let dir = stopDirectory { _ = system("'\(repoRoot)/scripts/test-servers.sh' down '\(dir)'") }
            }
        }
        func port(_ key: String) throws -> Int {
            guard let v = env[key], let n = Int(v) else { throw TestServersError.startFailed("no \(key)") }
            return n
        }
        var servers = TestServers(
            mysqlPort: try port("FERRY_TEST_MYSQL_PORT"),
            clickhouseHTTP: try port("FERRY_TEST_CLICKHOUSE_HTTP"),
            clickhouseTCP: try port("FERRY_TEST_CLICKHOUSE_TCP"),
            redisPort: try port("FERRY_TEST_REDIS_PORT"),
            redisPassword: env["FERRY_TEST_REDIS_PASSWORD"] ?? "redis pass")
        servers.kafkaPort = (try? port("FERRY_TEST_KAFKA_PORT")) ?? 0
        servers.kafkaSASLPort = (try? port("FERRY_TEST_KAFKA_SASL_PORT")) ?? 0
        servers.kafkaTLSPort = (try? port("FERRY_TEST_KAFKA_TLS_PORT")) ?? 0
        servers.kafkaMTLSPort = (try? port("FERRY_TEST_KAFKA_MTLS_PORT")) ?? 0
        servers.kafkaTLSDirectory = env["FERRY_TEST_KAFKA_TLS_DIR"] ?? ""
        servers.kafkaSASLUser = env["FERRY_TEST_KAFKA_SASL_USER"] ?? ""
        servers.kafkaSASLPassword = env["FERRY_TEST_KAFKA_SASL_PASSWORD"] ?? ""
        return servers
    }
}

/// `A=1 B='two words'` → [("A", "1"), ("B", "two words")] (single quotes as the script writes them).
func shellAssignments(_ text: String) -> [(String, String)] {
    var out: [(String, String)] = []
    var key = "", value = "", inKey = true, quoted = false
    func flush() {
        if !key.isEmpty { out.append((key, value)) }
        key = ""; value = ""; inKey = true
    }
    for c in text {
        if inKey {
            if c == "=" { inKey = false } else if c != " " { key.append(c) }
        } else if c == "'" {
            quoted.toggle()
        } else if c == " " && !quoted {
            flush()
        } else {
            value.append(c)
        }
    }
    flush()
    return out
}

nonisolated(unsafe) private var stopDirectory: String?

public enum TestServersError: Error, CustomStringConvertible {
    case startFailed(String)
    public var description: String {
        switch self {
        case .startFailed(let m): return "could not start the test servers (scripts/test-servers.sh; are mariadb-server, clickhouse-server and redis-server installed? scripts/install-servers.sh): \(m)"
        }
    }
}
