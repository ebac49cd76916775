import FerryProtocol

extension CacheArguments {
    /// Flushes the cache with the mounted password (``CacheFlush``).
    public func run() async throws -> CacheResult {
        if let dir = credentialsDir, Credentials.optional(env: "FERRY_REDIS_PASSWORD", file: "password", directory: dir) == nil {
            throw StepError.configuration(Credentials.missingKeys(["password"], in: dir))
        }
        let endpoint = RedisEndpoint(
            host: host, port: port,
            username: Credentials.optional(env: "FERRY_REDIS_USERNAME", file: "username", directory: credentialsDir),
            password: Credentials.optional(env: "FERRY_REDIS_PASSWORD", file: "password", directory: credentialsDir))
        return try await CacheFlush(endpoint: endpoint, database: database).run()
    }
}
