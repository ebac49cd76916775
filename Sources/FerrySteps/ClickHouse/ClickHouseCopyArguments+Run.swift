import FerryProtocol

extension ClickHouseCopyArguments {
    /// Checks the options, logs in to both servers with the mounted credentials, then copies the
    /// table (``PartitionCopy``).
    public func run(say: @escaping @Sendable (String) -> Void = { print($0) }) async throws -> ClickHouseCopyResult {
        guard concurrency >= 1 && concurrency <= 64 else { throw StepError.configuration("--concurrency must be between 1 and 64 (spec.clickhouse.copy.concurrency)") }
        guard rounds >= 1 && rounds <= 20 else { throw StepError.configuration("--rounds must be between 1 and 20") }
        if splitMinRows > 0 {
            guard splitPieces >= 2 && splitPieces <= 256 else { throw StepError.configuration("--split-pieces must be between 2 and 256 (spec.clickhouse.copy.split.pieces)") }
            guard !splitBy.isEmpty, splitBy.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
                throw StepError.configuration("--split-by must name columns (letters, digits, _) to cut big partitions by (spec.clickhouse.copy.split.by)")
            }
        }
        let (database, name) = try ClickHouseRestore.split(table)
        if let bad = Self.badAddress(source) {
            throw StepError.configuration("--source \"\(source)\": \(bad); write host:port (the native port, as the target reaches it), replicas of a shard joined by |, shards by , (spec.clickhouse.copy.source.shards)")
        }
        let (sourceUser, sourcePassword) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_SOURCE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_SOURCE_PASSWORD",
                                                                 directory: sourceCredentialsDir, defaultUser: "default")
        let (user, password) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_PASSWORD", directory: credentialsDir, defaultUser: "default")
        let copy = PartitionCopy(target: try ClickHouseClient(ClickHouseEndpoint(url: url, user: user, password: password)),
                                 sourceAddresses: source, remoteUser: sourceUser, remotePassword: sourcePassword, database: database, table: name,
                                 concurrency: concurrency, rounds: rounds,
                                 split: splitMinRows > 0 ? .init(minRows: splitMinRows, pieces: splitPieces, by: splitBy) : nil, say: say)
        do {
            _ = try await copy.onSource("SELECT 1 FROM \(copy.remote("system", "one"))")
        } catch {
            throw StepError.beforeChange(.target("the source \(source) does not answer the target (\(error)); check the addresses and the credentials (spec.clickhouse.copy.source). Nothing was changed"))
        }
        return try await copy.run()
    }

    /// Why `source` is not `host:port[|host:port…][,…]`; nil when it is. Pure.
    static func badAddress(_ source: String) -> String? {
        let shards = source.split(separator: ",", omittingEmptySubsequences: false)
        guard !source.isEmpty else { return "empty" }
        for shard in shards {
            let replicas = shard.split(separator: "|", omittingEmptySubsequences: false)
            for r in replicas {
                let parts = r.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else { return "\"\(r)\" is not host:port" }
                guard let port = Int(parts[1]), (1...65535).contains(port) else { return "\"\(r)\" has no port between 1 and 65535" }
            }
        }
        return nil
    }
}
