import FerryAPI
import Foundation
import KubeClient
import TestSupport
import Testing

/// `spec.mysql.external` through kubectl against KubeSim, the controller as its own process and
/// validate as a real Job process against a real MariaDB standing for the external server.
@Suite("External database end to end (kubectl, KubeSim, MariaDB)", .serialized, .timeLimit(.minutes(6)))
struct ExternalDatabaseEndToEndTests {
    typealias E = RestoreEndToEndTests
    typealias S = DataSafetyEndToEndTests

    /// A legacy package whose info.json names the external database (`external_mysql`), and which
    /// also holds a dump of it that must never be restored.
    static func package(_ servers: TestServers, _ db: String, host: String = "127.0.0.1") async throws -> String {
        let package = try await S.legacyPackage(servers, [db])
        let info = #"{"version":"6.4.1","host":"old-box","external_mysql":{"host":"\#(host)","port":"\#(servers.mysqlPort)","databases":["\#(db)"]}}"#
        try Data(Data(info.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: package + "/info.json"))
        return package
    }

    static func migration(_ name: String, package: String, external: String, databases: String = "") -> String {
        """
        apiVersion: ferry.dev/v1alpha1
        kind: Migration
        metadata: {name: \(name), namespace: default}
        spec:
          package: {hostPath: \(package)}
          appVersion: "6.4.1"
          workloads:
            selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}
          mysql:
            \(databases)
            external: \(external)
        """
    }

    func replicas(_ env: KubectlEnv) async throws -> [String] {
        [try await env.jsonpath("deployment/web", ".spec.replicas"), try await env.jsonpath("statefulset/worker", ".spec.replicas")]
    }

    func step(_ env: KubectlEnv, _ m: String, _ step: String, _ field: String) async throws -> String {
        try await env.jsonpath("migration/\(m)", ".status.steps[?(@.name==\"\(step)\")].\(field)")
    }

    @Test("external mode: the database named by the package's info.json is checked where it is and never restored (a row written after the export stays); the ConfigMap key the app reads is pointed at it, old and new value in the step result and the old one kept in an annotation; a Secret key is written too, its old value never shown; a rerun writes nothing twice")
    func endToEnd() async throws {
        try await S().withCluster { env, servers, controller in
            let db = "ext_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 300)
            let package = try await Self.package(servers, db)
            // Written after the export: a restore of the package would lose it.
            _ = try await E.sql(servers, "INSERT INTO `\(db)`.items VALUES (100000, 'after the export');")
            let before = try await S.checksum(servers, db)
            let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-db}\ndata: {DB_ADDR: \"old-db.internal:3306\", OTHER: keep}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: cm).status == 0)
            // The host confirmed in the spec; the port is the one the package's info.json names.
            let external = "{host: 127.0.0.1, credentialsSecret: mysql-root, configRef: {kind: ConfigMap, name: app-db, key: DB_ADDR}}"
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("ext", package: package, external: external)).status == 0)
            let done = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/ext", ".status.phase") == "Succeeded" }
            let yaml = try await env.kubectl("get", "migration/ext", "-o", "yaml").stdout
            #expect(done, "\(yaml)\n\(controller.log.suffix(2000))")
            let names = try await env.jsonpath("migration/ext", ".status.steps[*].name")
            #expect(names == "validate quiesce mysql-external resume", "no mysql/<db> step: \(names)")
            #expect(try await S.checksum(servers, db) == before, "the external database was not restored over")
            #expect(try await E.sql(servers, "SELECT name FROM `\(db)`.items WHERE id = 100000;").contains("after the export"))
            let endpoint = "127.0.0.1:\(servers.mysqlPort)"
            #expect(try await env.jsonpath("configmap/app-db", ".data.DB_ADDR") == endpoint)
            #expect(try await env.jsonpath("configmap/app-db", ".data.OTHER") == "keep")
            let annotation = try await env.jsonpath("configmap/app-db", ".metadata.annotations.ferry\\.dev/previous-values")
            #expect(annotation.contains("old-db.internal:3306"), "\(annotation)")
            #expect(try await step(env, "ext", "mysql-external", "result.previous") == "old-db.internal:3306")
            #expect(try await step(env, "ext", "mysql-external", "result.value") == endpoint)
            let checked = try await step(env, "ext", "validate", "result.external")
            #expect(checked.contains(endpoint) && checked.contains("\(db) (1 tables)") && checked.contains("spec.mysql.external.host"), "\(checked)")
            let parts = try await step(env, "ext", "validate", "result.parts")
            #expect(parts.contains("\(db).sql") && parts.contains("spec.mysql.external"), "the dump is listed as skipped: \(parts)")
            #expect(try await replicas(env) == ["2", "3"])

            // A rerun finds the key pointed already: nothing written, the first run's old value still reported.
            let rv = try await env.jsonpath("configmap/app-db", ".metadata.resourceVersion")
            #expect(try await env.kubectl("annotate", "migration/ext", "\(FerryNames.rerunAnnotation)=mysql-external").status == 0)
            let rerun = try await eventually(timeout: 90, interval: 0.3) {
                let attempts = try await step(env, "ext", "mysql-external", "attempts"), phase = try await env.jsonpath("migration/ext", ".status.phase")
                return attempts == "2" && phase == "Succeeded"
            }
            #expect(rerun)
            #expect(try await env.jsonpath("configmap/app-db", ".metadata.resourceVersion") == rv, "nothing written on the rerun")
            #expect(try await step(env, "ext", "mysql-external", "result.previous") == "old-db.internal:3306")

            // A Secret key, with a format: written as the app reads it; its old value (a password inside) never in status or events.
            // Made as a person would (kubectl apply would copy the value into its last-applied annotation).
            let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: app-dsn}\nstringData: {DSN: \"mysql://app:hunter2-secret@old-db:3306/\(db)\"}\n"
            let made = try await env.kubectl("create", "-f", "-", input: secret)
            #expect(made.status == 0, "\(made.combined)")
            let toSecret = "{host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: mysql-root, configRef: {kind: Secret, name: app-dsn, key: DSN, format: \"mysql://{host}:{port}/\(db)\"}}"
            #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration("ext2", package: package, external: toSecret)).status == 0)
            let done2 = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/ext2", ".status.phase") == "Succeeded" }
            let yaml2 = try await env.kubectl("get", "migration/ext2", "-o", "yaml").stdout
            #expect(done2, "\(yaml2)")
            let written = try await env.jsonpath("secret/app-dsn", ".data.DSN")
            #expect(Data(base64Encoded: written).map { String(decoding: $0, as: UTF8.self) } == "mysql://127.0.0.1:\(servers.mysqlPort)/\(db)")
            let everything = try await env.kubectl("get", "migration/ext2", "-o", "yaml").stdout + (try await env.kubectl("get", "events", "-o", "yaml").stdout)
                + (try await env.jsonpath("secret/app-dsn", ".metadata.annotations"))
            #expect(!everything.contains("hunter2"), "the old secret value appears nowhere outside the Secret's data")
            #expect(try await step(env, "ext2", "mysql-external", "result.previous").contains("secret value of"))
        }
    }

    @Test("refused at validate, before the app stops and before the ConfigMap changes, naming the field and the fix: an unreachable endpoint, a schema missing there, a package that names none and no host, an address only the package names (never logged in to); host beside external is a spec error")
    func refusals() async throws {
        try await S().withCluster { env, servers, controller in
            let db = "exr_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 10)
            let package = try await Self.package(servers, db)
            let plain = try await S.legacyPackage(servers, [db])
            let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-db}\ndata: {DB_ADDR: \"old-db.internal:3306\"}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: cm).status == 0)
            let ref = "configRef: {kind: ConfigMap, name: app-db, key: DB_ADDR}"
            // A port nothing listens on.
            let closed = try freeLocalPort()
            let cases: [(String, String, String, String, [String])] = [
                ("unreachable", package, "{host: 127.0.0.1, port: \(closed), credentialsSecret: mysql-root, \(ref)}", "", ["cannot be reached", "127.0.0.1:\(closed)", "spec.mysql.external"]),
                ("noschema", package, "{host: 127.0.0.1, credentialsSecret: mysql-root, \(ref)}", "databases: [\(db), nope_absent]", ["has no schema nope_absent", "spec.mysql.databases"]),
                ("nohost", plain, "{credentialsSecret: mysql-root, \(ref)}", "", ["spec.mysql.external.host is not set", "names no external database"]),
                // Only the package names the address: its author would receive the credentials, so the spec must confirm it.
                ("pkgonly", package, "{credentialsSecret: mysql-root, \(ref)}", "", ["the package's info.json", "confirm it with spec.mysql.external.host: 127.0.0.1"]),
            ]
            for (name, pkg, external, dbs, words) in cases {
                #expect(try await env.kubectl("apply", "-f", "-", input: Self.migration(name, package: pkg, external: external, databases: dbs)).status == 0)
                let failed = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/\(name)", ".status.phase") == "Failed" }
                let message = try await step(env, name, "validate", "message")
                #expect(failed && words.allSatisfy { message.contains($0) }, "\(name): \(message)\n\(controller.log.suffix(1500))")
                #expect(try await step(env, name, "quiesce", "state") == "Pending", "\(name): the app was not stopped")
                #expect(try await replicas(env) == ["2", "3"])
                #expect(try await env.jsonpath("configmap/app-db", ".data.DB_ADDR") == "old-db.internal:3306")
            }
            let both = Self.migration("both", package: package, external: "{credentialsSecret: mysql-root}").replacingOccurrences(of: "  mysql:\n", with: "  mysql:\n    host: db.example\n")
            #expect(try await env.kubectl("apply", "-f", "-", input: both).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await env.jsonpath("migration/both", ".status.phase") == "Failed" })
            let why = try await env.jsonpath("migration/both", ".status.conditions[?(@.type==\"SpecValid\")].message")
            #expect(why.contains("spec.mysql.host") && why.contains("spec.mysql.external"), "\(why)")
        }
    }
}
