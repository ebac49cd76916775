import FerryProtocol
import Foundation
import ProcessSpawn

/// The `cache` step: empties the Redis cache so the restored application
/// does not serve entries from before the move. `FLUSHALL`, or `SELECT n` +
/// `FLUSHDB` when one database is named; then checks the keys are gone.
public struct CacheFlush: Sendable {

    public let endpoint: RedisEndpoint
    /// nil → every database.
    public let database: Int?

    public init(endpoint: RedisEndpoint, database: Int? = nil) {
        self.endpoint = endpoint
        self.database = database
    }

    public func run() async throws -> CacheResult {
        try await ProcessSpawn.onThread { try self.runBlocking() }
    }

    public func runBlocking() throws -> CacheResult {
        let started = Date()
        let redis = try RedisClient(endpoint)
        let keysBefore = try keys(redis)
        let command: String
        if let database {
            guard database >= 0 else { throw StepError.configuration("spec.redis.database must be 0 or more (got \(database))") }
            try expectOK(redis.command([String(database)], name: "SELECT"), "SELECT \(database)")
            try expectOK(redis.command([], name: "FLUSHDB"), "FLUSHDB")
            command = "FLUSHDB (db \(database))"
        } else {
            try expectOK(redis.command([], name: "FLUSHALL"), "FLUSHALL")
            command = "FLUSHALL"
        }
        let keysAfter = try keys(redis)
        guard keysAfter == 0 else {
            throw StepError.verification("Redis still holds \(keysAfter) keys after \(command) (is something writing to it? the workloads should be stopped or just restarted)")
        }
        let seconds = Date().timeIntervalSince(started)
        return CacheResult(command: command, keysBefore: keysBefore, keysAfter: keysAfter, seconds: (seconds * 1000).rounded() / 1000)
    }

    /// Keys in the flushed scope: DBSIZE of the one database, or the sum over `INFO keyspace`.
    private func keys(_ redis: RedisClient) throws -> Int {
        if let database {
            try expectOK(redis.command([String(database)], name: "SELECT"), "SELECT \(database)")
            guard case .integer(let n) = try redis.command([], name: "DBSIZE") else { return 0 }
            return n
        }
        guard let info = try redis.command(["keyspace"], name: "INFO").text else { return 0 }
        return Self.keysInKeyspace(info)
    }

    /// Sums `keys=N` over the `dbX:keys=N,expires=…` lines of `INFO keyspace`.
    static func keysInKeyspace(_ info: String) -> Int {
        info.split(whereSeparator: \.isNewline).reduce(0) { sum, line in
            guard line.hasPrefix("db"), let r = line.range(of: "keys=") else { return sum }
            return sum + (Int(line[r.upperBound...].prefix { $0.isNumber }) ?? 0)
        }
    }

    private func expectOK(_ reply: RESPValue, _ what: String) throws {
        if case .error(let e) = reply {
            throw StepError.target("Redis at \(endpoint.host):\(endpoint.port) refused \(what): \(e)")
        }
    }
}
