import Foundation
@testable import FerrySteps
import KubeClient
import Testing
import TestSupport

/// `ferry restore mysql` against a real MariaDB: a source database is dumped
/// with mysqldump into a package, restored under another name, and compared.
@Suite("ferry restore mysql against MariaDB", .timeLimit(.minutes(3)))
struct MySQLRestoreTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    /// Runs SQL on the test server as root.
    static func sql(_ servers: TestServers, _ statements: String, database: String? = nil) async throws -> String {
        var args = ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "-N", "-B"]
        if let database { args.append("--database=\(database)") }
        let r = try await runCommand("/usr/bin/mariadb", args, input: statements)
        guard r.status == 0 else { throw TestFailure("mariadb failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// A source database with awkward data: quotes, backslashes, newlines, tabs, ';' and ')' in
    /// strings, NULL vs empty, UTF-8, binary bytes, an AUTO_INCREMENT table of 20,000 rows with a
    /// secondary index, a foreign key, an empty table, a view and a trigger.
    static func makeSource(_ servers: TestServers, _ name: String) async throws {
        try await sql(servers, """
        CREATE DATABASE `\(name)` DEFAULT CHARACTER SET utf8mb4;
        USE `\(name)`;
        CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT, photo BLOB,
          created TIMESTAMP NOT NULL DEFAULT '2024-01-01 00:00:00', KEY by_name (name)) ENGINE=InnoDB;
        INSERT INTO customers (name, note, photo) VALUES
          ('O''Brien', 'line1\\nline2\\ttab \\\\ backslash; ), (', UNHEX('00FF27225C0A1A')),
          ('日本語 ✓', NULL, NULL), ('', '', '');
        INSERT INTO customers (name, note) SELECT CONCAT('c', seq), REPEAT(MD5(seq), 3) FROM seq_1_to_20000;
        CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2),
          CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB;
        INSERT INTO orders SELECT seq, 1 + seq % 20000, seq * 1.5 FROM seq_1_to_5000;
        CREATE TABLE empty_one (id INT PRIMARY KEY) ENGINE=InnoDB;
        CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 7000;
        CREATE TRIGGER orders_audit BEFORE UPDATE ON orders FOR EACH ROW SET NEW.amount = NEW.amount;
        """)
    }

    static func dump(_ servers: TestServers, _ database: String, to path: String) async throws {
        let r = try await runCommand("/usr/bin/mysqldump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot",
                                                            "--single-transaction", "--triggers", "--routines", "--databases", database, "--result-file=\(path)"])
        guard r.status == 0 else { throw TestFailure("mysqldump failed: \(r.stderr)") }
    }

    static func unique(_ prefix: String) -> String { "\(prefix)_\(UUID().uuidString.prefix(6).lowercased())" }

    /// Runs `ferry restore mysql`; returns the exit status and the JSON result.
    static func restore(_ servers: TestServers, package: String, database: String, target: String, extra: [String] = []) async throws -> (Int32, JSONValue, String) {
        let dir = try makeTempDir("result")
        let r = try await runCommand(ferry, ["restore", "mysql", "--package", package, "--database", database, "--target-database", target,
                                             "--port", "\(servers.mysqlPort)", "--result-file", dir + "/result.json"] + extra,
                                     environment: ["FERRY_MYSQL_USERNAME": "root", "FERRY_MYSQL_PASSWORD": "", "PATH": "/usr/bin:/bin"], timeout: 120)
        let json = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: dir + "/result.json"))) ?? Data()))) ?? .null
        return (r.status, json, r.combined)
    }

    static func checksums(_ servers: TestServers, _ db: String) async throws -> [String] {
        let out = try await sql(servers, "CHECKSUM TABLE customers, orders, empty_one;", database: db)
        return out.split(separator: "\n").map { $0.split(separator: "\t").dropFirst().joined(separator: "\t") }
    }

    @Test("a legacy package (base64 info.json, plain mysqldump) restores in parallel: CHECKSUM TABLE equals the source; views, triggers, foreign keys and deferred indexes are back")
    func legacyParallel() async throws {
        let servers = try await TestServers.shared()
        let source = Self.unique("src")
        let target = Self.unique("dst")
        try await Self.makeSource(servers, source)
        let package = try makeTempDir("legacy")
        try await Self.dump(servers, source, to: "\(package)/\(source).sql")
        try Data(Data(#"{"version":"6.4.1","host":"old-box"}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        // Small runs so 20,000 rows are spread over several connections.
        let (status, result, output) = try await Self.restore(servers, package: package, database: source, target: target, extra: ["--parallelism", "3", "--chunk-bytes", "65536"])
        #expect(status == 0, "\(output)")
        #expect(result["ok"] == true)
        #expect(result[path: ["result", "rows"]]?.intValue == 25003)
        #expect(result[path: ["result", "tables"]]?.intValue == 3)
        #expect(result[path: ["result", "deferredIndexes"]]?.intValue == 1)
        #expect(result[path: ["result", "method"]]?.stringValue == "LOAD DATA LOCAL")
        #expect(try await Self.checksums(servers, target) == Self.checksums(servers, source))
        // The same through the dump's own INSERT statements.
        let viaInsert = Self.unique("ins")
        let (s2, r2, o2) = try await Self.restore(servers, package: package, database: source, target: viaInsert, extra: ["--parallelism", "2", "--chunk-bytes", "65536", "--insert-statements"])
        #expect(s2 == 0, "\(o2)")
        #expect(r2[path: ["result", "method"]]?.stringValue == "INSERT statements")
        #expect(try await Self.checksums(servers, viaInsert) == Self.checksums(servers, source))
        _ = try await Self.sql(servers, "DROP DATABASE `\(viaInsert)`;")
        let objects = try await Self.sql(servers, """
        SELECT COUNT(*) FROM information_schema.views WHERE table_schema = '\(target)';
        SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = '\(target)';
        SELECT COUNT(*) FROM information_schema.referential_constraints WHERE constraint_schema = '\(target)';
        SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = '\(target)' AND index_name = 'by_name';
        SELECT name FROM `\(target)`.customers WHERE id = 2;
        """)
        #expect(objects.split(separator: "\n") == ["1", "1", "1", "1", "日本語 ✓"])
        #expect(output.contains("restored and verified 3 tables"))
        _ = try await Self.sql(servers, "DROP DATABASE `\(source)`; DROP DATABASE `\(target)`;")
    }

    /// The server's count of InnoDB bulk-insert operations (MariaDB 10.6+).
    static func bulkOperations(_ servers: TestServers) async throws -> Int {
        Int(try await sql(servers, "SHOW GLOBAL STATUS LIKE 'Innodb_bulk_operations'").split(separator: "\t").last ?? "") ?? -1
    }

    /// With unique and foreign key checks off, MariaDB 10.6+ loads an empty table in bulk-insert
    /// mode under a lock on the whole table: a big table's runs waited on each other, and two
    /// that started at once deadlocked (ERROR 1213 restoring 1,000,000 rows). Each way rows are
    /// sent must leave `Innodb_bulk_operations` unchanged. Another suite's load can raise the
    /// server-wide count meanwhile, so a way gets three tries; with the checks off, every
    /// restore raised it (by 2 on each of the three ways, LOAD DATA LOCAL included). First, the
    /// counter is shown to count: one INSERT into an empty table with both checks off raises it.
    @Test("no way of loading rows (data parts, LOAD DATA from a dump, the dump's INSERTs) puts InnoDB in bulk-insert mode, whose table lock made a big table's parallel runs wait or deadlock")
    func noBulkInsertMode() async throws {
        let servers = try await TestServers.shared()
        let source = Self.unique("blk")
        let counted = try await Self.bulkOperations(servers)
        try #require(counted >= 0, "the server has no Innodb_bulk_operations (MariaDB 10.6+)")
        _ = try await Self.sql(servers, """
            CREATE DATABASE `\(source)`; SET SESSION unique_checks = 0, foreign_key_checks = 0;
            CREATE TABLE `\(source)`.control (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO `\(source)`.control VALUES (1);
            DROP DATABASE `\(source)`;
            """)
        try #require(try await Self.bulkOperations(servers) > counted, "an INSERT into an empty table with both checks off is a bulk operation")
        try await Self.makeSource(servers, source)
        let legacy = try makeTempDir("bulk")
        try await Self.dump(servers, source, to: "\(legacy)/\(source).sql")
        try Data(Data(#"{"version":"6.4.1"}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: legacy + "/info.json"))
        let parts = try makeTempDir("bulk-parts") + "/pkg"
        _ = try await ParallelExportTests.export(servers.mysqlPort, [source], to: parts)
        let ways: [(String, String, [String])] = [
            ("data parts", parts, ["--parallelism", "3"]),
            ("LOAD DATA from a dump", legacy, ["--parallelism", "3", "--chunk-bytes", "65536"]),
            ("the dump's INSERTs", legacy, ["--parallelism", "3", "--chunk-bytes", "65536", "--insert-statements"]),
        ]
        for (way, package, extra) in ways {
            var rises: [Int] = []
            for _ in 0..<3 {
                let target = Self.unique("blt")
                let before = try await Self.bulkOperations(servers)
                let (status, _, output) = try await Self.restore(servers, package: package, database: source, target: target, extra: extra)
                let after = try await Self.bulkOperations(servers)
                #expect(status == 0, "\(way): \(output)")
                #expect(try await Self.checksums(servers, target) == Self.checksums(servers, source), "\(way)")
                _ = try await Self.sql(servers, "DROP DATABASE `\(target)`;")
                rises.append(after - before)
                if after == before { break }
            }
            #expect(rises.last == 0, "\(way): Innodb_bulk_operations rose by \(rises) in \(rises.count) restores")
        }
        _ = try await Self.sql(servers, "DROP DATABASE `\(source)`;")
    }

    /// A dump whose rows break a UNIQUE key (an old server's MyISAM table, a dump edited by
    /// hand) fails the same way on every try: the step stops at once, says the database was
    /// changed and names the duplicate, on LOAD DATA (where the server only warns) and INSERTs.
    @Test("rows that break a UNIQUE key stop the restore without a retry, naming the duplicate, whether sent as LOAD DATA or as the dump's INSERTs")
    func duplicateKeyNotRetried() async throws {
        let servers = try await TestServers.shared()
        let source = Self.unique("dup")
        _ = try await Self.sql(servers, """
            CREATE DATABASE `\(source)`; USE `\(source)`;
            CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(60) NOT NULL, KEY by_email (email)) ENGINE=InnoDB;
            INSERT INTO people SELECT seq, CONCAT('user', seq % 4000, '@example.com') FROM seq_1_to_5000;
            """)
        let package = try makeTempDir("dupkey")
        let dump = "\(package)/\(source).sql"
        try await Self.dump(servers, source, to: dump)
        let text = try String(contentsOfFile: dump, encoding: .utf8)
        #expect(text.contains("KEY `by_email`"))
        try text.replacingOccurrences(of: "  KEY `by_email`", with: "  UNIQUE KEY `by_email`").write(toFile: dump, atomically: true, encoding: .utf8)
        try Data(Data(#"{"version":"6.4.1"}"#.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        for (way, extra) in [("LOAD DATA", ["--chunk-bytes", "65536"]), ("INSERT statements", ["--chunk-bytes", "65536", "--insert-statements"])] {
            let target = Self.unique("dpt")
            let (status, result, output) = try await Self.restore(servers, package: package, database: source, target: target, extra: ["--parallelism", "2"] + extra)
            #expect(status != 0, "\(way): \(output)")
            #expect(result["ok"] == false && result["retryable"] == false && result["changed"] == true, "\(way): \(result)")
            let error = result["error"]?.stringValue ?? ""
            #expect(error.contains("Duplicate entry") && error.contains("people") && error.contains("ferry.dev/rerun"), "\(way): \(error)")
            if way == "LOAD DATA" { #expect(error.contains("skipped rows whose key was already taken"), "the server's warnings were read: \(error)") }
            _ = try await Self.sql(servers, "DROP DATABASE IF EXISTS `\(target)`;")
        }
        _ = try await Self.sql(servers, "DROP DATABASE `\(source)`;")
    }

    @Test("a load failure is permanent only on the client's own error line for a refused row, never on text the statement echoes; a duplicate-key warning is found among others")
    func loadFailureKinds() {
        func kind(_ stderr: String) -> String { "\(MySQLRestore.loadFailure("loading t", stderr: stderr))".hasPrefix("the target refused") ? "badData" : "target" }
        #expect(kind("ERROR 1062 (23000) at line 13: Duplicate entry 'a' for key 'u'") == "badData")
        #expect(kind("(1,'x'), (2,'ERROR 1062 (23000)')\nERROR 1205 (HY000) at line 9: Lock wait timeout exceeded") == "target", "an echoed value is not the error")
        #expect(kind("INSERT INTO t VALUES ('ERROR 1366 ')\nERROR 2013 (HY000): Lost connection to server during query") == "target")
        for code in [1048, 1264, 1292, 1366, 1406] { #expect(kind("ERROR \(code) (22007) at line 1: refused") == "badData", "\(code)") }
        #expect(kind("") == "target")
        let warnings = "Level\tCode\tMessage\nWarning\t1265\tData truncated for column 'v' at row 1\nWarning\t1062\tDuplicate entry 'é' for key 'u'\n"
        #expect(MySQLRestore.duplicateWarning(warnings) == "Duplicate entry 'é' for key 'u'")
        #expect(MySQLRestore.duplicateWarning("Level\tCode\tMessage\nWarning\t1265\tData truncated\n") == nil)
        #expect(MySQLRestore.duplicateWarning("") == nil)
    }

    /// A Ferry-layout package of one database, with its manifest.
    static func ferryPackage(_ servers: TestServers, source: String) async throws -> String {
        let package = try makeTempDir("ferrypkg")
        try FileManager.default.createDirectory(atPath: package + "/mysql", withIntermediateDirectories: true)
        let rel = "mysql/\(source).sql"
        try await Self.dump(servers, source, to: "\(package)/\(rel)")
        let entry = try ManifestBuilder.mysqlEntry(dumpPath: "\(package)/\(rel)", relativePath: rel)
        let manifest = PackageManifest(mysql: [source: entry], sha256: [rel: try ManifestBuilder.sha256(of: "\(package)/\(rel)")])
        try ManifestBuilder.writeJSON(manifest, to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(mysql: [source])), to: package + "/ferry-package.json")
        return package
    }

    @Test("Ferry layout: verified against the manifest; every bad package fails with a clear message and leaves the target database untouched")
    func badPackages() async throws {
        let servers = try await TestServers.shared()
        let source = Self.unique("src")
        try await Self.makeSource(servers, source)
        let good = try await Self.ferryPackage(servers, source: source)
        let target = Self.unique("dst")
        let (status, result, output) = try await Self.restore(servers, package: good, database: source, target: target)
        #expect(status == 0, "\(output)")
        #expect(result[path: ["result", "verified"]]?.stringValue?.contains("match the manifest") == true)

        // The target of every bad case holds a sentinel that must survive.
        let kept = Self.unique("kept")
        _ = try await Self.sql(servers, "CREATE DATABASE `\(kept)`; CREATE TABLE `\(kept)`.sentinel (id INT); INSERT INTO `\(kept)`.sentinel VALUES (42);")
        func expectRefused(_ package: String, _ fragment: String, _ comment: Comment) async throws {
            let (status, result, output) = try await Self.restore(servers, package: package, database: source, target: kept)
            #expect(status == 1, comment)
            #expect(result["ok"] == false, comment)
            let message = result["error"]?.stringValue ?? ""
            #expect(message.contains(fragment), "\(comment): \(message) \(output)")
            #expect(try await Self.sql(servers, "SELECT id FROM `\(kept)`.sentinel") == "42", comment)
        }
        func copy(_ mutate: (String) throws -> Void) throws -> String {
            let dir = try makeTempDir("bad")
            try FileManager.default.removeItem(atPath: dir)
            try FileManager.default.copyItem(atPath: good, toPath: dir)
            try mutate(dir)
            return dir
        }
        let dumpRel = "mysql/\(source).sql"
        // A dump cut off before mysqldump finished (and the manifest updated to match it).
        try await expectRefused(try copy { dir in
            let path = dir + "/" + dumpRel
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let cut = data.range(of: Data("-- Dump completed".utf8))!.lowerBound
            try data[..<cut].write(to: URL(fileURLWithPath: path))
            var m = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
            m.sha256[dumpRel] = try ManifestBuilder.sha256(of: path)
            try ManifestBuilder.writeJSON(m, to: dir + "/manifest.json")
        }, "Dump completed", "a dump without the completion line")
        // A dump changed after export.
        try await expectRefused(try copy { dir in
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/" + dumpRel))
            try h.seekToEnd()
            try h.write(contentsOf: Data("-- extra\n".utf8))
            try h.close()
        }, "sha256", "a dump whose sha256 differs from the manifest")
        // A structure digest that does not match.
        try await expectRefused(try copy { dir in
            var m = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
            m.mysql[source]?.tables["orders"]?.structureDigest = String(repeating: "0", count: 64)
            try ManifestBuilder.writeJSON(m, to: dir + "/manifest.json")
        }, "structure digest", "a digest mismatch")
        // Paths that escape the package: '..', absolute, and a symlink to outside.
        for bad in ["../outside.sql", "/etc/passwd", "mysql/link.sql"] {
            try await expectRefused(try copy { dir in
                if bad == "mysql/link.sql" { try FileManager.default.createSymbolicLink(atPath: dir + "/mysql/link.sql", withDestinationPath: good + "/" + dumpRel) }
                var m = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
                m.mysql[source]?.dump = bad
                try ManifestBuilder.writeJSON(m, to: dir + "/manifest.json")
            }, bad == "/etc/passwd" ? "absolute paths are not allowed" : (bad.hasPrefix("..") ? "escapes the package" : "outside the package"), "path \(bad)")
        }
        // No metadata at all.
        try await expectRefused(try copy { dir in
            try FileManager.default.removeItem(atPath: dir + "/ferry-package.json")
        }, "missing metadata", "a package without metadata")
        // Metadata that is not JSON.
        try await expectRefused(try copy { dir in
            try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir + "/ferry-package.json"))
        }, "ferry-package.json is not valid JSON", "unreadable metadata")
        // An unreachable server: refused before anything (nothing to drop).
        let (s2, r2, _) = try await Self.restore(servers, package: good, database: source, target: kept, extra: ["--host", "127.0.0.1", "--port", "1"])
        #expect(s2 == 1 && (r2["error"]?.stringValue ?? "").contains("cannot reach MySQL"))
        #expect(try await Self.sql(servers, "SELECT id FROM `\(kept)`.sentinel") == "42")
        _ = try await Self.sql(servers, "DROP DATABASE `\(source)`; DROP DATABASE `\(target)`; DROP DATABASE `\(kept)`;")
    }
}
