import Foundation
import FerrySteps
import KubeClient
import ProcessSpawn
import Testing
import TestSupport

/// `ferry restore mysql` against a real MariaDB, as a hostile or careless
/// package would have it: a restore touches only its database, whatever the
/// dump holds; triggers, foreign keys and character sets survive; no password
/// is left on disk.
@Suite("ferry restore mysql: data safety against MariaDB", .serialized, .timeLimit(.minutes(6)))
struct MySQLSafetyTests {
    typealias T = MySQLRestoreTests

    /// A legacy package (`info.json` + `<db>.sql`) holding `dump` as `<name>.sql`.
    static func legacyPackage(_ name: String, dump: String) throws -> String {
        let package = try makeTempDir("legacy-safety")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        try Data(dump.utf8).write(to: URL(fileURLWithPath: "\(package)/\(name).sql"))
        return package
    }

    /// The checksums of a CHECKSUM TABLE answer, without the table names (which carry the database).
    static func sums(_ text: String) -> [String] {
        text.split(separator: "\n").map { String($0.split(separator: "\t").last ?? "") }
    }

    /// A sentinel database the restores must never touch, with its checksum.
    static func sentinel(_ servers: TestServers) async throws -> (String, String) {
        let name = T.unique("sentinel")
        try await T.sql(servers, "CREATE DATABASE `\(name)`; CREATE TABLE `\(name)`.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(name)`.t VALUES (1,'keep'),(2,'me');")
        return (name, try await T.sql(servers, "CHECKSUM TABLE `\(name)`.t;"))
    }

    @Test("a dump reaching into another database (DROP DATABASE, INSERT INTO other.t, USE other, CREATE USER … GRANT) is refused before anything is dropped; the other database and the server's users are untouched")
    func hostileDumps() async throws {
        let servers = try await TestServers.shared()
        let (other, before) = try await Self.sentinel(servers)
        let user = "evil_\(UUID().uuidString.prefix(6).lowercased())"
        let table = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\nINSERT INTO `t` VALUES (1),(2);\n"
        let attacks = [
            "DROP DATABASE `\(other)`;",
            "INSERT INTO `\(other)`.`t` VALUES (3,'x');",
            "USE `\(other)`;\nDROP TABLE IF EXISTS `t`;",
            "CREATE USER '\(user)'@'%' IDENTIFIED BY 'x';\nGRANT ALL ON *.* TO '\(user)'@'%';",
            "/*!40101 SET GLOBAL read_only = 1 */;",
            "INSERT INTO `t` VALUES ((SELECT COUNT(*) FROM `\(other)`.`t`));",
            // A view or trigger over another database of this server (only the server knows its databases).
            "CREATE VIEW `v` AS SELECT * FROM `\(other)`.`t`;",
            "DELIMITER ;;\nCREATE TRIGGER `tr` AFTER INSERT ON `t` FOR EACH ROW DELETE FROM `\(other)`.`t`;;\nDELIMITER ;",
            // The client would run this as a shell command without --binary-mode.
            "SET @a = 1 /*!00000 \\! touch /tmp/ferry-pwned */;",
            // A comment hides a quote from a careless scanner; the client sees the DROP.
            "SET @a = 1 # '\n; DROP DATABASE IF EXISTS `\(other)`; -- '\n;",
        ]
        for attack in attacks {
            let target = T.unique("victim")
            try await T.sql(servers, "CREATE DATABASE `\(target)`; CREATE TABLE `\(target)`.keep (id INT); INSERT INTO `\(target)`.keep VALUES (42);")
            let dump = "-- MariaDB dump\n/*!40101 SET NAMES utf8mb4 */;\n\(table)\(attack)\n-- Dump completed on 2026-11-30\n"
            let package = try Self.legacyPackage(target, dump: dump)
            let (status, result, output) = try await T.restore(servers, package: package, database: target, target: target)
            #expect(status != 0, "\(attack) was run: \(output)")
            let error = result["error"]?.stringValue ?? ""
            #expect(error.contains("\(target).sql:"), "names file and line: \(error)")
            #expect(result["changed"]?.boolValue == false, "refused before anything changed")
            #expect(try await T.sql(servers, "SELECT id FROM `\(target)`.keep;") == "42", "the target database was not dropped")
            #expect(try await T.sql(servers, "CHECKSUM TABLE `\(other)`.t;") == before)
            #expect(try await T.sql(servers, "SELECT COUNT(*) FROM mysql.user WHERE user = '\(user)';") == "0")
            #expect(try await T.sql(servers, "SELECT @@GLOBAL.read_only;") == "0")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/ferry-pwned"), "no shell command ran")
            _ = try await T.sql(servers, "DROP DATABASE `\(target)`;")
        }
    }

    @Test("a mysqldump --databases dump of two databases with --add-drop-database is refused naming both; neither is dropped")
    func multiDatabaseDump() async throws {
        let servers = try await TestServers.shared()
        let (wiki, other) = (T.unique("wiki"), T.unique("other"))
        for db in [wiki, other] {
            try await T.sql(servers, "CREATE DATABASE `\(db)`; CREATE TABLE `\(db)`.t (id INT PRIMARY KEY); INSERT INTO `\(db)`.t VALUES (1),(2),(3);")
        }
        let otherBefore = try await T.sql(servers, "CHECKSUM TABLE `\(other)`.t;")
        let package = try makeTempDir("multi")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        let r = try await runCommand("/usr/bin/mysqldump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "--add-drop-database",
                                                            "--databases", wiki, other, "--result-file=\(package)/\(wiki).sql"])
        #expect(r.status == 0, "\(r.stderr)")
        let (status, result, _) = try await T.restore(servers, package: package, database: wiki, target: wiki)
        #expect(status != 0)
        #expect(result["error"]?.stringValue?.contains("holds 2 databases (\(wiki), \(other))") == true, "\(result)")
        #expect(try await T.sql(servers, "SELECT COUNT(*) FROM `\(wiki)`.t;") == "3")
        #expect(try await T.sql(servers, "CHECKSUM TABLE `\(other)`.t;") == otherBefore)
        // validate says the same before anything is stopped.
        let v = try await runCommand(T.ferry, ["restore", "validate", "--package", package, "--app-version", "6.4.1", "--result-file", package + "/v.json"], timeout: 60)
        #expect(v.status != 0 && v.combined.contains("holds 2 databases"), "\(v.combined)")
        for db in [wiki, other] { _ = try await T.sql(servers, "DROP DATABASE `\(db)`;") }
    }

    @Test("a trigger that is the first object after the data restores (its saved sql_mode is set in the same session); a rerun restores again")
    func triggerFirst() async throws {
        let servers = try await TestServers.shared()
        let source = T.unique("trg")
        try await T.sql(servers, """
            CREATE DATABASE `\(source)`; USE `\(source)`;
            SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';
            CREATE TABLE a (id INT PRIMARY KEY, n INT) ENGINE=InnoDB;
            INSERT INTO a VALUES (1, 1), (2, 2);
            CREATE TRIGGER a_bump BEFORE INSERT ON a FOR EACH ROW SET NEW.n = NEW.n + 100;
            CREATE TABLE b (id INT PRIMARY KEY) ENGINE=InnoDB;
            INSERT INTO b VALUES (7);
            """)
        let package = try makeTempDir("trigger-first")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        let r = try await runCommand("/usr/bin/mysqldump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", "--triggers", source, "--result-file=\(package)/\(source).sql"])
        #expect(r.status == 0)
        let text = try String(contentsOfFile: "\(package)/\(source).sql", encoding: .utf8)
        #expect(!text.contains("CREATE ALGORITHM") && !text.contains("PROCEDURE"), "no view or routine comes before the trigger")
        let target = T.unique("trg_dst")
        for run in 1...2 {
            let (status, result, output) = try await T.restore(servers, package: package, database: source, target: target)
            #expect(status == 0, "run \(run): \(output)")
            #expect(result["ok"]?.boolValue == true)
        }
        #expect(try await T.sql(servers, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(target)';") == "a_bump")
        _ = try await T.sql(servers, "INSERT INTO `\(target)`.a VALUES (3, 3);")
        #expect(try await T.sql(servers, "SELECT n FROM `\(target)`.a WHERE id = 3;") == "103", "the trigger works")
        for db in [source, target] { _ = try await T.sql(servers, "DROP DATABASE `\(db)`;") }
    }

    @Test("deferred indexes on a foreign-key parent never deadlock with its child's loads (parallelism 3, many small runs, three restores)")
    func foreignKeyParentIndexes() async throws {
        let servers = try await TestServers.shared()
        let source = T.unique("fk")
        try await T.sql(servers, """
            CREATE DATABASE `\(source)`; USE `\(source)`;
            CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(80) NOT NULL, name VARCHAR(80), KEY by_email (email), KEY by_name (name)) ENGINE=InnoDB;
            INSERT INTO users SELECT seq, CONCAT('u', seq, '@x'), CONCAT('name ', seq) FROM seq_1_to_30000;
            CREATE TABLE tasks (id INT PRIMARY KEY, user_id INT NOT NULL, title VARCHAR(80), KEY by_title (title),
              CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id)) ENGINE=InnoDB;
            INSERT INTO tasks SELECT seq, 1 + seq % 30000, CONCAT('task ', seq) FROM seq_1_to_60000;
            CREATE TABLE notes (id INT PRIMARY KEY, task_id INT NOT NULL, body VARCHAR(80), KEY by_body (body),
              CONSTRAINT fk_task FOREIGN KEY (task_id) REFERENCES tasks (id)) ENGINE=InnoDB;
            INSERT INTO notes SELECT seq, 1 + seq % 60000, CONCAT('note ', seq) FROM seq_1_to_30000;
            """)
        let package = try makeTempDir("fk")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        try await T.dump(servers, source, to: "\(package)/\(source).sql")
        let want = try await T.sql(servers, "CHECKSUM TABLE users, tasks, notes;", database: source)
        let target = T.unique("fk_dst")
        for run in 1...3 {
            let (status, result, output) = try await T.restore(servers, package: package, database: source, target: target, extra: ["--parallelism", "3", "--chunk-bytes", "65536"])
            #expect(status == 0, "run \(run): \(output.suffix(2000))")
            #expect(result[path: ["result", "deferredIndexes"]]?.intValue == 1, "users' indexes were deferred: \(result)")
        }
        let got = try await T.sql(servers, "CHECKSUM TABLE users, tasks, notes;", database: target)
        #expect(Self.sums(got) == Self.sums(want))
        #expect(try await T.sql(servers, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '\(target)' AND INDEX_NAME IN ('by_email', 'by_name');") == "2")
        for db in [source, target] { _ = try await T.sql(servers, "DROP DATABASE `\(db)`;") }
    }

    @Test("a plain per-database dump (no CREATE DATABASE) keeps the replaced database's character set, not the server's latin1")
    func characterSetKept() async throws {
        let servers = try await TestServers.shared()
        let source = T.unique("cs")
        try await T.sql(servers, "CREATE DATABASE `\(source)` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; CREATE TABLE `\(source)`.t (id INT PRIMARY KEY, s VARCHAR(20)); INSERT INTO `\(source)`.t VALUES (1, '日本');")
        let package = try makeTempDir("charset")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        let r = try await runCommand("/usr/bin/mysqldump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot", source, "--result-file=\(package)/\(source).sql"])
        #expect(r.status == 0)
        #expect(try String(contentsOfFile: "\(package)/\(source).sql", encoding: .utf8).contains("CREATE DATABASE") == false)
        let target = T.unique("cs_dst")
        try await T.sql(servers, "CREATE DATABASE `\(target)` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
        let (status, result, output) = try await T.restore(servers, package: package, database: source, target: target)
        #expect(status == 0, "\(output)")
        #expect(try await T.sql(servers, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(target)';") == "utf8mb4\tutf8mb4_unicode_ci")
        #expect(result[path: ["result", "databaseCharset"]]?.stringValue?.contains("kept from the database it replaced") == true, "\(result)")
        for db in [source, target] { _ = try await T.sql(servers, "DROP DATABASE `\(db)`;") }
    }

    @Test("generated dumps: every mariadb-dump option mix restores to equal CHECKSUMs, touching no other database", arguments: [
        ["--databases"], ["--databases", "--add-drop-database"], ["--routines", "--triggers", "--events"], ["--hex-blob", "--complete-insert"],
        ["--skip-extended-insert"], ["--insert-ignore"], ["--replace", "--databases"], ["--no-autocommit", "--skip-add-locks"],
        ["--skip-set-charset", "--tz-utc"], ["--opt", "--routines", "--databases", "--add-drop-database", "--hex-blob"],
    ] as [[String]])
    func optionMixes(options: [String]) async throws {
        let servers = try await TestServers.shared()
        let (other, before) = try await Self.sentinel(servers)
        let source = T.unique("mix")
        try await T.sql(servers, """
            CREATE DATABASE `\(source)` DEFAULT CHARACTER SET utf8mb4; USE `\(source)`;
            CREATE TABLE p (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, data BLOB, flag BIT(3), KEY by_name (name)) ENGINE=InnoDB;
            INSERT INTO p (name, data, flag) SELECT CONCAT('n;(', seq, ')'), UNHEX(MD5(seq)), seq % 8 FROM seq_1_to_2000;
            CREATE TABLE c (id INT PRIMARY KEY, p_id INT NOT NULL, note TEXT, CONSTRAINT fk_p FOREIGN KEY (p_id) REFERENCES p (id)) ENGINE=InnoDB;
            INSERT INTO c SELECT seq, 1 + seq % 2000, IF(seq % 5 = 0, NULL, 'it''s\\t"quoted"') FROM seq_1_to_3000;
            CREATE VIEW v AS SELECT p.name, COUNT(c.id) AS n FROM p JOIN c ON c.p_id = p.id GROUP BY p.name;
            CREATE TRIGGER c_touch BEFORE UPDATE ON c FOR EACH ROW SET NEW.note = NEW.note;
            CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
            CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM c WHERE id < 0;
            """)
        let package = try makeTempDir("mix")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        let databaseArgs = options.contains("--databases") ? [] : [source]
        let r = try await runCommand("/usr/bin/mariadb-dump", ["--no-defaults", "-h127.0.0.1", "-P\(servers.mysqlPort)", "-uroot"] + options
                                     + databaseArgs + (options.contains("--databases") ? [source] : []) + ["--result-file=\(package)/\(source).sql"])
        #expect(r.status == 0, "\(r.stderr)")
        let want = try await T.sql(servers, "CHECKSUM TABLE p, c;", database: source)
        let target = T.unique("mix_dst")
        let (status, result, output) = try await T.restore(servers, package: package, database: source, target: target, extra: ["--parallelism", "3"])
        // A --databases dump names its source database: restored under another name, its CREATE DATABASE and USE are not run.
        #expect(status == 0, "\(options): \(output.suffix(1500))")
        #expect(result["ok"]?.boolValue == true)
        let got = try await T.sql(servers, "CHECKSUM TABLE p, c;", database: target)
        #expect(Self.sums(got) == Self.sums(want), "\(options)")
        #expect(try await T.sql(servers, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(source)';") == "1")
        _ = try await T.sql(servers, "DROP DATABASE `\(target)`;")
        #expect(try await T.sql(servers, "CHECKSUM TABLE `\(other)`.t;") == before, "\(options): another database changed")
        _ = try await T.sql(servers, "DROP DATABASE IF EXISTS `\(source)`; DROP DATABASE `\(other)`;")
    }

    @Test("a restore killed with SIGKILL mid-import leaves no password on disk")
    func noPasswordOnDisk() async throws {
        let servers = try await TestServers.shared()
        let password = "pw-\(UUID().uuidString.prefix(8))"
        let user = "ferry_\(UUID().uuidString.prefix(6).lowercased())"
        let source = T.unique("kill")
        try await T.sql(servers, """
            CREATE USER '\(user)'@'%' IDENTIFIED BY '\(password)'; GRANT ALL ON *.* TO '\(user)'@'%';
            CREATE DATABASE `\(source)`; USE `\(source)`; CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(200));
            INSERT INTO t SELECT seq, REPEAT('x', 200) FROM seq_1_to_400000;
            """)
        let package = try makeTempDir("kill")
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        try await T.dump(servers, source, to: "\(package)/\(source).sql")
        let tmp = try makeTempDir("kill-tmp")
        let secrets = try makeTempDir("kill-secret")
        try Data(user.utf8).write(to: URL(fileURLWithPath: secrets + "/username"))
        try Data(password.utf8).write(to: URL(fileURLWithPath: secrets + "/password"))
        let target = T.unique("kill_dst")
        let process = try ProcessSpawn.spawn(T.ferry, ["restore", "mysql", "--package", package, "--database", source, "--target-database", target,
                                                       "--port", "\(servers.mysqlPort)", "--credentials-dir", secrets, "--result-file", tmp + "/r.json"],
                                             environment: ["TMPDIR": tmp, "PATH": "/usr/bin:/bin"],
                                             fileActions: [.open(1, path: "/dev/null", flags: O_WRONLY, mode: 0), .open(2, path: "/dev/null", flags: O_WRONLY, mode: 0)])
        // Wait until it is importing (the target database exists), then kill it.
        let importing = try await eventually(timeout: 60, interval: 0.05) {
            (try? await T.sql(servers, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(target)';")) == "1"
        }
        #expect(importing)
        kill(process, SIGKILL)
        _ = ProcessSpawn.waitStatus(process)
        let found = try await runCommand("/usr/bin/grep", ["-rl", "--", password, tmp])
        #expect(found.stdout.isEmpty, "a password was left in \(found.stdout)")
        _ = try await T.sql(servers, "DROP DATABASE IF EXISTS `\(target)`; DROP DATABASE `\(source)`; DROP USER '\(user)'@'%';")
    }
}
