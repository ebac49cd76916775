import Foundation
import FerrySteps
import KubeClient
import Testing
import TestSupport

/// `ferry restore cache` against a real Redis with a password.
@Suite("ferry restore cache against Redis", .timeLimit(.minutes(3)))
struct CacheFlushTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    static func redis(_ servers: TestServers) throws -> RedisClient {
        try RedisClient(RedisEndpoint(host: "127.0.0.1", port: servers.redisPort, password: servers.redisPassword))
    }

    /// Keys in db 0..2; returns DBSIZE of each.
    static func sizes(_ servers: TestServers) throws -> [Int] {
        let r = try redis(servers)
        return try (0..<3).map { db in
            try r.command([String(db)], name: "SELECT")
            guard case .integer(let n) = try r.command([], name: "DBSIZE") else { return -1 }
            return n
        }
    }

    static func fill(_ servers: TestServers) throws {
        let r = try redis(servers)
        for db in 0..<3 {
            try r.command([String(db)], name: "SELECT")
            for i in 0..<(10 * (db + 1)) { try r.command(["cache:\(i)", "value with spaces\r\n\(i)"], name: "SET") }
        }
    }

    static func flush(_ servers: TestServers, extra: [String], credentials: String?) async throws -> (Int32, JSONValue, String) {
        let dir = try makeTempDir("result")
        var args = ["restore", "cache", "--host", "127.0.0.1", "--port", "\(servers.redisPort)", "--result-file", dir + "/result.json"] + extra
        if let credentials {
            let secret = try makeTempDir("secret")
            try Data(credentials.utf8).write(to: URL(fileURLWithPath: secret + "/password"))
            args += ["--credentials-dir", secret]
        }
        let r = try await runCommand(ferry, args, timeout: 60)
        let json = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: dir + "/result.json"))) ?? Data()))) ?? .null
        return (r.status, json, r.combined)
    }

    // One test: the cases share one Redis server, so they run in order.
    @Test("FLUSHDB of one database leaves the others; FLUSHALL empties all; a wrong or missing password fails naming the Secret and flushes nothing; the password never shows in output")
    func flushes() async throws {
        let servers = try await TestServers.shared()
        try Self.fill(servers)
        #expect(try Self.sizes(servers) == [10, 20, 30])

        var (status, json, output) = try await Self.flush(servers, extra: [], credentials: "wrong password\n")
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("refused the password from the credentials Secret") == true, "\(json)")
        #expect(!output.contains("wrong password"))
        (status, json, _) = try await Self.flush(servers, extra: [], credentials: nil)
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("spec.redis.credentialsSecret") == true, "\(json)")
        #expect(try Self.sizes(servers) == [10, 20, 30])

        (status, json, output) = try await Self.flush(servers, extra: ["--database", "1"], credentials: servers.redisPassword + "\n")
        #expect(status == 0, "\(output)")
        #expect(json["result"]?["command"]?.stringValue == "FLUSHDB (db 1)")
        #expect(json["result"]?["keysBefore"]?.intValue == 20)
        #expect(try Self.sizes(servers) == [10, 0, 30])
        #expect(!output.contains(servers.redisPassword))

        (status, json, output) = try await Self.flush(servers, extra: [], credentials: servers.redisPassword)
        #expect(status == 0, "\(output)")
        #expect(json["result"]?["command"]?.stringValue == "FLUSHALL")
        #expect(json["result"]?["keysBefore"]?.intValue == 40)
        #expect(try Self.sizes(servers) == [0, 0, 0])
    }

    @Test("an unreachable Redis fails with a message naming host and port")
    func unreachable() async throws {
        let (status, json, _) = try await Self.flush(
            TestServers(mysqlPort: 1, clickhouseHTTP: 1, clickhouseTCP: 1, redisPort: 1, redisPassword: ""), extra: [], credentials: nil)
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("Redis (spec.redis) at 127.0.0.1:1 is not reachable") == true, "\(json)")
    }
}
