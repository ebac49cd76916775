import ArgumentParser
import FerrySteps
import Foundation

/// `ferry export ...`: the source-host side.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a backup package on the source host (or one part of it).",
        subcommands: [ExportPackage.self, ExportKafka.self], defaultSubcommand: ExportPackage.self)
}

struct ExportPackage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Export MySQL, ClickHouse, Kafka offsets, file folders and sealed config into a package; or --verify one.",
        discussion: """
            The config file (YAML) names the sources; flags override it. Secrets never go in it: \
            passwordFile / keyFile, or FERRY_MYSQL_PASSWORD, FERRY_CLICKHOUSE_PASSWORD, FERRY_CONFIG_KEY, FERRY_KAFKA_*. \
            Rerunning after an interruption continues after the last finished part.
            """)

    @Option(help: "Export config (YAML): output, appVersion, mysql, clickhouse, kafka, files, config.")
    var config: String?
    @Option(help: "The package folder (overrides output).")
    var output: String?
    @Option(help: "The application version (overrides appVersion).")
    var appVersion: String?
    @Option(help: "MySQL host (overrides mysql.host).")
    var mysqlHost: String?
    @Option(help: "MySQL port.")
    var mysqlPort: Int?
    @Option(name: .customLong("database"), help: "A MySQL database (repeatable; default: all but the system ones).")
    var databases: [String] = []
    @Option(name: .customLong("files"), help: "A folder as NAME=PATH (repeatable).")
    var folders: [String] = []
    @Option(help: "Re-read the package at this path and check it against its manifest; export nothing.")
    var verify: String?
    @Flag(help: "Print the summary as JSON.")
    var json = false
    @Flag(help: "Record every change under the folders from before their copy (a change journal per folder, in <output>.journals), and keep recording after the export until SIGINT or SIGTERM. Once the application is stopped, run ferry export --final in another shell.")
    var watch = false
    @Flag(name: .customLong("final"), help: "The application is stopped: bring the finished package's folders up to date from their journals (only the recorded paths; the whole folder, saying why, when a journal cannot be trusted) and correct the manifest.")
    var finalPass = false

    func run() async throws {
        if let verify {
            let report = PackageVerifier.verify(verify)
            if json { try printJSON(report) } else {
                for p in report.problems { print("✗ \(p)") }
                print(report.ok ? "✓ \(verify): \(report.checked) files and items match the manifest" : "\(report.problems.count) problems in \(verify)")
            }
            if !report.ok { throw ExitCode(1) }
            return
        }
        var cfg: ExportConfig
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("--config \(config) is not readable") }
            cfg = try ExportConfig.parse(yaml: String(decoding: data, as: UTF8.self), path: config)
        } else {
            guard let output, let appVersion else { throw ValidationError("give --config FILE, or at least --output and --app-version") }
            cfg = ExportConfig(output: output, appVersion: appVersion)
        }
        if let output { cfg.output = output }
        if let appVersion { cfg.appVersion = appVersion }
        if let mysqlHost { cfg.mysql = cfg.mysql ?? ExportConfig.MySQL(host: mysqlHost); cfg.mysql?.host = mysqlHost }
        if let mysqlPort { cfg.mysql?.port = mysqlPort }
        if !databases.isEmpty { cfg.mysql?.databases = databases }
        for f in folders {
            guard let eq = f.firstIndex(of: "=") else { throw ValidationError("--files \(f) must be NAME=PATH") }
            cfg.files = (cfg.files ?? []) + [ExportConfig.Folder(name: String(f[..<eq]), path: String(f[f.index(after: eq)...]))]
        }
        // Lines as they happen, unbuffered (a watching export runs for hours); on stderr when stdout is JSON.
        let json = json
        let say: @Sendable (String) -> Void = { line in
            (json ? FileHandle.standardError : FileHandle.standardOutput).write(Data((line + "\n").utf8))
        }
        do {
            if finalPass {
                let reports = try FolderJournals.final(cfg, say: say)
                if json { try printJSON(reports) } else { print("✓ package \(cfg.output): \(reports.count) folders brought up to date") }
                return
            }
            var exporter = PackageExporter(config: cfg, secrets: try .load(cfg))
            // Watching starts before anything of the folders is read.
            let watchers = watch ? try FolderJournals.watch(cfg, say: say) : [:]
            exporter.watchers = watchers
            let summary = try await exporter.run()
            if json { try printJSON(summary) } else {
                print("✓ package \(summary.output): \(summary.mysql.count) databases, \(summary.clickhouse.count) ClickHouse tables, \(summary.kafkaGroups) Kafka groups, \(summary.files.count) folders, \(summary.configFiles) config files; \(summary.bytes) bytes in \(String(format: "%.1f", summary.seconds)) s\(summary.resumed > 0 ? " (\(summary.resumed) parts from an earlier run)" : "")")
            }
            if !watchers.isEmpty {
                say("watching \(watchers.count) folders for changes (journals in \(FolderJournals.folder(output: cfg.output))); once the application is stopped, run ferry export --final with the same folders and output, then stop this (Ctrl-C)")
                await waitForTermination()
                for w in watchers.values { w.stop() }
                say("stopped watching")
            }
        } catch let e as StepError {
            FileHandle.standardError.write(Data("ferry export: \(e)\n".utf8))
            throw ExitCode(1)
        }
    }

    func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

struct ExportKafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka", abstract: "Save consumer-group offsets (and each partition's range) as JSON.")

    @OptionGroup var kafka: KafkaConnectionOptions
    @Option(name: .customLong("group"), help: "A group to save (repeatable; default: all groups).")
    var groups: [String] = []
    @Option(help: "Where to write the JSON (e.g. PACKAGE/kafka/offsets.json).")
    var output: String

    func run() async throws {
        let client = try kafka.client()
        let file = try await KafkaExport.run(client, groups: groups.isEmpty ? nil : groups)
        await client.close()
        try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try ManifestBuilder.writeJSON(file, to: output)
        print("saved \(file.groups.count) groups, \(file.partitions.values.map(\.count).reduce(0, +)) partitions to \(output)")
    }
}
