import Foundation
import KubeClient

/// What the old tool's `info.json` says beyond the version (``BackupPackage``). Pure.
enum LegacyInfo {
    /// The external MySQL database the package names, if any: an object under
    /// `externalMysql`, `external_mysql`, `externalDatabase` or `external_database` (`host`,
    /// `port`, `databases` or `schemas`), or a `"host:port"` string there; or a `mysql` object
    /// with `"external": true`.
    static func externalMySQL(_ info: JSONValue) -> PackageMetadata.ExternalDatabase? {
        for key in ["externalMysql", "external_mysql", "externalDatabase", "external_database"] {
            if let text = info[key]?.stringValue, let found = endpoint(text) { return found }
            if let object = info[key], let found = database(object) { return found }
        }
        if let m = info["mysql"], m["external"]?.boolValue == true || m["external"]?.stringValue == "true" { return database(m) }
        return nil
    }

    static func database(_ v: JSONValue) -> PackageMetadata.ExternalDatabase? {
        guard let host = v["host"]?.stringValue, !host.isEmpty else { return nil }
        let port = (v["port"]?.intValue.map { Int($0) } ?? v["port"]?.stringValue.flatMap { Int($0) }).flatMap { (1...65_535).contains($0) ? $0 : nil }
        let names = (v["databases"] ?? v["schemas"])?.arrayValue?.compactMap(\.stringValue).filter { !$0.isEmpty }
        if port == nil, let split = endpoint(host), split.port != nil { return .init(host: split.host, port: split.port, databases: names) }
        return .init(host: host, port: port, databases: names)
    }

    /// `host:port` or a bare host (an IPv6 address only in brackets when it has a port).
    static func endpoint(_ text: String) -> PackageMetadata.ExternalDatabase? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { return nil }
        if t.hasPrefix("["), let close = t.firstIndex(of: "]") {
            let host = String(t[t.index(after: t.startIndex)..<close])
            let rest = t[t.index(after: close)...]
            return host.isEmpty ? nil : .init(host: host, port: rest.hasPrefix(":") ? Int(rest.dropFirst()).flatMap { (1...65_535).contains($0) ? $0 : nil } : nil)
        }
        let colons = t.filter { $0 == ":" }.count
        if colons == 1, let c = t.firstIndex(of: ":"), let port = Int(t[t.index(after: c)...]) {
            return c == t.startIndex ? nil : .init(host: String(t[..<c]), port: (1...65_535).contains(port) ? port : nil)
        }
        return .init(host: t)
    }
}
