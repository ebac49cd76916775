import FerryProtocol
@testable import FerrySteps
import Foundation
import KubeClient
import Testing

/// `spec.mysql.external` in the data plane: the endpoint the old tool's info.json names, and
/// which address and schemas validate checks. Pure parts; the servers are in the end-to-end suite.
@Suite("external database: info.json and the endpoint validate checks")
struct ExternalDatabaseTests {
    func info(_ json: String) throws -> JSONValue { try JSONWire.parse(Array(json.utf8)) }

    @Test("info.json names the external database in each shape the old tool wrote; a mysql object without external: true, or no host, names none")
    func shapes() throws {
        typealias D = PackageMetadata.ExternalDatabase
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_mysql":{"host":"db.corp","port":"3307","databases":["crm","wiki"]}}"#)) == D(host: "db.corp", port: 3307, databases: ["crm", "wiki"]))
        #expect(LegacyInfo.externalMySQL(try info(#"{"externalMysql":{"host":"db.corp:3308","schemas":["crm"]}}"#)) == D(host: "db.corp", port: 3308, databases: ["crm"]))
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_database":"10.0.0.5:3306"}"#)) == D(host: "10.0.0.5", port: 3306))
        #expect(LegacyInfo.externalMySQL(try info(#"{"externalDatabase":"[fd00::5]:3309"}"#)) == D(host: "fd00::5", port: 3309))
        #expect(LegacyInfo.externalMySQL(try info(#"{"externalDatabase":"fd00::5"}"#)) == D(host: "fd00::5"))
        #expect(LegacyInfo.externalMySQL(try info(#"{"mysql":{"external":true,"host":"rds.example","port":3306}}"#)) == D(host: "rds.example", port: 3306))
        #expect(LegacyInfo.externalMySQL(try info(#"{"mysql":{"host":"localhost","port":3306}}"#)) == nil)
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_mysql":{"port":3306}}"#)) == nil)
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_mysql":"  "}"#)) == nil)
        // An empty value does not hide a later key; ports outside 1–65535 are not ports; empty names are no names.
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_mysql":"","mysql":{"external":true,"host":"h"}}"#)) == D(host: "h"))
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_mysql":{"host":"127.0.0.1","port":78842,"databases":[""]}}"#)) == D(host: "127.0.0.1", databases: []))
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_database":"db:0"}"#)) == D(host: "db"))
        #expect(LegacyInfo.externalMySQL(try info(#"{"external_database":":3306"}"#)) == nil)
    }

    @Test("fuzzed info.json values never crash the reader, and what it returns always has a host")
    func fuzz() throws {
        var seed: UInt64 = 0x5EED_0019
        func next() -> UInt64 { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed }
        let atoms = ["\"\"", "\"h\"", "\":\"", "\"[::1]:\"", "\"a:b:c\"", "\"x:99999999999999999999\"", "3306", "-1", "true", "null", "[]", "{}", "[\"crm\", 1]", "\"\\u0000\""]
        let keys = ["external_mysql", "externalMysql", "externalDatabase", "external_database", "mysql", "host", "port", "databases", "schemas", "external"]
        func value(_ depth: Int) -> String {
            if depth > 2 || next() % 3 == 0 { return atoms[Int(next() % UInt64(atoms.count))] }
            let fields = (0..<Int(next() % 4)).map { _ in "\"\(keys[Int(next() % UInt64(keys.count))])\": \(value(depth + 1))" }
            return "{" + fields.joined(separator: ", ") + "}"
        }
        for _ in 0..<3000 {
            guard let v = try? info(value(0)) else { continue }
            if let found = LegacyInfo.externalMySQL(v) { #expect(!found.host.trimmingCharacters(in: .whitespaces).isEmpty, "\(found)") }
        }
    }

    @Test("the address: the spec's first, else the package's; the port the spec's, else the package's for the same host, else 3306; neither: refused naming spec.mysql.external.host")
    func endpoint() throws {
        let named = PackageMetadata.ExternalDatabase(host: "db.corp", port: 3307, databases: ["crm"])
        let fromPackage = try ExternalDatabase.endpoint(.init(host: "", port: nil, credentialsDir: "/c"), package: named)
        #expect(fromPackage.host == "db.corp" && fromPackage.port == 3307 && fromPackage.from.contains("info.json"))
        let fromSpec = try ExternalDatabase.endpoint(.init(host: "db.new", port: nil, credentialsDir: "/c"), package: named)
        #expect(fromSpec.host == "db.new" && fromSpec.port == 3306 && fromSpec.from == "spec.mysql.external.host")
        #expect(try ExternalDatabase.endpoint(.init(host: "db.corp", port: nil, credentialsDir: "/c"), package: named).port == 3307)
        #expect(try ExternalDatabase.endpoint(.init(host: "", port: 4000, credentialsDir: "/c"), package: named).port == 4000)
        #expect(throws: StepError.self) { try ExternalDatabase.endpoint(.init(host: "", port: nil, credentialsDir: "/c"), package: nil) }
        do { _ = try ExternalDatabase.endpoint(.init(host: "", port: nil, credentialsDir: "/c"), package: nil) } catch { #expect("\(error)".contains("set spec.mysql.external.host")) }
        #expect(ExternalDatabase.expected(spec: ["a"], package: named, dumps: ["d"]) == ["a"])
        #expect(ExternalDatabase.expected(spec: nil, package: named, dumps: ["d"]) == ["crm"])
        #expect(ExternalDatabase.expected(spec: nil, package: nil, dumps: ["d"]) == ["d"])
        #expect(ExternalDatabase.expected(spec: nil, package: .init(host: "h", databases: []), dumps: ["d"]) == ["d"], "an empty list in info.json does not turn the check off")
        #expect(ExternalDatabase.text("fd00::5", 3306) == "[fd00::5]:3306" && ExternalDatabase.text("db", 3306) == "db:3306")
        #expect(ExternalMySQLCheck(endpoint: "[fd00::5]:3306", from: "", version: "", schemas: []).hostAndPort! == ("fd00::5", 3306))
        #expect(ExternalMySQLCheck(endpoint: "db:99999", from: "", version: "", schemas: []).hostAndPort == nil)
        let notes = ExternalDatabase.notes(.init(host: "db.new", port: nil, credentialsDir: "/c"), package: named, dumps: ["crm"])
        #expect(notes.contains { $0.contains("crm") && $0.contains("not restored") } && notes.contains { $0.contains("db.corp:3307") && $0.contains("db.new") })
    }
}
