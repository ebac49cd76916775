import FerryProtocol
import Foundation

extension MySQLArguments {
    /// Restores the database: checks the options, opens the package, logs in with the mounted
    /// credentials, then drops, imports (in parallel) and verifies (``MySQLRestore``).
    /// `chunkBytes` and `loadData` are tuning knobs for tests and benchmarks.
    public func run(chunkBytes: Int = 16 << 20, loadData: Bool = true) async throws -> MySQLResult {
        guard parallelism >= 0 && parallelism <= 64 else {
            throw StepError.configuration("--parallelism must be auto or between 1 and 64 (spec.mysql.parallelism)")
        }
        let pkg = try BackupPackage.open(package)
        let source = try pkg.mysql(database)
        let (user, password) = try Credentials.login(userEnv: "FERRY_MYSQL_USERNAME", passwordEnv: "FERRY_MYSQL_PASSWORD", directory: credentialsDir, defaultUser: "root")
        let client = try MySQLClient(MySQLEndpoint(host: host, port: port, user: user, password: password))
        var width = parallelism
        if width == 0 {
            let cores = (try? client.query("SELECT @@GLOBAL.thread_pool_size").first?.first).flatMap { $0.flatMap { Int($0) } }
            width = MySQLRestore.autoParallelism(serverCores: cores, localCores: ProcessInfo.processInfo.activeProcessorCount,
                                                 partBytes: source.parts.map { $0.map { ManifestBuilder.fileSize($0.path) } }
                                                     // A single dump is imported in runs of 16 MiB.
                                                     ?? [Int64](repeating: 16 << 20, count: max(1, Int(ManifestBuilder.fileSize(source.dumpPath) >> 24))))
        }
        var options = MySQLRestore.Options(
            dumpPath: source.dumpPath, database: targetDatabase ?? database, parallelism: width,
            expectedTables: source.expectedTables, expectedSHA256: source.sha256, chunkBytes: chunkBytes, loadData: loadData)
        options.packageDatabase = database
        options.parts = source.parts
        return try await MySQLRestore(client: client, options: options).run()
    }
}
