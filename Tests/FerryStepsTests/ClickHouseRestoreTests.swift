import Foundation
import FerrySteps
import KubeClient
import Testing
import TestSupport

/// `ferry restore clickhouse` against a real ClickHouse 18.16: a partitioned
/// source table is exported into a package, restored into another database,
/// and compared by count, per-partition rows and a content hash.
@Suite("ferry restore clickhouse against ClickHouse", .timeLimit(.minutes(3)))
struct ClickHouseRestoreTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    static func admin(_ servers: TestServers) throws -> ClickHouseClient {
        try ClickHouseClient(ClickHouseEndpoint(url: servers.clickhouseURL, user: "ferry", password: "s3cret pass"))
    }

    static func unique(_ prefix: String) -> String { "\(prefix)_\(UUID().uuidString.prefix(6).lowercased())" }

    /// A partitioned MergeTree table (three monthly partitions) with awkward strings
    /// (tabs, newlines, backslashes, quotes, UTF-8), `rows` rows of `width`-byte padding.
    static func makeSource(_ ch: ClickHouseClient, database: String, rows: Int, width: Int = 20) async throws {
        try await ch.query("CREATE DATABASE \(database)")
        try await ch.query("CREATE TABLE \(database).events (d Date, id UInt64, msg String, note Nullable(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
        try await ch.query("""
            INSERT INTO \(database).events SELECT toDate('2024-01-01') + (number % 90), number,
              concat(toString(number), arrayStringConcat(arrayMap(x -> 'x', range(\(width))))),
              if(number % 7 = 0, NULL, 'n') FROM system.numbers LIMIT \(rows)
            """)
        try await ch.query("INSERT INTO \(database).events VALUES ('2024-02-02', 99999999, 'tab\\there\\nnewline \\\\ back ''quote'' 日本語', 'x')")
    }

    /// Exports `db.events` into a new Ferry-layout package.
    static func makePackage(_ ch: ClickHouseClient, table: String) async throws -> (String, PackageManifest) {
        let package = try makeTempDir("chpkg")
        let (entry, sha) = try await ClickHouseExport.exportTable(table, client: ch, packageRoot: package)
        let manifest = PackageManifest(clickhouse: [table: entry], sha256: [entry.data: sha])
        try ManifestBuilder.writeJSON(manifest, to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(clickhouse: [table])), to: package + "/ferry-package.json")
        return (package, manifest)
    }

    /// Rewrites the package so its table lives in `target` (the test restores next to the source).
    static func retarget(_ package: String, _ manifest: PackageManifest, from source: String, to target: String) throws -> String {
        let old = "\(source).events", new = "\(target).events"
        var m = manifest
        var entry = m.clickhouse.removeValue(forKey: old)!
        let schemaPath = package + "/" + entry.schema
        let schema = try String(contentsOfFile: schemaPath, encoding: .utf8).replacingOccurrences(of: "CREATE TABLE \(old)", with: "CREATE TABLE \(new)")
        entry.schema = "clickhouse/\(new).sql"
        try Data(schema.utf8).write(to: URL(fileURLWithPath: package + "/" + entry.schema))
        m.clickhouse[new] = entry
        try ManifestBuilder.writeJSON(m, to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(clickhouse: [new])), to: package + "/ferry-package.json")
        return new
    }

    static func restore(_ servers: TestServers, package: String, table: String, user: String = "ferry", password: String = "s3cret pass", extra: [String] = []) async throws -> (Int32, JSONValue, String) {
        let dir = try makeTempDir("result")
        let r = try await runCommand(ferry, ["restore", "clickhouse", "--package", package, "--table", table, "--url", servers.clickhouseURL,
                                             "--result-file", dir + "/result.json"] + extra,
                                     environment: ["FERRY_CLICKHOUSE_USERNAME": user, "FERRY_CLICKHOUSE_PASSWORD": password], timeout: 150)
        let json = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: dir + "/result.json"))) ?? Data()))) ?? .null
        return (r.status, json, r.combined)
    }

    /// count, per-partition rows and an order-independent content hash.
    static func fingerprint(_ ch: ClickHouseClient, _ table: String) async throws -> String {
        try await ch.query("SELECT toYYYYMM(d) AS p, count(), sum(cityHash64(d, id, msg, note)) FROM \(table) GROUP BY p ORDER BY p")
    }

    @Test("a partitioned table restores over HTTP in parallel blocks: rows, partitions and content equal the source; the result names the partitions verified")
    func partitionedRestore() async throws {
        let servers = try await TestServers.shared()
        let ch = try Self.admin(servers)
        let source = Self.unique("chsrc"), target = Self.unique("chdst")
        try await Self.makeSource(ch, database: source, rows: 30_000)
        let (package, manifest) = try await Self.makePackage(ch, table: "\(source).events")
        #expect(manifest.clickhouse["\(source).events"]?.partitions?.count == 3)
        let table = try Self.retarget(package, manifest, from: source, to: target)

        let (status, json, output) = try await Self.restore(servers, package: package, table: table, extra: ["--max-insert-block-size", "4000", "--parallelism", "3"])
        #expect(status == 0, "\(output)")
        #expect(json["ok"] == .bool(true), "\(json)")
        let result = json["result"]
        #expect(result?["rows"]?.intValue == 30_001)
        #expect(result?["partitions"]?.intValue == 3)
        #expect(result?["blockSize"]?.intValue == 4000)
        #expect(try await Self.fingerprint(ch, table) == (try await Self.fingerprint(ch, "\(source).events")))

        // Restoring again replaces, never doubles.
        let (again, _, out2) = try await Self.restore(servers, package: package, table: table)
        #expect(again == 0, "\(out2)")
        #expect(try await ch.query("SELECT count() FROM \(table)").trimmingCharacters(in: .whitespacesAndNewlines) == "30001")
    }

    @Test("out of memory (user with a 30 MB limit): the table is recreated and sent again with smaller blocks, the result says so, and no row is doubled")
    func memoryLimitRetry() async throws {
        let servers = try await TestServers.shared()
        let ch = try Self.admin(servers)
        let source = Self.unique("chsrc"), target = Self.unique("chdst")
        try await Self.makeSource(ch, database: source, rows: 60_000, width: 300)
        let (package, manifest) = try await Self.makePackage(ch, table: "\(source).events")
        let table = try Self.retarget(package, manifest, from: source, to: target)
        try await ch.query("CREATE DATABASE \(target)")  // the `small` user may not create databases on its own in every setup

        let (status, json, output) = try await Self.restore(servers, package: package, table: table, user: "small", password: "",
                                                            extra: ["--max-insert-block-size", "160000", "--parallelism", "1"])
        #expect(status == 0, "\(output)")
        let result = json["result"]
        let retries = result?["retries"]?.arrayValue ?? []
        #expect(!retries.isEmpty, "expected at least one memory-limit retry: \(json)")
        #expect(retries.first?.stringValue?.contains("memory limit at 160000 rows per block") == true)
        #expect((result?["blockSize"]?.intValue ?? 0) < 160_000)
        #expect(output.contains("memory limit at 160000 rows per block"))
        #expect(try await Self.fingerprint(ch, table) == (try await Self.fingerprint(ch, "\(source).events")))
    }

    @Test("a data file that changed after export, a row count that differs, or a schema for another table: refused before the existing table is touched")
    func badPackages() async throws {
        let servers = try await TestServers.shared()
        let ch = try Self.admin(servers)
        let source = Self.unique("chsrc"), target = Self.unique("chdst")
        try await Self.makeSource(ch, database: source, rows: 1000)
        let (package, manifest) = try await Self.makePackage(ch, table: "\(source).events")
        let table = try Self.retarget(package, manifest, from: source, to: target)
        // A sentinel: the target table exists with one row; a refused restore must leave it.
        try await ch.query("CREATE DATABASE \(target)")
        try await ch.query("CREATE TABLE \(table) (d Date, id UInt64, msg String, note Nullable(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id")
        try await ch.query("INSERT INTO \(table) VALUES ('2024-01-01', 1, 'sentinel', NULL)")
        let entry = try #require(try BackupPackage.open(package).clickhouse(table))

        // 1. one byte changed → sha256 mismatch.
        var data = try Data(contentsOf: URL(fileURLWithPath: entry.dataPath))
        let original = data
        data[10] = data[10] == UInt8(ascii: "7") ? UInt8(ascii: "8") : UInt8(ascii: "7")
        try data.write(to: URL(fileURLWithPath: entry.dataPath))
        var (status, json, _) = try await Self.restore(servers, package: package, table: table)
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("sha256") == true, "\(json)")

        // 2. a row missing, manifest re-signed but the row count stale.
        try original.prefix(upTo: original.lastIndex(of: 10, before: original.count - 1)! + 1).write(to: URL(fileURLWithPath: entry.dataPath))
        var m = try #require(try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: package + "/manifest.json"))))
        m.sha256[entry.entry.data] = try ManifestBuilder.sha256(of: entry.dataPath)
        try ManifestBuilder.writeJSON(m, to: package + "/manifest.json")
        (status, json, _) = try await Self.restore(servers, package: package, table: table)
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("holds 1000 rows but the manifest says 1001") == true, "\(json)")

        // 3. a schema that creates some other table.
        try original.write(to: URL(fileURLWithPath: entry.dataPath))
        m.sha256[entry.entry.data] = try ManifestBuilder.sha256(of: entry.dataPath)
        try ManifestBuilder.writeJSON(m, to: package + "/manifest.json")
        try Data("CREATE TABLE other.thing (x UInt8) ENGINE = Memory".utf8).write(to: URL(fileURLWithPath: entry.schemaPath))
        (status, json, _) = try await Self.restore(servers, package: package, table: table)
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("is not a CREATE TABLE \(table)") == true, "\(json)")

        #expect(try await ch.query("SELECT msg FROM \(table)").trimmingCharacters(in: .whitespacesAndNewlines) == "sentinel")

        // 4. wrong password → a message naming the Secret, table untouched.
        try await Self.retargetSchemaBack(entry.schemaPath, table: table)
        (status, json, _) = try await Self.restore(servers, package: package, table: table, password: "wrong")
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("credentials Secret") == true, "\(json)")
        #expect(try await ch.query("SELECT msg FROM \(table)").trimmingCharacters(in: .whitespacesAndNewlines) == "sentinel")
    }

    static func retargetSchemaBack(_ path: String, table: String) async throws {
        try Data("CREATE TABLE \(table) (d Date, id UInt64, msg String, note Nullable(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id".utf8)
            .write(to: URL(fileURLWithPath: path))
    }
}

private extension Data {
    func lastIndex(of byte: UInt8, before end: Int) -> Int? {
        var i = end - 1
        while i >= 0 {
            if self[self.startIndex + i] == byte { return i }
            i -= 1
        }
        return nil
    }
}
