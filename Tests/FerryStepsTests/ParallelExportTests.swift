import FerryProtocol
import Foundation
import ProcessSpawn
import Testing
import TestSupport

@testable import FerrySteps

/// The parallel export's pure parts: rows to LOAD DATA text, the protocol's parsers, the plan.
@Suite("parallel export: rows to LOAD DATA text, the protocol parsers, the part plan", .timeLimit(.minutes(1)))
struct ParallelExportUnitTests {
    /// A text-protocol row payload of `values`.
    static func payload(_ values: [[UInt8]?]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values {
            guard let v else { out.append(0xFB); continue }
            switch v.count {
            case ..<251: out.append(UInt8(v.count))
            case ..<65536: out += [0xFC, UInt8(v.count & 0xFF), UInt8(v.count >> 8)]
            default: out += [0xFD, UInt8(v.count & 0xFF), UInt8((v.count >> 8) & 0xFF), UInt8(v.count >> 16)]
            }
            out += v
        }
        return out
    }

    @Test("any row (NULL, 'NULL', '\\N', tabs, newlines, backslashes, NUL, long values) becomes exactly one line that reads back the same; fuzzed")
    func rowRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0, 9, 10, 13, 92, 78, 65, 0xFF, 0xC3, 0xA9, 32]
        let fixed: [[UInt8]?] = [nil, Array("NULL".utf8), Array("\\N".utf8), [], Array("a\tb\nc\\d".utf8), [0], Array("N".utf8)]
        var rows: [[[UInt8]?]] = [fixed]
        for _ in 0..<3000 {
            let columns = Int.random(in: 1...8, using: &rng)
            rows.append((0..<columns).map { _ in
                if Int.random(in: 0..<6, using: &rng) == 0 { return nil }
                let n = Int.random(in: 0..<(Int.random(in: 0..<50, using: &rng) == 0 ? 70_000 : 40), using: &rng)
                return (0..<n).map { _ in Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
            })
        }
        for row in rows {
            let p = Self.payload(row)
            let out = try p.withUnsafeBytes { raw -> [UInt8] in
                var buffer = [UInt8](repeating: 0, count: RowToTSV.bound(raw))
                let n = try buffer.withUnsafeMutableBytes { try RowToTSV.encode(raw, columns: row.count, into: $0.baseAddress!) }
                return Array(buffer[0..<n])
            }
            #expect(out.last == 10 && out.dropLast().allSatisfy { $0 != 10 }, "one row, one line")
            let back = RowToTSV.decode(out.dropLast())
            #expect(back == row, "\(row.map { $0.map { String(decoding: $0.prefix(20), as: UTF8.self) } ?? "NULL" })")
        }
        // A payload with more values than its columns, or cut inside one, is refused, never read past.
        let extra = Self.payload([Array("a".utf8), Array("b".utf8)])
        #expect(throws: (any Error).self) { try extra.withUnsafeBytes { raw in var b = [UInt8](repeating: 0, count: 64); _ = try b.withUnsafeMutableBytes { try RowToTSV.encode(raw, columns: 1, into: $0.baseAddress!) } } }
        let cut = Array(Self.payload([Array("abcdef".utf8)]).prefix(4))
        #expect(throws: (any Error).self) { try cut.withUnsafeBytes { raw in var b = [UInt8](repeating: 0, count: 64); _ = try b.withUnsafeMutableBytes { try RowToTSV.encode(raw, columns: 1, into: $0.baseAddress!) } } }
    }

    @Test("a byte to escape at every place in a value, and in every lane of the eight-byte scan, is escaped; a value of only such bytes too; a value's scan never takes the next value's bytes for its own")
    func escapedAtEveryPlace() throws {
        let escapes: [UInt8: [UInt8]] = [0: [92, 48], 9: [92, 116], 10: [92, 110], 92: [92, 92]]
        // The next value: one plain byte, or 24 bytes to escape, which a scan reading words past
        // the value's end would take for the value's own.
        let nexts: [([UInt8], [UInt8])] = [(Array("x".utf8), [120]), ((0..<24).map { [0, 9, 10, 92][$0 % 4] }, (0..<24).flatMap { escapes[[0, 9, 10, 92][$0 % 4]]! })]
        for length in 0...40 {
            for (next, nextEscaped) in nexts {
                let plain = (0..<length).map { [8, 11, 91, 93, 1, 0x8A, 0x89, 0xDC][$0 % 8] as UInt8 }
                let out = try Self.payload([plain, next]).withUnsafeBytes { raw -> [UInt8] in
                    var buffer = [UInt8](repeating: 0, count: RowToTSV.bound(raw))
                    let n = try buffer.withUnsafeMutableBytes { try RowToTSV.encode(raw, columns: 2, into: $0.baseAddress!) }
                    return Array(buffer[0..<n])
                }
                #expect(out == plain + [9] + nextEscaped + [10], "length \(length) without a byte to escape, next \(next.count) bytes")
            }
            for place in 0..<length {
                for (special, escaped) in escapes {
                    for (next, nextEscaped) in nexts {
                        // Neighbours one off the special bytes, which a careless word test could take for them.
                        var value = (0..<length).map { [8, 11, 91, 93, 1, 0x8A, 0x89, 0xDC][$0 % 8] as UInt8 }
                        value[place] = special
                        let p = Self.payload([value, next])
                        let out = try p.withUnsafeBytes { raw -> [UInt8] in
                            var buffer = [UInt8](repeating: 0, count: RowToTSV.bound(raw))
                            let n = try buffer.withUnsafeMutableBytes { try RowToTSV.encode(raw, columns: 2, into: $0.baseAddress!) }
                            return Array(buffer[0..<n])
                        }
                        let expected = Array(value[..<place]) + escaped + Array(value[(place + 1)...]) + [9] + nextEscaped + [10]
                        #expect(out == expected, "length \(length), \(special) at \(place), next \(next.count) bytes")
                    }
                }
            }
            guard length > 0 else { continue }
            let all = (0..<length).map { [0, 9, 10, 92][$0 % 4] as UInt8 }
            let out = try Self.payload([all]).withUnsafeBytes { raw -> [UInt8] in
                var buffer = [UInt8](repeating: 0, count: RowToTSV.bound(raw))
                let n = try buffer.withUnsafeMutableBytes { try RowToTSV.encode(raw, columns: 1, into: $0.baseAddress!) }
                return Array(buffer[0..<n])
            }
            #expect(out == all.flatMap { escapes[$0]! } + [10])
        }
    }

    @Test("the protocol's parsers never crash or read past a message, whatever a server sends; fuzzed")
    func parsersFuzz() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0..<120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty && Bool.random(using: &rng) { bytes[0] = [10, 0xFF, 0x00, 0xFE, 0xFB][Int.random(in: 0..<5, using: &rng)] }
            bytes.withUnsafeBytes { raw in
                _ = try? WirePackets.handshake(raw)
                _ = try? WirePackets.ok(raw)
                _ = try? WirePackets.serverError(raw)
                _ = try? WirePackets.columnName(raw)
                _ = try? WirePackets.row(raw, columns: Int.random(in: 1...5))
                _ = WirePackets.eofStatus(raw)
            }
        }
        // A real greeting (MariaDB 10.11's shape) reads back its scramble and plugin.
        var greeting: [UInt8] = [10] + Array("10.11.6-MariaDB".utf8) + [0, 7, 0, 0, 0] + Array(1...8) + [0, 0xFE, 0xF7, 8, 2, 0, 0xFF, 0x81, 21] + [UInt8](repeating: 0, count: 10)
        greeting += Array(9...20) + [0] + Array("mysql_native_password".utf8) + [0]
        let hello = greeting.withUnsafeBytes { try? WirePackets.handshake($0) }
        #expect(hello?.scramble == Array(1...20) && hello?.authPlugin == "mysql_native_password" && hello?.connectionID == 7, "\(String(describing: hello))")
        #expect(WirePackets.authResponse(plugin: "mysql_clear_password", password: "x", scramble: []) == nil, "a password is never sent in clear")
    }

    static func table(_ name: String, bytes: Int64, key: String? = "id", min: String? = "1", max: String? = "1000") -> PartsPlan.Table {
        .init(database: "app", name: name, columns: ["id", "v"], signature: "", dataBytes: bytes, key: key, minKey: min, maxKey: max)
    }

    @Test("the plan: a big table with an integer key is cut into ranges that cover every key once; others stay whole; file names are safe and unique")
    func plan() throws {
        let tables = [Self.table("big", bytes: 100 << 20), Self.table("nokey", bytes: 100 << 20, key: nil),
                      Self.table("../../etc/passwd", bytes: 10), Self.table("a/b", bytes: 10), Self.table("ÿ😀", bytes: 10),
                      Self.table("neg", bytes: 50 << 20, min: "-9223372036854775808", max: "9223372036854775807"),
                      Self.table("one", bytes: 50 << 20, min: "5", max: "5")]
        let plan = PartsPlan.make(tables, chunkBytes: 16 << 20)
        #expect(Set(plan.parts.map(\.file)).count == plan.parts.count, "unique files")
        #expect(plan.parts.allSatisfy { p in p.file.hasPrefix("mysql/app/") && !p.file.dropFirst(10).contains("/") && !p.file.contains("..") }, "\(plan.parts.map(\.file))")
        #expect(plan.parts.first?.estimatedBytes ?? 0 >= plan.parts.last?.estimatedBytes ?? 0, "biggest first")
        for name in ["big", "neg"] {
            let ranges = plan.parts.filter { $0.table == name }.sorted { (Int128($0.lower ?? "") ?? Int128.min) < (Int128($1.lower ?? "") ?? Int128.min) }
            #expect(ranges.count == (name == "big" ? 7 : 4), "\(name): \(ranges.count)")
            #expect(ranges.first?.lower == nil && ranges.last?.upper == nil, "the first and last ranges are open")
            for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upper == b.lower, "no gap, no overlap") }
            #expect(try PartsPlan.select(ranges[1]).contains("WHERE `id` >= \(ranges[1].lower!) AND `id` < \(ranges[1].upper!)"))
        }
        #expect(plan.parts.filter { $0.table == "nokey" }.count == 1 && plan.parts.filter { $0.table == "one" }.count == 1)
        #expect(try PartsPlan.select(plan.parts.first { $0.table == "a/b" }!) == "SELECT `id`, `v` FROM `app`.`a/b`")
        // Bounds from a tampered state file are read as numbers only.
        var tampered = plan.parts.first { $0.lower != nil }!
        tampered.lower = "1; DROP TABLE x"
        #expect(throws: StepError.self) { _ = try PartsPlan.select(tampered) }
        #expect(PartsPlan.folderProblem("a/b") != nil && PartsPlan.folderProblem("..") != nil && PartsPlan.folderProblem("shop") == nil)
        #expect(PartsPlan.chunkBytes(totalBytes: 1 << 40, parallelism: 2) == 256 << 20 && PartsPlan.chunkBytes(totalBytes: 1 << 20, parallelism: 8) == 4 << 20)
    }

    @Test("--parallelism auto: the server's cores (else this host's), at most 8, no more than the parts worth a connection")
    func autoParallelism() throws {
        let mib: Int64 = 1 << 20
        #expect(MySQLRestore.autoParallelism(serverCores: 4, localCores: 2, partBytes: [Int64](repeating: 64 * mib, count: 10)) == 4)
        #expect(MySQLRestore.autoParallelism(serverCores: nil, localCores: 2, partBytes: [Int64](repeating: 64 * mib, count: 10)) == 2)
        #expect(MySQLRestore.autoParallelism(serverCores: 64, localCores: 2, partBytes: [Int64](repeating: 64 * mib, count: 100)) == 8)
        #expect(MySQLRestore.autoParallelism(serverCores: 16, localCores: 2, partBytes: [64 * mib, mib, mib, mib]) == 1, "one big part and small ones")
        #expect(MySQLRestore.autoParallelism(serverCores: 16, localCores: 2, partBytes: []) == 1)
        #expect(try MySQLArguments(argv: MySQLArguments(package: "/p", database: "d", parallelism: 0).argv).parallelism == 0)
        #expect(MySQLArguments(package: "/p", database: "d", parallelism: 0).argv.joined(separator: " ").contains("--parallelism auto"))
    }

    @Test("progress: rows and bytes per second and the ETA from the tables' sizes")
    func rate() {
        let line = ExportRate.line(rows: 400_000, bytes: 40 << 20, totalBytes: 100 << 20, seconds: 2)
        #expect(line == "mysql: 400000 rows, 40.0 MiB (40% of about 100.0 MiB), 200000 rows/s, 20.0 MiB/s, ETA 3 s", "\(line)")
    }
}

/// The parallel export and the parts restore against the real MariaDB.
@Suite("parallel export and parts restore against MariaDB", .serialized, .timeLimit(.minutes(4)))
struct ParallelExportTests {
    static func sql(_ port: Int, _ statements: String) async throws -> String {
        let r = try await runCommand("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(port)", "-uroot", "-N", "-B"], input: statements)
        guard r.status == 0 else { throw MySQLRestoreTests.TestFailure("mariadb: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A database whose rows are as awkward as real ones get.
    static func makeHostile(_ port: Int, _ db: String, bigRows: Int) async throws {
        _ = try await sql(port, """
            SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', time_zone = '+05:00';
            CREATE DATABASE `\(db)` CHARACTER SET utf8mb4; USE `\(db)`;
            CREATE TABLE odd (
              id INT AUTO_INCREMENT PRIMARY KEY,
              s VARCHAR(40) CHARACTER SET utf8mb4 NULL,
              l VARCHAR(40) CHARACTER SET latin1 NULL,
              b BLOB NULL,
              bits BIT(12) NULL,
              d DATE NULL,
              ts TIMESTAMP NULL DEFAULT NULL,
              f DOUBLE NULL,
              m DECIMAL(30,10) NULL,
              gv INT AS (id * 2) VIRTUAL,
              gs VARCHAR(50) AS (CONCAT('g', s)) STORED,
              hidden INT INVISIBLE DEFAULT 7
            ) ENGINE=InnoDB;
            INSERT INTO odd (id, s, l, b, bits, d, ts, f, m, hidden) VALUES
              (0, 'zero id', 'caf\\xE9', NULL, b'101010101010', '0000-00-00', '2024-03-31 01:30:00', 1.5e300, -12345678901234567890.0123456789, 1),
              (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (2, 'NULL', 'NULL', 'NULL', b'0', '2024-02-29', '1970-01-01 05:00:01', -0.0, 0, 2),
              (3, '\\\\N', '\\\\N', '\\\\N', b'1', '9999-12-31', '2038-01-19 08:14:07', 3.141592653589793, 1, 3),
              (4, 'tab\\there\\nnewline\\\\back\\0nul\\rcr', 'a\\tb', 'x\\0y\\nz', b'111111111111', '1000-01-01', NULL, 1e-300, 0.0000000001, 4),
              (5, '😀 émoji ☃', 'ÿ', UNHEX('000102030405060708090A0B0C0D0E0F5C4E09FFFE'), b'100000000000', NULL, NULL, NULL, NULL, 5),
              (6, '', '', '', NULL, NULL, NULL, NULL, NULL, 6);
            UPDATE odd SET l = CONVERT(UNHEX('636166E9') USING latin1) WHERE id = 0;
            INSERT INTO odd (id, b) SELECT 100 + seq, UNHEX(LPAD(HEX(seq), 512, 'F0')) FROM seq_0_to_255;
            CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(100) NOT NULL, k INT NOT NULL, KEY (k)) ENGINE=InnoDB;
            INSERT INTO big SELECT CAST(seq AS SIGNED) * 3 - 1000, CONCAT(MD5(seq), '\\t', SHA1(seq)), seq % 977 FROM seq_1_to_\(bigRows);
            CREATE TABLE pair (a INT NOT NULL, b VARCHAR(10) NOT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB;
            INSERT INTO pair SELECT seq % 10, CONCAT('b', seq) FROM seq_1_to_500;
            CREATE TABLE nokey (v TEXT) ENGINE=InnoDB;
            INSERT INTO nokey SELECT REPEAT('n', seq % 300) FROM seq_1_to_300;
            CREATE TABLE empty (id INT PRIMARY KEY) ENGINE=InnoDB;
            CREATE TABLE my (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=MyISAM;
            INSERT INTO my VALUES (1, 'myisam');
            CREATE VIEW v_odd AS SELECT id, s FROM odd;
            ANALYZE TABLE big;
            """)
    }

    /// Every table's content, column by column in hex (invisible and generated columns included).
    static func fingerprint(_ port: Int, _ db: String) async throws -> String {
        let tables = try await sql(port, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(db)' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1").split(separator: "\n")
        var out = ""
        for t in tables {
            let cols = try await sql(port, "SELECT GROUP_CONCAT(CONCAT('COALESCE(HEX(`', COLUMN_NAME, '`), ''~NULL'')') ORDER BY ORDINAL_POSITION SEPARATOR ',') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '\(db)' AND TABLE_NAME = '\(t)'")
            out += "\(t): " + (try await sql(port, "SET time_zone = '+00:00'; SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', \(cols)) ORDER BY 1 SEPARATOR '\\n')), COUNT(*) FROM `\(db)`.`\(t)`")) + "\n"
        }
        return out
    }

    static func export(_ port: Int, _ dbs: [String], to output: String, chunk: Int64? = 64 << 10, parallelism: Int = 2, zstd: Bool = false) async throws -> PackageExporter.Summary {
        var mysql = ExportConfig.MySQL(host: "127.0.0.1", port: port, user: "root", databases: dbs, parallelism: parallelism)
        if zstd { mysql.compression = "zstd" }
        let config = ExportConfig(output: output, appVersion: "1", minFreePercent: 1, mysql: mysql)
        var exporter = PackageExporter(config: config, secrets: .init(mysqlPassword: ""), progress: ExportProgress(tty: false, write: { _ in }))
        exporter.partChunkBytes = chunk
        return try await exporter.run()
    }

    static func restore(_ port: Int, package: String, db: String, into target: String, parallelism: Int = 2) async throws -> MySQLResult {
        let pkg = try BackupPackage.open(package)
        let source = try pkg.mysql(db)
        let client = try MySQLClient(MySQLEndpoint(host: "127.0.0.1", port: port, user: "root", password: ""))
        var options = MySQLRestore.Options(dumpPath: source.dumpPath, database: target, parallelism: parallelism, expectedTables: source.expectedTables, expectedSHA256: source.sha256)
        options.packageDatabase = db
        options.parts = source.parts
        return try await MySQLRestore(client: client, options: options, say: { _ in }).run()
    }

    @Test("hostile rows (NULL and 'NULL' and '\\N', tabs, newlines, NUL, every byte in a BLOB, latin1, emoji, BIT, zero dates, id 0, generated and invisible columns, a MyISAM table, a view) survive export and restore exactly; big tables are cut into key ranges")
    func roundTrip() async throws {
        let servers = try await TestServers.shared()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let db = "par_\(tag)"
        try await Self.makeHostile(servers.mysqlPort, db, bigRows: 20_000)
        let output = try makeTempDir("parallel-export") + "/pkg"
        let summary = try await Self.export(servers.mysqlPort, [db], to: output)
        #expect(summary.mysql == [db])
        let manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")))
        let entry = try #require(manifest.mysql[db])
        #expect(entry.dump == "mysql/\(db)/schema.sql")
        let bigParts = (entry.parts ?? []).filter { $0.table == "big" }
        #expect(bigParts.count > 2, "the big table was cut: \(bigParts.map(\.file))")
        #expect(bigParts.reduce(0) { $0 + $1.rows } == 20_000 && entry.tables["big"]?.rows == 20_000)
        #expect(entry.tables["odd"]?.rows == 263 && entry.tables["empty"]?.rows == 0 && entry.tables["my"]?.rows == 1)
        #expect(entry.parts?.first { $0.table == "odd" }?.columns.contains("hidden") == true && entry.parts?.first { $0.table == "odd" }?.columns.contains("gv") == false,
                "invisible columns are read, generated ones left to the server")
        let files = try FileManager.default.subpathsOfDirectory(atPath: output)
        #expect(!files.contains { $0.hasSuffix(".part") }, "no half part left")
        let verify = PackageVerifier.verify(output)
        #expect(verify.ok, "\(verify.problems)")

        let target = "par_\(tag)_r"
        let result = try await Self.restore(servers.mysqlPort, package: output, db: db, into: target)
        #expect(result.method.contains("LOAD DATA LOCAL from") && result.rows == 20_000 + 263 + 500 + 300 + 1, "\(result)")
        let before = try await Self.fingerprint(servers.mysqlPort, db)
        let after = try await Self.fingerprint(servers.mysqlPort, target)
        #expect(before == after, "before:\n\(before)\nafter:\n\(after)")
        #expect(try await Self.sql(servers.mysqlPort, "SELECT COUNT(*) FROM `\(target)`.v_odd") == "263", "the view came with the schema")
        #expect(try await Self.sql(servers.mysqlPort, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '\(target)' AND TABLE_NAME = 'big' AND INDEX_NAME = 'k'") == "1", "the deferred index is back")
    }

    @Test("compression: zstd: every part is .tsv.zst, smaller, and restores exactly; a damaged one is refused before the database is touched")
    func compressed() async throws {
        let servers = try await TestServers.shared()
        let port = servers.mysqlPort
        let tag = UUID().uuidString.prefix(6).lowercased()
        let db = "parz_\(tag)"
        try await Self.makeHostile(port, db, bigRows: 10_000)
        let plain = try makeTempDir("parallel-plain") + "/pkg"
        let packed = try makeTempDir("parallel-zstd") + "/pkg"
        _ = try await Self.export(port, [db], to: plain)
        _ = try await Self.export(port, [db], to: packed, zstd: true)
        let m = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: packed + "/manifest.json")))
        let parts = try #require(m.mysql[db]?.parts)
        #expect(parts.allSatisfy { $0.file.hasSuffix(".tsv.zst") }, "\(parts.map(\.file))")
        #expect(PackageExporter.bytesAlreadyIn(packed + "/mysql") < PackageExporter.bytesAlreadyIn(plain + "/mysql") / 2)
        #expect(PackageVerifier.verify(packed).ok, "\(PackageVerifier.verify(packed).problems)")
        let target = "parz_\(tag)_r"
        _ = try await Self.restore(port, package: packed, db: db, into: target)
        #expect(try await Self.fingerprint(port, db) == Self.fingerprint(port, target))

        // Damaged inside, its sha256 made to agree: zstd's own check names it.
        let part = parts.first { $0.table == "big" }!
        let path = packed + "/" + part.file
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        var edited = m
        edited.sha256[part.file] = String(try await runCommand("/usr/bin/sha256sum", [path]).stdout.prefix(64))
        try ManifestBuilder.writeJSON(edited, to: packed + "/manifest.json")
        let before = try await Self.fingerprint(port, target)
        do {
            _ = try await Self.restore(port, package: packed, db: db, into: target)
            Issue.record("a damaged compressed part must be refused")
        } catch {
            #expect("\(error)".contains(part.file) && "\(error)".contains("Nothing was changed"), "\(error)")
        }
        #expect(try await Self.fingerprint(port, target) == before)
    }

    @Test("a table altered after the snapshot is refused by name; a part whose rows differ from the manifest, or cut short, fails the restore by name before the database is touched; a row twice stops the step without a retry")
    func refusals() async throws {
        let servers = try await TestServers.shared()
        let port = servers.mysqlPort
        let tag = UUID().uuidString.prefix(6).lowercased()
        let db = "parx_\(tag)"
        try await Self.makeHostile(port, db, bigRows: 3000)

        // Altered between the snapshot and the read of its rows.
        let output0 = try makeTempDir("parallel-alter") + "/pkg"
        let client = try MySQLClient(MySQLEndpoint(host: "127.0.0.1", port: port, user: "root", password: ""))
        let endpoint = client.endpoint
        let (parts, _) = try await ProcessSpawn.onThread {
            try PartsExport.prepare(endpoint: endpoint, client: client, databases: [db], packageRoot: output0, parallelism: 2, previous: nil, pending: true, say: { _ in })
        }
        _ = try await Self.sql(port, "ALTER TABLE `\(db)`.pair ADD COLUMN extra INT")
        let pairPart = try #require(parts.saved.plan.parts.first { $0.table == "pair" })
        do {
            // The snapshot may still read the old columns (an instant ALTER); then the last look refuses it.
            _ = try parts.pool!.with { try parts.write(pairPart, on: $0) }
        } catch {
            #expect("\(error)".contains("\(db).pair") && "\(error)".contains("altered"), "\(error)")
        }
        var manifest = PackageManifest()
        do {
            try parts.finish(&manifest)
            Issue.record("the last look must find the altered table")
        } catch {
            #expect("\(error)".contains("\(db).pair") && "\(error)".contains("altered during the export"), "\(error)")
        }
        _ = try await Self.sql(port, "ALTER TABLE `\(db)`.pair DROP COLUMN extra")

        // A good export, restored once: the target holds it.
        let output = try makeTempDir("parallel-bad") + "/pkg"
        _ = try await Self.export(port, [db], to: output, chunk: 32 << 10)
        let target = "parx_\(tag)_r"
        _ = try await Self.restore(port, package: output, db: db, into: target)
        let good = try await Self.fingerprint(port, target)

        let manifestPath = output + "/manifest.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: manifestPath))
        let m = try JSONDecoder().decode(PackageManifest.self, from: original)
        let part = try #require(m.mysql[db]?.parts?.first { $0.table == "big" })
        let path = output + "/" + part.file
        let text = try Data(contentsOf: URL(fileURLWithPath: path))
        defer { try? text.write(to: URL(fileURLWithPath: path)); try? original.write(to: URL(fileURLWithPath: manifestPath)) }

        /// Writes `data` as the part and the manifest as `edit` makes it, the part's sha256 made to agree.
        func plant(_ data: Data, _ edit: (inout PackageManifest) -> Void = { _ in }) throws {
            try data.write(to: URL(fileURLWithPath: path))
            var edited = m
            edit(&edited)
            edited.sha256[part.file] = try PartsCheck.read(path).sha256
            try ManifestBuilder.writeJSON(edited, to: manifestPath)
        }

        // One row gone, the sha256 in the manifest made to agree: only the count tells.
        let lines = text.split(separator: 10, omittingEmptySubsequences: false)
        try plant(Data(lines.dropFirst().joined(separator: [10])))
        do {
            _ = try await Self.restore(port, package: output, db: db, into: target)
            Issue.record("a part with a row missing must be refused")
        } catch {
            #expect("\(error)".contains(part.file) && "\(error)".contains("holds \(part.rows - 1) rows, the manifest says \(part.rows)") && "\(error)".contains("Nothing was changed"), "\(error)")
            #expect((error as? StepError)?.changedNothing == true, "\(error)")
        }
        #expect(try await Self.fingerprint(port, target) == good, "the target was not touched")

        // Cut inside a row.
        let cut = text.prefix(text.count - 3)
        try plant(cut)
        do {
            _ = try await Self.restore(port, package: output, db: db, into: target)
            Issue.record("a part cut short must be refused")
        } catch {
            #expect("\(error)".contains("\(part.file) ends inside a row"), "\(error)")
        }
        #expect(try await Self.fingerprint(port, target) == good, "the target was not touched")

        // A column the schema's table does not have (a manifest edited by hand): refused before the drop.
        try plant(text) { $0.mysql[db]!.parts = m.mysql[db]!.parts!.map { p in var p = p; if p.file == part.file { p.columns[1] = "nope" }; return p } }
        do {
            _ = try await Self.restore(port, package: output, db: db, into: target)
            Issue.record("a part naming a column the table lacks must be refused")
        } catch {
            #expect("\(error)".contains("\(part.file) holds columns nope") && "\(error)".contains("Nothing was changed"), "\(error)")
        }
        #expect(try await Self.fingerprint(port, target) == good, "the target was not touched")

        // A row twice (its key taken), rows and sha256 made to agree: the checks pass, the server
        // skips the copy with a warning after the drop, and the step stops for good, naming both.
        try plant(Data(lines[0] + [10] + text)) {
            $0.mysql[db]!.parts = m.mysql[db]!.parts!.map { p in var p = p; if p.file == part.file { p.rows += 1 }; return p }
            $0.mysql[db]!.tables["big"]!.rows += 1
        }
        do {
            _ = try await Self.restore(port, package: output, db: db, into: target)
            Issue.record("a part holding a row twice must fail the restore")
        } catch {
            let e = error as? StepError
            #expect(e?.isRetryable == false && e?.changedNothing == false, "not tried again; the database was dropped: \(error)")
            #expect("\(error)".contains(part.file) && "\(error)".contains("Duplicate entry") && "\(error)".contains("ferry.dev/rerun"), "\(error)")
        }
        try text.write(to: URL(fileURLWithPath: path))

        // A state file naming a part outside its folder is refused, nothing written there.
        var outside = pairPart
        outside.file = "mysql/\(db)/../../escaped.tsv"
        let (again, _) = try await ProcessSpawn.onThread {
            try PartsExport.prepare(endpoint: endpoint, client: client, databases: [db], packageRoot: output0, parallelism: 1, previous: nil, pending: true, say: { _ in })
        }
        defer { again.pool?.close() }
        #expect(throws: StepError.self) { _ = try again.pool!.with { try again.write(outside, on: $0) } }
        #expect(!FileManager.default.fileExists(atPath: (output0 as NSString).deletingLastPathComponent + "/escaped.tsv"))

        // Cut inside a row again, for --verify.
        try plant(cut)

        // --verify and validate say the same.
        let report = PackageVerifier.verify(output)
        #expect(report.problems.contains { $0.contains(part.file) && $0.contains("ends inside a row") }, "\(report.problems)")
    }
}

/// Resuming the parallel export on a server with a binary log (the replication pair's source).
// The pair is shared with the replication suites, which take turns with it: the limit covers the wait.
@Suite("parallel export: killed mid-part, resumed", .serialized, .takingTurns)
struct ParallelExportResumeTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    @Test("killed in the middle of a part: the rerun continues the parts when the server wrote nothing, writes them all again when it did, and never records a half part")
    func killMidPart() async throws {
        try await ReplicationPair.exclusive { pair in
            let tag = UUID().uuidString.prefix(6).lowercased()
            let db = "res_\(tag)"
            var script = "CREATE DATABASE `\(db)`; USE `\(db)`;"
            for i in 0..<6 { script += "CREATE TABLE t\(i) (id INT PRIMARY KEY, v VARCHAR(60)); INSERT INTO t\(i) SELECT seq, MD5(seq) FROM seq_1_to_\(5000 + i * 1000);" }
            _ = try await pair.sql(pair.sourcePort, script)
            let dir = try makeTempDir("parallel-resume")
            let output = dir + "/pkg"
            let config = dir + "/export.yaml"
            try "output: \(output)\nappVersion: '1'\nminFreePercent: 1\nmysql: {host: 127.0.0.1, port: \(pair.sourcePort), user: root, databases: [\(db)], parallelism: 2}\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            func done() -> [String] {
                guard let data = FileManager.default.contents(atPath: output + "/" + PackageExporter.stateFile),
                      let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
                return json["done"] as? [String] ?? []
            }
            func killed(_ name: String) async throws {
                let fp = try makeTempDir("failpoint-\(name)")
                let r = try await runCommand(Self.ferry, ["export", "--config", config], environment: ["FERRY_TEST_FAILPOINT": "export-mid-part:kill:\(fp)"], timeout: 120)
                #expect(r.status != 0 && FileManager.default.fileExists(atPath: fp + "/export-mid-part.fired"), "killed mid-part: \(r.combined)")
                #expect(done().count >= 1, "parts finished before the kill: \(done())")
                #expect(!done().contains { $0.hasSuffix(".part") })
                let verify = try await runCommand(Self.ferry, ["export", "--verify", output])
                #expect(verify.status != 0 && verify.stdout.contains("unfinished export"), "\(verify.combined)")
            }

            try await killed("a")
            let before = done()
            let resumed = try await runCommand(Self.ferry, ["export", "--config", config, "--json"], timeout: 120)
            #expect(resumed.status == 0, "\(resumed.combined)")
            #expect(resumed.stderr.contains("the server wrote nothing since the interrupted export") && resumed.stderr.contains("continuing its parts"), "\(resumed.stderr)")
            #expect(resumed.stderr.components(separatedBy: "(done before)").count - 1 >= before.count, "\(before.count) parts taken from the first run: \(resumed.stderr)")
            let files = try FileManager.default.subpathsOfDirectory(atPath: output)
            #expect(!files.contains { $0.hasSuffix(".part") }, "\(files)")
            #expect(PackageVerifier.verify(output).ok, "\(PackageVerifier.verify(output).problems)")

            // Again, with a write on the source between the kill and the rerun.
            try FileManager.default.removeItem(atPath: output)
            try await killed("b")
            _ = try await pair.sql(pair.sourcePort, "INSERT INTO `\(db)`.t0 VALUES (999999, 'after the kill')")
            let again = try await runCommand(Self.ferry, ["export", "--config", config], timeout: 120)
            #expect(again.status == 0, "\(again.combined)")
            #expect(again.stderr.contains("the server wrote since the interrupted export") && again.stderr.contains("writing every MySQL part again"), "\(again.stderr)")
            let m = try JSONDecoder().decode(PackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")))
            #expect(m.mysql[db]?.tables["t0"]?.rows == 5001, "the row written after the kill is in the package")
            #expect(m.mysqlSnapshot?.binlogFile != nil && m.mysqlSnapshot?.gtid?.isEmpty == false, "\(String(describing: m.mysqlSnapshot))")
            #expect(PackageVerifier.verify(output).ok, "\(PackageVerifier.verify(output).problems)")
        }
    }
}
