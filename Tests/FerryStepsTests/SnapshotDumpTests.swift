@testable import FerrySteps
import FerryProtocol
import Foundation
import Testing

/// Cutting one consistent `--databases` dump into one dump per database, and GTID positions.
@Suite("Snapshot dump and GTID positions")
struct SnapshotDumpTests {
    struct Cut {
        var gtidPosition: String
        var databases: [String: String]
    }

    /// The cut of `text`, each database's dump as text.
    static func split(_ text: String, expected: [String]) throws -> Cut {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            let s = try SnapshotDump.split(raw, expected: expected)
            return Cut(gtidPosition: s.gtidPosition, databases: Dictionary(uniqueKeysWithValues: s.databases.keys.map { name in
                (name, SnapshotDump.pieces(s, database: name).map { String(decoding: raw[$0], as: UTF8.self) }.joined())
            }))
        }
    }

    static let header = """
        -- MariaDB dump 10.19
        /*!40101 SET NAMES utf8mb4 */;
        -- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;

        """
    static func database(_ quoted: String, _ body: String) -> String {
        "\n--\n-- Current Database: `\(quoted)`\n--\n\nCREATE DATABASE `\(quoted)`;\nUSE `\(quoted)`;\n\(body)\n"
    }
    static let footer = """

        -- SET GLOBAL gtid_slave_pos='0-1-42,1-7-3';
        /*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
        /*!40101 SET SQL_MODE=@OLD_SQL_MODE */;

        -- Dump completed on 2026-11-30 20:00:00

        """

    @Test("each database gets the header, its own part and the footer; the GTID position is read; a backtick in a name is unescaped")
    func split() throws {
        let text = Self.header + Self.database("shop", "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);") + Self.database("we``ird", "CREATE TABLE u (id INT);") + Self.footer
        let s = try Self.split(text, expected: ["shop", "we`ird"])
        #expect(s.gtidPosition == "0-1-42,1-7-3")
        let shop = try #require(s.databases["shop"])
        #expect(shop.hasPrefix("-- MariaDB dump") && shop.contains("INSERT INTO t VALUES (1)") && !shop.contains("CREATE TABLE u"))
        #expect(shop.contains("-- Dump completed") && shop.contains("SET TIME_ZONE=@OLD_TIME_ZONE"))
        let weird = try #require(s.databases["we`ird"])
        #expect(weird.contains("CREATE TABLE u") && !weird.contains("INSERT INTO t"))
    }

    @Test("refused: no completion line, no GTID position, a database missing or extra or twice, a position that is not one")
    func refusals() {
        let good = Self.header + Self.database("shop", "") + Self.footer
        #expect(throws: StepError.self) { try Self.split(good.replacingOccurrences(of: "-- Dump completed", with: "-- cut"), expected: ["shop"]) }
        #expect(throws: StepError.self) { try Self.split(good.replacingOccurrences(of: "gtid_slave_pos", with: "x"), expected: ["shop"]) }
        #expect(throws: StepError.self) { try Self.split(good, expected: ["shop", "crm"]) }
        #expect(throws: StepError.self) { try Self.split(good, expected: []) }
        #expect(throws: StepError.self) { try Self.split(Self.header + Self.database("shop", "") + Self.database("shop", "") + Self.footer, expected: ["shop"]) }
        #expect(throws: StepError.self) { try Self.split(good.replacingOccurrences(of: "0-1-42,1-7-3", with: "0-1-42;DROP DATABASE x"), expected: ["shop"]) }
        // Only what is inside the quotes is the position.
        #expect((try? Self.split(good.replacingOccurrences(of: "0-1-42,1-7-3", with: "0-1-42'; DROP DATABASE x; --"), expected: ["shop"]))?.gtidPosition == "0-1-42")
        // A row cannot pose as the position: only a line of its own counts.
        let posing = Self.header + Self.database("shop", "INSERT INTO t VALUES ('-- SET GLOBAL gtid_slave_pos=\\'9-9-9\\'');")
            + Self.footer.replacingOccurrences(of: "-- SET GLOBAL gtid_slave_pos='0-1-42,1-7-3';\n", with: "")
        #expect(throws: StepError.self) { try Self.split(posing, expected: ["shop"]) }
    }

    @Test("generated dumps: every database comes back whole, whatever its name and body")
    func fuzz() throws {
        var state: UInt64 = 7
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(n)) }
        let alphabet = Array("ab_-`é1 ;'\"")
        for _ in 0..<200 {
            var names: [String] = []
            while names.count < 1 + next(4) {
                let name = String((0..<(1 + next(8))).map { _ in alphabet[next(alphabet.count)] })
                if !names.contains(name) { names.append(name) }
            }
            let bodies = names.map { _ in (0..<next(4)).map { "INSERT INTO t VALUES (\($0), 'x\\n--y');" }.joined(separator: "\n") }
            let text = Self.header + zip(names, bodies).map { Self.database($0.replacingOccurrences(of: "`", with: "``"), $1) }.joined() + Self.footer
            let s = try Self.split(text, expected: names)
            for (n, b) in zip(names, bodies) {
                let part = s.databases[n] ?? ""
                #expect(part.contains("USE `\(n.replacingOccurrences(of: "`", with: "``"))`;") && (b.isEmpty || part.contains(b)), "\(n)")
                #expect(zip(names, bodies).allSatisfy { $0.0 == n || $0.1.isEmpty || !part.contains($0.1 + "\n\n--\n-- Current") }, "\(n) holds only its own part")
            }
        }
    }

    @Test("GTID positions: parsed per domain; how far behind a replica is, summed over domains; garbage is not a position")
    func gtid() throws {
        let source = try #require(GTIDPosition("0-1-100,2-5-7"))
        #expect(source.text == "0-1-100,2-5-7")
        #expect(source.transactionsAhead(of: try #require(GTIDPosition("0-1-90"))) == 17)
        #expect(source.transactionsAhead(of: try #require(GTIDPosition("0-1-120,2-5-7"))) == 0)
        #expect(GTIDPosition("")?.domains.isEmpty == true)
        for bad in ["0-1", "a-b-c", "0-1-2,0-1-3", "0-1--2", "0-1-2;DROP"] { #expect(GTIDPosition(bad) == nil, "\(bad)") }
    }
}
