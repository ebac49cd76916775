import FerryProtocol
@testable import FerrySteps
import Foundation
import TestSupport
import Testing

/// Validate says what happens to every part of the old tool's package: restored, skipped with the
/// reason, read, or unknown. Nothing is silently ignored.
@Suite("package parts of the old tool's layout")
struct PackagePartsTests {
    /// A package in the old tool's full layout.
    func oldToolPackage(extraSQL: Int = 0) async throws -> String {
        let root = try makeTempDir("old-tool")
        let fm = FileManager.default
        try Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).write(to: URL(fileURLWithPath: root + "/info.json"))
        for db in ["project", "wiki"] + (0..<extraSQL).map({ "db_with_a_long_name_\($0)" }) {
            try Data("CREATE TABLE t (id INT);\n-- Dump completed on 2026-11-20\n".utf8).write(to: URL(fileURLWithPath: "\(root)/\(db).sql"))
        }
        for dir in ["files/a", "plugin", "conf", "clickhouse-backup", "kafka-backup", "stray"] { try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/files/a/1.txt"))
        try Data(Data("{\"a\":1}".utf8).base64EncodedData()).write(to: URL(fileURLWithPath: root + "/conf/latest_config.json"))
        try Data(Data("{\"b\":2}".utf8).base64EncodedData()).write(to: URL(fileURLWithPath: root + "/conf/options.json"))
        try Data("1\ta\n2\tb\n".utf8).write(to: URL(fileURLWithPath: root + "/clickhouse-backup/db.events"))
        let z = try await runCommand("/usr/bin/zstd", ["-q", "--rm", root + "/clickhouse-backup/db.events", "-o", root + "/clickhouse-backup/db.events.zst"])
        #expect(z.status == 0, "\(z.combined)")
        try Data([0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0]).write(to: URL(fileURLWithPath: root + "/clickhouse-backup/db.damaged.zst"))
        try Data("gzip? no, text".utf8).write(to: URL(fileURLWithPath: root + "/clickhouse-backup/broken.zst"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: root + "/kafka-backup/offsets.json"))
        try Data("hello".utf8).write(to: URL(fileURLWithPath: root + "/README.txt"))
        return root
    }

    @Test("the old tool's full layout through validate: each part listed — dumps restored or skipped by spec.mysql.databases, folders by spec.files, conf/ and clickhouse-backup/ skipped with the reason, a .zst that is not zstd named with its first bytes, kafka-backup/ not restored, anything else unknown")
    func fullLayout() async throws {
        let root = try await oldToolPackage()
        let lines = Locked<[String]>([])
        let r = try ValidateArguments(package: root, appVersion: "6.4.1", databases: ["project"], folders: ["files"], required: ["mysql"]).run(say: { l in lines.withLock { $0.append(l) } })
        let parts = Dictionary(uniqueKeysWithValues: (r.parts ?? []).map { ($0.path, $0) })
        #expect(parts["info.json"]?.verdict == "read")
        #expect(parts["project.sql"]?.verdict == "restored" && parts["project.sql"]?.reason == "step mysql/project")
        #expect(parts["wiki.sql"]?.verdict == "skipped" && parts["wiki.sql"]?.reason == "spec.mysql.databases does not name wiki")
        #expect(parts["files/"]?.verdict == "restored" && parts["plugin/"]?.verdict == "skipped")
        #expect(parts["conf/latest_config.json"]?.verdict == "skipped" && parts["conf/options.json"]?.reason?.contains("the old tool's configuration") == true)
        #expect(parts["clickhouse-backup/db.events.zst"]?.verdict == "skipped" && parts["clickhouse-backup/db.events.zst"]?.reason == "spec.clickhouse is not set (TabSeparated rows of db.events)",
                "\(String(describing: parts["clickhouse-backup/db.events.zst"]))")
        #expect(parts["clickhouse-backup/db.damaged.zst"]?.verdict == "unknown" && parts["clickhouse-backup/db.damaged.zst"]?.reason?.contains("neither Native nor TabSeparated") == true)
        #expect(parts["clickhouse-backup/broken.zst"]?.verdict == "unknown" && parts["clickhouse-backup/broken.zst"]?.reason?.contains("not zstd (it starts with 67 7a 69 70") == true, "\(String(describing: parts["clickhouse-backup/broken.zst"]))")
        #expect(parts["kafka-backup/"]?.verdict == "skipped" && parts["kafka-backup/"]?.reason?.contains("not from the old tool's kafka-backup/") == true)
        #expect(parts["README.txt"]?.verdict == "unknown" && parts["stray/"]?.verdict == "unknown")
        #expect(parts.count == 13, "\(parts.keys.sorted())")
        #expect(lines.withLock { $0 }.contains("kafka-backup/: skipped (consumer offsets are read from the old broker, not from the old tool's kafka-backup/)"), "\(lines.withLock { $0 })")
    }

    @Test("without spec.mysql no dump is said to be restored; a symlink named like a folder is not taken for one")
    func noMySQL() async throws {
        let root = try await oldToolPackage()
        try FileManager.default.createSymbolicLink(atPath: root + "/kafka-backup2", withDestinationPath: "/etc")
        let parts = PackageParts.list(root, restoring: .init(databases: ["project", "wiki"], tables: [], folders: [], mysqlSet: false, kafkaSet: false))
        #expect(parts.filter { $0.path.hasSuffix(".sql") }.allSatisfy { $0.verdict == "skipped" && $0.reason == "spec.mysql is not set" })
        #expect(parts.first { $0.path.hasPrefix("kafka-backup2") }?.path == "kafka-backup2" && parts.first { $0.path.hasPrefix("kafka-backup2") }?.verdict == "unknown")
    }

    @Test("500 dumps: the validate report still fits 4 KiB, every part in the log, the rest counted")
    func many() async throws {
        let root = try await oldToolPackage(extraSQL: 500)
        let lines = Locked<[String]>([])
        let r = try ValidateArguments(package: root, appVersion: "6.4.1", databases: ["project"], required: ["mysql"]).run(say: { l in lines.withLock { $0.append(l) } })
        #expect(ReportSize.of(r) <= 4_000, "\(ReportSize.of(r)) bytes")
        #expect(r.parts?.last?.verdict == "more" && r.parts?.last?.reason?.hasSuffix("more parts: the validate step's log lists them all") == true)
        #expect(lines.withLock { $0 }.filter { !$0.hasPrefix("note: ") }.count == 513)
    }
}
