import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `spec.mysql.external`, checked by validate before anything stops: the database the application
/// keeps using answers where the spec (or the package) says, and holds the schemas expected of it.
enum ExternalDatabase {
    /// Where to look: the spec's address, else the package's. Pure.
    static func endpoint(_ spec: ValidateArguments.External, package: PackageMetadata.ExternalDatabase?) throws -> (host: String, port: Int, from: String) {
        if !spec.host.isEmpty {
            return (spec.host, spec.port ?? (package?.host == spec.host ? package?.port : nil) ?? 3306, "spec.mysql.external.host")
        }
        guard let named = package else {
            throw StepError.configuration("spec.mysql.external.host is not set and the package names no external database (info.json has no external_mysql or mysql.external): set spec.mysql.external.host. Nothing was stopped or changed")
        }
        return (named.host, spec.port ?? named.port ?? 3306, "the package's info.json")
    }

    /// The schemas that must be there: the spec's list, else the package's, else the dumps it holds
    /// (exported but not restored). Pure.
    static func expected(spec: [String]?, package: PackageMetadata.ExternalDatabase?, dumps: [String]) -> [String] {
        spec ?? package?.databases.flatMap { $0.isEmpty ? nil : $0 } ?? dumps
    }

    /// A note when the spec points somewhere else than the package. Pure.
    static func notes(_ spec: ValidateArguments.External, package: PackageMetadata.ExternalDatabase?, dumps: [String]) -> [String] {
        var notes = dumps.map { "MySQL database \($0) is in the package but not restored: spec.mysql.external keeps the database on its own server" }
        if let named = package, !spec.host.isEmpty, named.host != spec.host {
            notes.append("the package names \(named.host)\(named.port.map { ":\($0)" } ?? "") as its external database; spec.mysql.external.host \(spec.host) is used")
        }
        return notes
    }

    /// `host:port`, an IPv6 address in brackets. Pure.
    static func text(_ host: String, _ port: Int) -> String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Connects and looks. Throws, naming the field and the fix, when the server cannot be reached,
    /// refuses the login, or lacks a schema. An address only the package names is never logged in
    /// to: the package's author would receive the credentials; the spec must confirm it.
    static func check(_ spec: ValidateArguments.External, package: PackageMetadata.ExternalDatabase?, expected: [String]) throws -> ExternalMySQLCheck {
        let (host, port, from) = try endpoint(spec, package: package)
        let named = "the external database \(text(host, port)) (\(from))"
        let advice = "check the address and that pods in the cluster may reach it (DNS, NetworkPolicy, firewall). Nothing was stopped or changed"
        do {
            close(try TCPConnect.open(host: host, port: port, timeoutSeconds: 5, what: "spec.mysql.external"))
        } catch let e as StepError {
            throw StepError.beforeChange(.target("\(named) cannot be reached: \(e.description); \(advice)"))
        }
        guard from == "spec.mysql.external.host" else {
            throw StepError.configuration("\(named) answers, but Ferry logs in with spec.mysql.external.credentialsSecret only at an address the spec names: "
                + "confirm it with spec.mysql.external.host: \(host)\(port == 3306 ? "" : " and port: \(port)"). Nothing was stopped or changed")
        }
        let (user, password) = try Credentials.login(userEnv: "FERRY_MYSQL_EXTERNAL_USERNAME", passwordEnv: "FERRY_MYSQL_EXTERNAL_PASSWORD", directory: spec.credentialsDir, defaultUser: "root")
        let client = try MySQLClient(MySQLEndpoint(host: host, port: port, user: user, password: password))
        let rows: [[String]]
        do {
            rows = try client.query("SELECT VERSION(), '', 0 UNION ALL SELECT '', s.SCHEMA_NAME, (SELECT COUNT(*) FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME) FROM information_schema.SCHEMATA s")
        } catch let e as StepError {
            throw StepError.beforeChange(.target("\(named) answered but the check failed as \(user) (spec.mysql.external.credentialsSecret): \(e.description); fix the user or its password. Nothing was stopped or changed"))
        }
        let version = rows.first?.first ?? ""
        var tables: [String: Int] = [:]
        for r in rows.dropFirst() where r.count == 3 { tables[r[1]] = Int(r[2]) ?? 0 }
        let missing = expected.filter { tables[$0] == nil }
        guard missing.isEmpty else {
            let has = tables.keys.filter { !["information_schema", "performance_schema", "mysql", "sys"].contains($0) }.sorted()
            throw StepError.configuration("\(named) has no schema \(missing.joined(separator: ", ")) that the application expects (spec.mysql.databases, else the package's); "
                + "it has \(has.isEmpty ? "none the user may see" : has.joined(separator: ", ")). Point spec.mysql.external at the right server, or grant the user access. Nothing was stopped or changed")
        }
        return ExternalMySQLCheck(endpoint: text(host, port), from: from, version: version, schemas: expected.map { "\($0) (\(tables[$0] ?? 0) tables)" })
    }
}
