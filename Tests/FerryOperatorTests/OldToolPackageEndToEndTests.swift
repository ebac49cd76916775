import FerryAPI
import FerrySteps
import Foundation
import KubeClient
import TestSupport
import Testing

/// A package in the old tool's full layout, through validate and restore by a Migration (kubectl,
/// KubeSim, the controller and step Jobs as processes, real MariaDB and ClickHouse).
@Suite("The old tool's full package layout end to end", .serialized, .timeLimit(.minutes(6)))
struct OldToolPackageEndToEndTests {
    typealias E = RestoreEndToEndTests
    typealias S = DataSafetyEndToEndTests
    typealias A = ArchiveStagingHelpers

    @Test("every folder of the old tool's package: info.json (base64) read, <db>.sql restored, clickhouse-backup/<db>.<table>.zst (TabSeparated) into the existing table, conf/latest_config.json and conf/options.json decoded into the config Secret, a SaaS files/<name>.tar.gz unpacked into <name>/ on the claim, plugin/ and kafka-backup/ listed as skipped with the reason; Succeeded, each checked where a user would look")
    func fullLayout() async throws {
        let servers = try await TestServers.shared()
        // HTTPS, so the config step's Job writes its Secret as its own ServiceAccount.
        try await KubectlEnv.with(tls: true) { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await E.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let controller = try E.controller(env, "oldtool-\(UUID().uuidString.prefix(4))")
            defer { controller.terminateNow() }
            let tag = UUID().uuidString.prefix(4).lowercased()
            let db = "old_\(tag)", chdb = "oldch_\(tag)"
            try await S.makeDatabase(servers, db, rows: 400)
            let checksum = try await S.checksum(servers, db)
            let package = try await S.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            try Data(Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
            // ClickHouse: the app's table exists on the target; the old tool's dump holds its rows.
            let ch = try ClickHouseClient(ClickHouseEndpoint(url: servers.clickhouseURL, user: "ferry", password: "s3cret pass"))
            try await ch.query("CREATE DATABASE \(chdb)")
            try await ch.query("CREATE TABLE \(chdb).events (id UInt64, msg String) ENGINE = MergeTree ORDER BY id")
            let fm = FileManager.default
            for dir in ["clickhouse-backup", "conf", "files", "plugin", "kafka-backup"] { try fm.createDirectory(atPath: "\(package)/\(dir)", withIntermediateDirectories: true) }
            let rows = (1...1500).map { "\($0)\tmessage \($0) with a \\t tab" }.joined(separator: "\n") + "\n"
            try Data(rows.utf8).write(to: URL(fileURLWithPath: "\(package)/clickhouse-backup/\(chdb).events"))
            let z = try await runCommand("/usr/bin/zstd", ["-q", "--rm", "\(package)/clickhouse-backup/\(chdb).events", "-o", "\(package)/clickhouse-backup/\(chdb).events.zst"])
            #expect(z.status == 0, "\(z.combined)")
            try Data(Data(#"{"site":"https://old.example","seats":25}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: package + "/conf/latest_config.json"))
            try Data(Data(#"{"theme":"dark"}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: package + "/conf/options.json"))
            try await A.archive(package + "/files", "project-1", [("a.png", "f", "png bytes"), ("sub/b.txt", "f", "b")])
            try Data("plug".utf8).write(to: URL(fileURLWithPath: package + "/plugin/p.jar"))
            try Data("{}".utf8).write(to: URL(fileURLWithPath: package + "/kafka-backup/offsets.json"))
            try fm.createDirectory(atPath: env.fixture.server.dataDirectory + "/volumes/default/app-files", withIntermediateDirectories: true)

            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: oldtool, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  workloads:
                    selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}
                  mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: mysql-root}
                  clickhouse: {url: "\(servers.clickhouseURL)", credentialsSecret: clickhouse-ferry}
                  config: {secretName: app-settings}
                  files:
                  - {name: attachments, from: files, unpack: true, to: {persistentVolumeClaim: app-files}}
                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            let done = try await eventually(timeout: 240, interval: 0.3) { try await env.jsonpath("migration/oldtool", ".status.phase") == "Succeeded" }
            let status = try await env.kubectl("get", "migration/oldtool", "-o", "yaml").stdout
            #expect(done, "\(status)\n\(controller.log.suffix(2000))")
            let names = try await env.jsonpath("migration/oldtool", ".status.steps[*].name")
            #expect(names == "validate quiesce mysql/\(db) clickhouse/\(chdb).events config resume files", "\(names)")
            #expect(try await S.checksum(servers, db) == checksum)
            #expect(try await ch.query("SELECT count(), sum(id) FROM \(chdb).events").trimmingCharacters(in: .whitespacesAndNewlines) == "1500\t1125750")
            #expect(try await ch.query("SELECT msg FROM \(chdb).events WHERE id = 7").contains("message 7 with a \\t tab"), "the TabSeparated escape read as a tab, printed escaped again")
            let latest = try await env.jsonpath("secret/app-settings", ".data.latest_config\\.json")
            #expect(Data(base64Encoded: latest).map { String(decoding: $0, as: UTF8.self) } == #"{"site":"https://old.example","seats":25}"#, "decoded from base64 once: \(latest)")
            #expect(!(try await env.jsonpath("secret/app-settings", ".data.options\\.json")).isEmpty)
            let claim = env.fixture.server.dataDirectory + "/volumes/default/app-files"
            #expect((try? String(contentsOfFile: claim + "/project-1/a.png", encoding: .utf8)) == "png bytes" && (try? String(contentsOfFile: claim + "/project-1/sub/b.txt", encoding: .utf8)) == "b")
            #expect(!fm.fileExists(atPath: claim + "/project-1.tar.gz"), "the archive itself is not copied")
            let parts = try await env.jsonpath("migration/oldtool", #".status.steps[?(@.name=="validate")].result.parts"#)
            for (path, verdict) in [("info.json", "read"), ("\(db).sql", "restored"), ("clickhouse-backup/\(chdb).events.zst", "restored"), ("conf/latest_config.json", "restored"),
                                    ("conf/options.json", "restored"), ("files/", "restored"), ("plugin/", "skipped"), ("kafka-backup/", "skipped")] {
                #expect(parts.contains(#""path":"\#(path)","reason":"#) && parts.contains(#""path":"\#(path)""#), "\(path): \(parts)")
                #expect(parts.range(of: #""path":"\#(path)"[^}]*"verdict":"\#(verdict)""#, options: .regularExpression) != nil, "\(path) \(verdict): \(parts)")
            }
        }
    }
}
