import ArgumentParser
import Foundation
import FerrySteps

/// `ferry restore ...`: the data-plane steps, each run by the controller in a Job.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore one part of a backup package (run by the controller in a Job).",
        subcommands: [RestoreMySQL.self])
}

/// Where the step's JSON result goes.
struct ResultOptions: ParsableArguments {
    @Option(help: "File for the JSON result (the container's termination message).")
    var resultFile: String = StepReport.defaultPath
}

/// Reads a credential from the environment or a mounted Secret folder.
enum Credentials {
    static func value(env: String, file: String, directory: String?, default fallback: String) -> String {
        if let v = ProcessInfo.processInfo.environment[env] { return v }
        if let directory {
            let path = directory + "/" + file
            if let data = FileManager.default.contents(atPath: path) {
                var s = String(decoding: data, as: UTF8.self)
                while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
                return s
            }
        }
        return fallback
    }
}

struct RestoreMySQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql",
        abstract: "Drop, create, import (in parallel) and verify one MySQL database from the package.",
        discussion: "Credentials: FERRY_MYSQL_USERNAME / FERRY_MYSQL_PASSWORD, or files username/password in --credentials-dir (a mounted Secret). Never on the command line.")

    @Option(help: "The backup package's top folder.")
    var package: String
    @Option(help: "The database in the package.")
    var database: String
    @Option(help: "Database name on the target (default: the same).")
    var targetDatabase: String?
    @Option(help: "MySQL/MariaDB host.")
    var host: String = "127.0.0.1"
    @Option(help: "MySQL/MariaDB port.")
    var port: Int = 3306
    @Option(help: "Folder with the credentials Secret's keys as files.")
    var credentialsDir: String?
    @Option(help: "Connections used for the import.")
    var parallelism: Int = 2
    @Option(help: ArgumentHelp("Bytes of INSERT statements per connection run.", visibility: .hidden))
    var chunkBytes: Int = 16 << 20
    @Flag(help: ArgumentHelp("Send rows as the dump's INSERT statements, not LOAD DATA LOCAL.", visibility: .hidden))
    var insertStatements = false
    @OptionGroup var result: ResultOptions

    func run() async throws {
        do {
            guard parallelism >= 1 && parallelism <= 64 else {
                throw StepError.configuration("--parallelism must be between 1 and 64 (spec.mysql.parallelism)")
            }
            let pkg = try BackupPackage.open(package)
            let source = try pkg.mysql(database)
            let user = Credentials.value(env: "FERRY_MYSQL_USERNAME", file: "username", directory: credentialsDir, default: "root")
            let password = Credentials.value(env: "FERRY_MYSQL_PASSWORD", file: "password", directory: credentialsDir, default: "")
            let client = try MySQLClient(MySQLEndpoint(host: host, port: port, user: user, password: password))
            let restore = MySQLRestore(client: client, options: .init(
                dumpPath: source.dumpPath, database: targetDatabase ?? database, parallelism: parallelism,
                expectedTables: source.expectedTables, expectedSHA256: source.sha256, chunkBytes: chunkBytes, loadData: !insertStatements))
            let outcome = try await restore.run()
            StepReport.write(StepReport.success(outcome), to: result.resultFile)
        } catch {
            StepReport.write(StepReport.failure("\(error)"), to: result.resultFile)
            throw ExitCode(1)
        }
    }
}
