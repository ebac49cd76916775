import FerryProtocol

extension ClickHouseArguments {
    /// Restores each table (every table in the package when none is named), one after another
    /// (``ClickHouseRestore``).
    public func run() async throws -> [ClickHouseResult] {
        guard parallelism >= 1 && parallelism <= 64 else {
            throw StepError.configuration("--parallelism must be between 1 and 64 (spec.clickhouse.parallelism)")
        }
        guard maxInsertBlockSize >= 1000 else {
            throw StepError.configuration("--max-insert-block-size must be at least 1000 rows (spec.clickhouse.maxInsertBlockSize)")
        }
        let pkg = try BackupPackage.open(package)
        let (user, password) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_PASSWORD", directory: credentialsDir, defaultUser: "default")
        let client = try ClickHouseClient(ClickHouseEndpoint(url: url, user: user, password: password))
        let wanted = tables.isEmpty ? pkg.metadata.contents.clickhouse : tables
        if wanted.isEmpty {
            throw StepError.badPackage("the package holds no ClickHouse tables: nothing to restore. Name tables with --table, or export them with ferry export")
        }
        var results: [ClickHouseResult] = []
        for table in wanted {
            if pkg.layout == .legacy {
                results.append(try await LegacyClickHouseRestore(client: client, table: table, path: try pkg.legacyClickHouse(table), say: { print($0) }).run())
                continue
            }
            let source = try pkg.clickhouse(table)
            var options = ClickHouseRestore.Options(table: table, schemaPath: source.schemaPath, dataPath: source.dataPath, expected: source.entry,
                                                    expectedSHA256: source.sha256, blockSize: maxInsertBlockSize, parallelism: parallelism)
            options.parts = source.parts
            let restore = ClickHouseRestore(client: client, options: options)
            results.append(try await restore.run())
        }
        return results
    }
}
