import FerryAPI
@testable import FerryEngine
import FerryProtocol
import Foundation
import KubeClient
import Testing

/// `mysql-external` pointing the application's config at the external database: what is written,
/// what is reported, and what a second run does. Pure.
@Suite("external endpoint written into the app's config")
struct ExternalEndpointTests {
    let check = ExternalMySQLCheck(endpoint: "db.corp:3307", from: "spec.mysql.external.host", version: "10.11", schemas: ["crm (3 tables)"])

    func remembered(_ w: ExternalEndpoint.Write?) throws -> [String: String] {
        let text = w?.patch?[path: ["metadata", "annotations", ExternalEndpoint.previousAnnotation]]?.stringValue ?? "{}"
        return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
    }

    @Test("a ConfigMap key: the new value patched, the old one in the result and kept in the annotation beside other keys' old values")
    func configMap() throws {
        let ref = ConfigRefSpec(kind: "ConfigMap", name: "app", key: "DB_HOST")
        let w = ExternalEndpoint.plan(ref: ref, check: check, current: "old:3306", annotations: [ExternalEndpoint.previousAnnotation: #"{"OTHER":"x"}"#], resourceVersion: "41")
        #expect(w?.patch?[path: ["data", "DB_HOST"]]?.stringValue == "db.corp:3307")
        #expect(w?.patch?[path: ["metadata", "resourceVersion"]]?.stringValue == "41", "a concurrent writer makes the patch fail, never lose an entry")
        #expect(try remembered(w) == ["DB_HOST": "old:3306", "OTHER": "x"])
        #expect(w?.result == MySQLExternalResult(endpoint: "db.corp:3307", configRef: "ConfigMap app key DB_HOST", previous: "old:3306", value: "db.corp:3307"))
        #expect(w?.result.summary.contains("old:3306 → db.corp:3307") == true)
        // An absent key is created and said to have been absent.
        let absent = ExternalEndpoint.plan(ref: ref, check: check, current: nil, annotations: [:])
        #expect(absent?.result.previous == "(absent)" && absent?.patch != nil)
    }

    @Test("the annotation keeps the value from before Ferry first wrote the key (a second Migration or a new endpoint reports what it replaced, but does not overwrite the original); URL passwords in a ConfigMap value are masked; an IPv6 address goes in brackets")
    func original() throws {
        let ref = ConfigRefSpec(kind: "ConfigMap", name: "app", key: "DB_URL", format: "mysql://app:{port}@{host}")
        let w = ExternalEndpoint.plan(ref: ref, check: check, current: "mysql://app:hunter2@db.new:3306/crm", annotations: [ExternalEndpoint.previousAnnotation: #"{"DB_URL":"mysql://app:***@db.orig:3306/crm"}"#])
        #expect(try remembered(w) == ["DB_URL": "mysql://app:***@db.orig:3306/crm"])
        #expect(w?.result.previous == "mysql://app:***@db.new:3306/crm", "\(String(describing: w?.result))")
        #expect(ExternalEndpoint.maskingPasswords("https://u:p@h/x") == "https://u:***@h/x" && ExternalEndpoint.maskingPasswords("db:3306") == "db:3306" && ExternalEndpoint.maskingPasswords("a://h/p@x") == "a://h/p@x")
        let v6 = ExternalEndpoint.plan(ref: ConfigRefSpec(kind: "ConfigMap", name: "app", key: "DB"), check: .init(endpoint: "[fd00::5]:3306", from: "", version: "", schemas: []), current: nil, annotations: [:])
        #expect(v6?.patch?[path: ["data", "DB"]]?.stringValue == "[fd00::5]:3306")
    }

    @Test("a second run: the key already holds the value — nothing written; the old value the first run replaced still reported; never written before: said unchanged")
    func again() throws {
        let ref = ConfigRefSpec(kind: "ConfigMap", name: "app", key: "DB_HOST")
        let rerun = ExternalEndpoint.plan(ref: ref, check: check, current: "db.corp:3307", annotations: [ExternalEndpoint.previousAnnotation: #"{"DB_HOST":"old:3306"}"#])
        #expect(rerun?.patch == nil && rerun?.result.previous == "old:3306" && rerun?.result.unchanged == false)
        let already = ExternalEndpoint.plan(ref: ref, check: check, current: "db.corp:3307", annotations: [ExternalEndpoint.previousAnnotation: "not json"])
        #expect(already?.patch == nil && already?.result.unchanged == true && already?.result.summary.contains("already held") == true)
    }

    @Test("a Secret key: written base64 with the format; the old value only by its length, in the result and in the annotation")
    func secret() throws {
        let ref = ConfigRefSpec(kind: "Secret", name: "dsn", key: "DSN", format: "mysql://{host}:{port}/crm")
        let w = ExternalEndpoint.plan(ref: ref, check: check, current: "mysql://app:hunter2@old/crm", annotations: [:])
        let data = w?.patch?[path: ["data", "DSN"]]?.stringValue ?? ""
        #expect(Data(base64Encoded: data).map { String(decoding: $0, as: UTF8.self) } == "mysql://db.corp:3307/crm")
        let text = String(decoding: try JSONEncoder().encode(w?.result), as: UTF8.self) + (try remembered(w)).description
        #expect(!text.contains("hunter2") && text.contains("27 bytes"), "\(text)")
        // An endpoint validate wrote without a port is not guessed at.
        #expect(ExternalEndpoint.plan(ref: ref, check: .init(endpoint: "db.corp", from: "", version: "", schemas: []), current: nil, annotations: [:]) == nil)
    }
}
