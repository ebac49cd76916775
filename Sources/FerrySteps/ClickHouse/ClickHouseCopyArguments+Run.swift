import FerryProtocol

extension ClickHouseCopyArguments {
    /// Checks the options, logs in to both servers with the mounted credentials, then copies the
    /// table (``PartitionCopy``).
    public func run(say: @escaping @Sendable (String) -> Void = { print($0) }) async throws -> ClickHouseCopyResult {
        guard concurrency >= 1 && concurrency <= 64 else { throw StepError.configuration("--concurrency must be between 1 and 64 (spec.clickhouse.copy.concurrency)") }
        guard rounds >= 1 && rounds <= 20 else { throw StepError.configuration("--rounds must be between 1 and 20") }
        let (database, name) = try ClickHouseRestore.split(table)
        let address = sourceAddress.split(separator: ":")
        guard address.count == 2, !address[0].isEmpty, address[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }), let port = Int(address[1]), (1...65535).contains(port) else {
            throw StepError.configuration("--source-address \"\(sourceAddress)\" must be host:port (the source's native port, as the target reaches it)")
        }
        let (sourceUser, sourcePassword) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_SOURCE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_SOURCE_PASSWORD",
                                                                 directory: sourceCredentialsDir, defaultUser: "default")
        let (user, password) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_PASSWORD", directory: credentialsDir, defaultUser: "default")
        let copy = PartitionCopy(source: try ClickHouseClient(ClickHouseEndpoint(url: sourceURL, user: sourceUser, password: sourcePassword)),
                                 target: try ClickHouseClient(ClickHouseEndpoint(url: url, user: user, password: password)),
                                 remoteAddress: sourceAddress, remoteUser: sourceUser, remotePassword: sourcePassword, database: database, table: name,
                                 concurrency: concurrency, rounds: rounds, say: say)
        do {
            try await copy.source.ping()
        } catch {
            throw StepError.beforeChange(.target("the source ClickHouse at \(sourceURL) does not answer (\(error)); check the address and the credentials (spec.clickhouse.copy.source)"))
        }
        return try await copy.run()
    }
}
