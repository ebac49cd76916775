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
        var options = MySQLRestore.Options(
            dumpPath: source.dumpPath, database: targetDatabase ?? database, parallelism: parallelism,
            expectedTables: source.expectedTables, expectedSHA256: source.sha256, chunkBytes: chunkBytes, loadData: loadData)
        options.packageDatabase = database
        options.parts = source.parts
        return try await MySQLRestore(client: client, options: MySQLRestore.resolvingAuto(options, client: client)).run()
    }
}
