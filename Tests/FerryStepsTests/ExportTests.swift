import Foundation
import FerryProtocol
import KubeClient
import Testing
import TestSupport

@testable import FerrySteps

/// `ferry export`'s decisions without I/O: config, free space, config sealing, progress lines.
@Suite("ferry export: config, space, sealing", .timeLimit(.minutes(1)))
struct ExportUnitTests {
    @Test("the config: a password in the file is refused naming the line; each mistake names its field")
    func config() throws {
        do {
            _ = try ExportConfig.parse(yaml: "output: /p\nappVersion: '1'\nmysql:\n  host: db\n  password: hunter2\n", path: "export.yaml")
            Issue.record("a password in the config must be refused")
        } catch {
            #expect("\(error)".contains("mysql.password puts a secret") && "\(error)".contains("passwordFile") && !"\(error)".contains("hunter2"), "\(error)")
        }
        do {
            _ = try ExportConfig.parse(yaml: "output: /p\nmysql: {host: db}\n", path: "export.yaml")
            Issue.record("appVersion is required")
        } catch {
            #expect("\(error)".contains("appVersion is required"), "\(error)")
        }
        do {
            _ = try ExportConfig.parse(yaml: "output: /p\nappVersion: '1'\nmysql: {host: db, databse: [x]}\n", path: "export.yaml")
            Issue.record("a misspelt field must be refused, not ignored")
        } catch {
            #expect("\(error)".contains("mysql.databse is not a field") && "\(error)".contains("databases"), "\(error)")
        }
        let ok = try ExportConfig.parse(yaml: """
            output: /backup/ones
            appVersion: "6.4.1"
            mysql: {host: 127.0.0.1, passwordFile: /etc/ferry/mysql, databases: [project]}
            files: [{name: files, path: /srv/files}, {name: plugin, path: /srv/plugin, manifestOnly: true}]
            config: {files: [/etc/ones/app.yaml], keyFile: /etc/ferry/config.key}
            """, path: "export.yaml")
        #expect(ok.problems().isEmpty)
        #expect(ok.files?[1].manifestOnly == true)
        var bad = ok
        bad.files = [.init(name: "mysql", path: "relative"), .init(name: "a", path: "/x"), .init(name: "a", path: "/y")]
        bad.clickhouse = .init(url: "http://ch:8123", tables: ["events"])
        let problems = bad.problems().joined(separator: "\n")
        #expect(problems.contains("files[0].name") && problems.contains("files[0].path") && problems.contains("files[2].name: \"a\" is used twice") && problems.contains("clickhouse.tables"), "\(problems)")
        #expect(ExportConfig(output: "/p", appVersion: "1").problems().contains { $0.contains("nothing to export") })
    }

    @Test("free space: refused under the minimum percentage or under the estimate, saying how much more is needed")
    func space() {
        let gib: Int64 = 1 << 30
        #expect(PackageExporter.spaceProblem(total: 100 * gib, free: 50 * gib, needed: 10 * gib, minFreePercent: 20, path: "/b") == nil)
        let short = PackageExporter.spaceProblem(total: 100 * gib, free: 50 * gib, needed: 60 * gib, minFreePercent: 20, path: "/b") ?? ""
        #expect(short.contains("needs about 60.0 GiB") && short.contains("free 10.0 GiB more"), "\(short)")
        let tight = PackageExporter.spaceProblem(total: 100 * gib, free: 15 * gib, needed: gib, minFreePercent: 20, path: "/b") ?? ""
        #expect(tight.contains("only 15.0% free") && tight.contains("at least 20%") && tight.contains("free 5.0 GiB more"), "\(tight)")
    }

    @Test("config sealing: opens with the key; a wrong key or a changed byte is refused clearly; a bad key text names the fix")
    func sealing() throws {
        let keyText = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let key = try ConfigSeal.key(fromBase64: keyText + "\n", source: "key.txt")
        let files = ["app.yaml": Data("db: {password: x}\n".utf8), "empty": Data()]
        let sealed = try ConfigSeal.seal(files, key: key)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("password"))
        #expect(try ConfigSeal.open(sealed, key: key, path: "c") == files)
        let other = try ConfigSeal.key(fromBase64: Data(repeating: 7, count: 32).base64EncodedString(), source: "k")
        #expect(throws: StepError.self) { _ = try ConfigSeal.open(sealed, key: other, path: "c") }
        do { _ = try ConfigSeal.open(sealed, key: other, path: "config/config.sealed") } catch { #expect("\(error)".contains("the key is wrong")) }
        var flipped = sealed
        flipped[flipped.count - 20] ^= 1
        #expect(throws: StepError.self) { _ = try ConfigSeal.open(flipped, key: key, path: "c") }
        do { _ = try ConfigSeal.key(fromBase64: "short", source: "FERRY_CONFIG_KEY") } catch { #expect("\(error)".contains("openssl rand -base64 32")) }
    }

    @Test("progress: plain lines when not a terminal, a redrawn bar on one")
    func progress() {
        let lines = Locked<[String]>([])
        let plain = ExportProgress(tty: false) { text in lines.withLock { $0.append(text) } }
        plain.begin("mysql", total: 2, unit: "databases")
        plain.step("project 12 MiB")
        plain.step("wiki 1 MiB")
        plain.end()
        #expect(lines.withLock { $0 } == ["mysql: 2 databases\n", "mysql: 1/2 databases: project 12 MiB\n", "mysql: 2/2 databases: wiki 1 MiB\n"])
        let drawn = Locked<String>("")
        let tty = ExportProgress(tty: true) { text in drawn.withLock { $0 += text } }
        tty.begin("files", total: 4, unit: "folders")
        tty.step("a")
        tty.end()
        #expect(drawn.withLock { $0 }.contains("\r\u{1B}[Kfiles [######------------------] 1/4 folders"))
    }
}

/// `ferry export` as a process against the real MariaDB, ClickHouse, Tansu and folders.
@Suite("ferry export against real servers", .serialized, .timeLimit(.minutes(4)))
struct ExportTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    static func sql(_ servers: TestServers, _ statements: String) async throws -> String {
        let r = try await runCommand("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "-N", "-B"], input: statements)
        guard r.status == 0 else { throw MySQLRestoreTests.TestFailure("mariadb: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Databases, a ClickHouse table, a Kafka group, a folder of files and a config file, and the YAML naming them.
    static func makeSources(_ servers: TestServers, rows: Int, files: Int) async throws -> (config: String, output: String, databases: [String], tag: String) {
        let tag = UUID().uuidString.prefix(6).lowercased()
        var databases: [String] = []
        for i in 0..<3 {
            let db = "exp_\(tag)_\(i)"
            _ = try await sql(servers, """
                CREATE DATABASE `\(db)`; USE `\(db)`;
                CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, note TEXT, KEY by_name (name)) ENGINE=InnoDB;
                INSERT INTO items SELECT seq, CONCAT('item ', seq), IF(seq % 3 = 0, NULL, CONCAT('it''s\\t', REPEAT('x', seq % 90))) FROM seq_1_to_\(rows);
                """)
            databases.append(db)
        }
        let ch = try ClickHouseClient(ClickHouseEndpoint(url: servers.clickhouseURL, user: "ferry", password: "s3cret pass"))
        try await ch.query("CREATE DATABASE exp_\(tag)")
        try await ch.query("CREATE TABLE exp_\(tag).events (d Date, id UInt64, msg String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
        try await ch.query("INSERT INTO exp_\(tag).events SELECT toDate('2024-01-01') + (number % 60), number, toString(number) FROM system.numbers LIMIT 5000")
        let src = try makeTempDir("export-src")
        for i in 0..<files {
            let dir = "\(src)/d\(i % 20)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(repeating: UInt8(i % 251), count: 1000 + i * 37 % 20000).write(to: URL(fileURLWithPath: "\(dir)/f\(i).bin"))
        }
        try "listen: 0.0.0.0\nsecret: not-really\n".write(toFile: src + "/../app-\(tag).yaml", atomically: true, encoding: .utf8)
        let key = try makeTempDir("export-key") + "/config.key"
        try Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString().write(toFile: key, atomically: true, encoding: .utf8)
        let chPassword = try makeTempDir("export-chpw") + "/pw"
        try "s3cret pass".write(toFile: chPassword, atomically: true, encoding: .utf8)
        let output = try makeTempDir("export-out") + "/package"
        let yaml = """
            output: \(output)
            appVersion: "6.4.1"
            mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), user: root, databases: [\(databases.joined(separator: ", "))], parallelism: 2}
            clickhouse: {url: "\(servers.clickhouseURL)", user: ferry, passwordFile: "\(chPassword)", tables: ["exp_\(tag).*"]}
            files: [{name: files, path: "\(src)"}]
            config: {files: ["\((src as NSString).deletingLastPathComponent)/app-\(tag).yaml"], keyFile: "\(key)"}
            """
        let config = try makeTempDir("export-config") + "/export.yaml"
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        return (config, output, databases, tag)
    }

    @Test("killed with SIGKILL at a random moment, three times, then run again: the package verifies, and the rerun continued instead of starting over")
    func killAndResume() async throws {
        let servers = try await TestServers.shared()
        let (config, output, _, tag) = try await Self.makeSources(servers, rows: 300_000, files: 3000)
        let statePath = output + "/" + PackageExporter.stateFile
        func partsDone() -> Int {
            guard let data = FileManager.default.contents(atPath: statePath), let json = try? JSONWire.parse(Array(data)) else { return 0 }
            return json["done"]?.arrayValue?.count ?? 0
        }
        for round in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.ferry)
            process.arguments = ["export", "--config", config]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            let before = partsDone()
            try process.run()
            if round < 2 {
                try await Task.sleep(nanoseconds: UInt64.random(in: 50_000_000...400_000_000))
            } else {
                // The last kill comes right after a part finished, so the rerun has something to continue from.
                _ = try await eventually(timeout: 60, interval: 0.02) { partsDone() > before }
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // A killed export is never taken for a finished package.
            let verify = try await runCommand(Self.ferry, ["export", "--verify", output])
            if FileManager.default.fileExists(atPath: output + "/" + PackageExporter.stateFile) {
                #expect(verify.status != 0 && verify.stdout.contains("unfinished export"), "\(verify.combined)")
            }
        }
        let finish = try await runCommand(Self.ferry, ["export", "--config", config, "--json"], timeout: 180)
        #expect(finish.status == 0, "\(finish.combined)")
        let summary = try JSONWire.parse(Array(finish.stdout.utf8))
        #expect((summary["resumed"]?.intValue ?? 0) >= 1, "the rerun continued after the finished parts: \(finish.stdout)")
        #expect(summary["mysql"]?.arrayValue?.count == 3)
        let verify = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verify.status == 0 && verify.stdout.contains("match the manifest"), "\(verify.combined)")
        #expect(!FileManager.default.fileExists(atPath: output + "/" + PackageExporter.stateFile))
        #expect(((try? FileManager.default.subpathsOfDirectory(atPath: output + "/mysql")) ?? []).allSatisfy { !$0.hasSuffix(".part") }, "no half-written part left")
        let manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")))
        #expect(manifest.files["files"]?.files == 3000)
        #expect(manifest.clickhouse["exp_\(tag).events"]?.partitions?.values.reduce(0, +) == 5000)
        #expect(manifest.mysql.values.allSatisfy { $0.tables["items"]?.rows == 300_000 })
        #expect(manifest.config?.files == ["app-\(tag).yaml"])
    }

    @Test("--verify names a corrupted dump, a dump with a row removed, and a missing file; a config with a password is refused; no room → nothing written")
    func verifyAndRefuse() async throws {
        let servers = try await TestServers.shared()
        let (config, output, databases, _) = try await Self.makeSources(servers, rows: 2000, files: 30)
        let run = try await runCommand(Self.ferry, ["export", "--config", config], timeout: 120)
        #expect(run.status == 0, "\(run.combined)")
        #expect(run.stdout.contains("3 databases, 1 ClickHouse tables"), "\(run.stdout)")
        #expect(run.stderr.contains("mysql: 6/6 parts"), "plain progress lines when not a terminal: \(run.stderr)")
        var verify = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verify.status == 0, "\(verify.combined)")

        // One byte changed inside a row (of the data part that holds it).
        let manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")))
        let partFile = try #require(manifest.mysql[databases[0]]?.parts?.first { $0.table == "items" }?.file)
        let dump = output + "/" + partFile
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dump))
        let at = bytes.range(of: Data("item 1000".utf8))!.lowerBound
        bytes[at] = UInt8(ascii: "I")
        try bytes.write(to: URL(fileURLWithPath: dump))
        try FileManager.default.removeItem(atPath: output + "/files/d3/f3.bin")
        verify = try await runCommand(Self.ferry, ["export", "--verify", output])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("\(partFile): sha256 is") && verify.stdout.contains("changed or is corrupt"), "\(verify.stdout)")
        #expect(verify.stdout.contains("files/: 29 files"), "\(verify.stdout)")

        // Validate (the Migration's first step) refuses the package before anything else runs.
        let validate = try await runCommand(Self.ferry, ["restore", "validate", "--package", output, "--app-version", "6.4.1"])
        #expect(validate.status != 0 && validate.combined.contains("\(partFile): sha256"), "\(validate.combined)")

        // A password in the YAML.
        let withPassword = try makeTempDir("export-bad") + "/export.yaml"
        try (try String(contentsOfFile: config, encoding: .utf8) + "\n# oops\n").replacingOccurrences(of: "user: root", with: "user: root, password: root").write(toFile: withPassword, atomically: true, encoding: .utf8)
        let refused = try await runCommand(Self.ferry, ["export", "--config", withPassword, "--output", output + "-2"])
        #expect(refused.status == 1 && refused.stderr.contains("mysql.password puts a secret in the config file"), "\(refused.combined)")
        #expect(!FileManager.default.fileExists(atPath: output + "-2"))

        // No room: a minimum free percentage no disk has.
        let full = try makeTempDir("export-full") + "/export.yaml"
        try (try String(contentsOfFile: config, encoding: .utf8) + "\nminFreePercent: 99\n").write(toFile: full, atomically: true, encoding: .utf8)
        let noRoom = try await runCommand(Self.ferry, ["export", "--config", full, "--output", output + "-3"])
        #expect(noRoom.status == 1 && noRoom.stderr.contains("at least 99% is required") && noRoom.stderr.contains("nothing was written"), "\(noRoom.combined)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: output + "-3")) ?? []).allSatisfy { $0 == PackageExporter.stateFile })
    }
}

/// The cross-host mode: `ferry export` publishes a folder to a bucket (OpenStack Swift's S3 API)
/// instead of copying it into the package.
@Suite("Export publishing folders to a bucket (Swift s3api)", .serialized, .timeLimit(.minutes(3)))
struct ExportPublishTests {
    @Test("files[].bucket: every file arrives under the prefix, mtime in its metadata; the manifest says where, the package holds no copy; --verify passes; validate naming the folder says to copy from the bucket; a key in the config is refused; a wrong bucket name is named")
    func publish() async throws {
        let server = try await SwiftS3.shared()
        let bucket = "pub-\(UUID().uuidString.prefix(8).lowercased())"
        let client = S3Client(location: S3Location(endpoint: server.endpoint, bucket: bucket), credentials: .init(accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey), http: .shared)
        _ = try await client.send(.PUT, key: nil)
        let src = try makeTempDir("publish-src")
        for i in 0..<25 {
            try FileManager.default.createDirectory(atPath: "\(src)/d\(i % 5)", withIntermediateDirectories: true)
            try Data("attachment \(i)".utf8).write(to: URL(fileURLWithPath: "\(src)/d\(i % 5)/a \(i).txt"))
        }
        let creds = try makeTempDir("publish-creds")
        try Data(SwiftS3.accessKey.utf8).write(to: URL(fileURLWithPath: creds + "/AWS_ACCESS_KEY_ID"))
        try Data(SwiftS3.secretKey.utf8).write(to: URL(fileURLWithPath: creds + "/AWS_SECRET_ACCESS_KEY"))
        let output = try makeTempDir("publish-out") + "/package"
        func config(_ bucketLine: String) throws -> String {
            let path = try makeTempDir("publish-config") + "/export.yaml"
            try """
                output: \(output)
                appVersion: "6.4.1"
                files: [{name: attachments, path: "\(src)", bucket: \(bucketLine)}]
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let run = try await runCommand(ExportTests.ferry, ["export", "--config", try config("{endpoint: \"\(server.endpoint)\", bucket: \(bucket), prefix: old-host/attachments, credentialsDir: \"\(creds)\"}")],
                                       environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""], timeout: 120)
        #expect(run.status == 0 && run.combined.contains("published to s3://\(bucket)/old-host/attachments"), "\(run.combined)")
        var keys: [String: Int64] = [:]
        try await client.listAll(prefix: "old-host/attachments/") { for o in $0 { keys[o.key] = o.size } }
        #expect(keys.count == 25 && keys["old-host/attachments/d3/a 8.txt"] == Int64("attachment 8".utf8.count), "\(keys.keys.sorted().prefix(3))")
        #expect(try await client.head("old-host/attachments/d3/a 8.txt")?.metadata["mtime"] != nil)
        #expect(!FileManager.default.fileExists(atPath: output + "/attachments"), "no copy in the package")
        let manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")))
        #expect(manifest.files["attachments"]?.published?.bucket == bucket && manifest.files["attachments"]?.files == 25, "\(manifest.files)")
        let verify = try await runCommand(ExportTests.ferry, ["export", "--verify", output])
        #expect(verify.status == 0, "\(verify.combined)")
        let validate = try await runCommand(ExportTests.ferry, ValidateArguments(package: output, appVersion: "6.4.1", folders: ["attachments"], resultFile: "").argv, timeout: 60)
        #expect(validate.status != 0 && validate.combined.contains("from: {s3: {endpoint: \(server.endpoint), bucket: \(bucket), prefix: old-host/attachments"), "\(validate.combined)")
        // A key in the config file, and a bucket name S3 refuses.
        let secret = try await runCommand(ExportTests.ferry, ["export", "--config", try config("{endpoint: \"\(server.endpoint)\", bucket: \(bucket), secret: x}")], timeout: 60)
        #expect(secret.status != 0 && secret.combined.contains("files[0].bucket.secret"), "\(secret.combined)")
        let badName = try await runCommand(ExportTests.ferry, ["export", "--config", try config("{endpoint: \"\(server.endpoint)\", bucket: Bad_Name}")], timeout: 60)
        #expect(badName.status != 0 && badName.combined.contains("files[0].bucket.bucket"), "\(badName.combined)")
    }
}
