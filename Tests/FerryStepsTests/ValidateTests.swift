import Foundation
import FerrySteps
import KubeClient
import Testing
import TestSupport

/// `ferry restore validate`: what is checked before anything is stopped.
@Suite("ferry restore validate", .timeLimit(.minutes(2)))
struct ValidateTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    /// A legacy package: base64 info.json, two dumps (one cut off on demand), a files/ folder.
    static func legacyPackage(complete: Bool = true) throws -> String {
        let dir = try makeTempDir("validate")
        try Data(Data(#"{"app_version":"6.4.1"}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: dir + "/info.json"))
        let dump = "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n"
        try Data((dump + "-- Dump completed on 2026-11-20 10:00:00\n").utf8).write(to: URL(fileURLWithPath: dir + "/project.sql"))
        try Data((dump + (complete ? "-- Dump completed on 2026-11-20 10:00:00\n" : "INSERT INTO t VALUES (2),")).utf8).write(to: URL(fileURLWithPath: dir + "/wiki.sql"))
        try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
        return dir
    }

    static func validate(_ args: [String]) async throws -> (Int32, JSONValue) {
        let out = try makeTempDir("result")
        let r = try await runCommand(ferry, ["restore", "validate", "--result-file", out + "/r.json"] + args, timeout: 30)
        let json = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: out + "/r.json"))) ?? Data()))) ?? .null
        return (r.status, json)
    }

    @Test("a good legacy package: what it holds, what it lacks, endpoints reached, volume space measured")
    func good() async throws {
        let servers = try await TestServers.shared()
        let pkg = try Self.legacyPackage()
        let volume = try makeTempDir("volume")
        let (status, json) = try await Self.validate(["--package", pkg, "--app-version", "6.4.1", "--folder", "files",
                                                       "--endpoint", "spec.mysql=127.0.0.1:\(servers.mysqlPort)", "--volume", "files[attachments]=\(volume)"])
        #expect(status == 0, "\(json)")
        let result = json["result"]
        #expect(result?[path: ["package", "mysql"]]?.arrayValue?.compactMap(\.stringValue).sorted() == ["project", "wiki"])
        #expect(result?["layout"]?.stringValue == "legacy")
        #expect(result?["notes"]?.arrayValue?.contains { $0.stringValue?.contains("plugin") == true } == true, "the missing plugin/ folder is reported: \(json)")
        #expect(result?["endpoints"]?.arrayValue?.first?.stringValue == "spec.mysql 127.0.0.1:\(servers.mysqlPort)")
        #expect((result?["volumes"]?.arrayValue?.first?["freePercent"]?.doubleValue ?? -1) > 0)
    }

    @Test("each failure names what and where, and says whether retrying can help")
    func failures() async throws {
        let pkg = try Self.legacyPackage()
        var (status, json) = try await Self.validate(["--package", pkg, "--app-version", "6.5.0"])
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("exported from version 6.4.1 but spec.appVersion is 6.5.0") == true, "\(json)")
        #expect(json["retryable"] == .bool(false))
        (status, json) = try await Self.validate(["--package", pkg, "--app-version", "6.5.0", "--allow-version-mismatch"])
        #expect(status == 0, "allowVersionMismatch lets it through: \(json)")

        let cut = try Self.legacyPackage(complete: false)
        (status, json) = try await Self.validate(["--package", cut, "--app-version", "6.4.1"])
        #expect(json["error"]?.stringValue?.contains("wiki.sql does not end with mysqldump's \"-- Dump completed\" line") == true, "\(json)")
        (status, json) = try await Self.validate(["--package", cut, "--app-version", "6.4.1", "--database", "project"])
        #expect(status == 0, "only the databases the spec names are checked: \(json)")

        (status, json) = try await Self.validate(["--package", pkg, "--app-version", "6.4.1", "--folder", "attachments"])
        #expect(json["error"]?.stringValue?.contains("has no folder attachments (spec.files[].from)") == true, "\(json)")

        (status, json) = try await Self.validate(["--package", pkg, "--app-version", "6.4.1", "--endpoint", "spec.redis=127.0.0.1:1"])
        #expect(json["error"]?.stringValue?.contains("spec.redis at 127.0.0.1:1 is not reachable") == true, "\(json)")
        #expect(json["retryable"] == .bool(true))

        let volume = try makeTempDir("volume")
        (status, json) = try await Self.validate(["--package", pkg, "--app-version", "6.4.1", "--volume", "files[attachments]=\(volume)", "--min-free-percent", "100"])
        #expect(json["error"]?.stringValue?.contains("volume files[attachments] (\(volume)) has") == true, "\(json)")
        #expect(json["error"]?.stringValue?.contains("at least 100% is needed") == true)

        // An unreadable folder (as nobody: root reads everything): named, not retried.
        let locked = try Self.legacyPackage()
        chmod(locked, 0o755)
        chmod(locked + "/files", 0o000)
        let out = try makeTempDir("result")
        chmod(out, 0o777)
        let r = try await runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Self.ferry, "restore", "validate",
                                                         "--package", locked, "--app-version", "6.4.1", "--folder", "files", "--result-file", out + "/r.json"], timeout: 30)
        #expect(r.status == 1, "\(r.combined)")
        let lockedJSON = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: out + "/r.json"))) ?? Data()))) ?? .null
        #expect(lockedJSON["error"]?.stringValue?.contains("\(locked)/files cannot be read (Permission denied)") == true, "\(lockedJSON)")
        #expect(lockedJSON["retryable"] == .bool(false))

        (status, json) = try await Self.validate(["--package", try makeTempDir("empty"), "--app-version", "6.4.1"])
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("bad package") == true, "\(json)")
    }
}
