import Foundation
import KubeClient
import TestSupport
import Testing

@Suite("manifests/crd.yaml through kubectl", .timeLimit(.minutes(3)))
struct CRDKubectlTests {
    @Test("the CRD installs, the example applies, get migrations shows the printer columns; bad specs are refused by field")
    func applyCRDAndExample() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let env = ["KUBECONFIG": f.kubeconfig, "HOME": try makeTempDir("home")]
        func kubectl(_ args: String..., input: String? = nil) async throws -> CommandResult {
            try await runCommand("kubectl", args, environment: env, input: input)
        }
        let crd = try await kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml")
        #expect(crd.status == 0, "\(crd.combined)")
        #expect(try await kubectl("wait", "--for=condition=Established", "crd/migrations.ferry.dev", "--timeout=10s").status == 0)
        let example = try await kubectl("apply", "-f", repoRoot + "/manifests/examples/migration.yaml")
        #expect(example.stdout.contains("migration.ferry.dev/ones created"), "\(example.combined)")
        let table = try await kubectl("get", "migrations")
        #expect(table.stdout.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "PHASE", "STEP", "PROGRESS", "FILES", "MYSQL", "DOWNTIME", "AGE"], "\(table.combined)")
        #expect(try await kubectl("get", "mig", "ones", "-o", "name").stdout == "migration.ferry.dev/ones\n")
        // The server applied the schema's defaults.
        #expect(try await kubectl("get", "mig", "ones", "-o", "jsonpath={.spec.mysql.port} {.spec.fileSync.stallSeconds}").stdout == "3306 300")
        let bad = try await kubectl("apply", "-f", "-", input: """
            apiVersion: ferry.dev/v1alpha1
            kind: Migration
            metadata: {name: bad}
            spec:
              package: {hostPath: /d}
              appVersion: "1"
              mysql: {host: m, credentialsSecret: s, port: 99999, password: hunter2}

            """)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("spec.mysql.port"), "\(bad.stderr)")
        #expect(bad.stderr.contains("password"), "\(bad.stderr)")
    }
}
