/// What validate found at an external database (`spec.mysql.external`): it answered, and holds
/// the expected schemas.
public struct ExternalMySQLCheck: Codable, Sendable, Equatable {
    /// `host:port`.
    public var endpoint: String
    /// Where the address came from: `spec.mysql.external.host`, or the package's `info.json`.
    public var from: String
    /// The server's `VERSION()`.
    public var version: String
    /// Each expected schema with its table count, e.g. `crm (12 tables)`.
    public var schemas: [String]

    public init(endpoint: String, from: String, version: String, schemas: [String]) {
        self.endpoint = endpoint
        self.from = from
        self.version = version
        self.schemas = schemas
    }

    /// `host` and `port` of `endpoint` (`[v6]:port` or `host:port`). Pure.
    public var hostAndPort: (host: String, port: Int)? {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
        var host = String(endpoint[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}

/// What the `mysql-external` step did: nothing restored; the application's config pointed at the
/// external database (`configRef`), the value it replaced kept.
public struct MySQLExternalResult: Codable, Sendable, Equatable {
    public var endpoint: String
    /// `ConfigMap app-config key DB_HOST`; nil when the spec names none (nothing written).
    public var configRef: String?
    /// The value before; for a Secret only its length and a hash.
    public var previous: String?
    /// The value written; nil when nothing was written.
    public var value: String?
    /// The key already held the value: nothing was written.
    public var unchanged: Bool

    public init(endpoint: String, configRef: String? = nil, previous: String? = nil, value: String? = nil, unchanged: Bool = false) {
        self.endpoint = endpoint
        self.configRef = configRef
        self.previous = previous
        self.value = value
        self.unchanged = unchanged
    }
}

extension MySQLExternalResult: StepResult {
    public var summary: String {
        guard let configRef else { return "external database \(endpoint) kept, nothing restored; no spec.mysql.external.configRef, so the application's configuration was not changed" }
        if unchanged { return "external database \(endpoint) kept, nothing restored; \(configRef) already held \(value ?? "it")" }
        return "external database \(endpoint) kept, nothing restored; \(configRef): \(previous ?? "(absent)") → \(value ?? "")"
    }
}
