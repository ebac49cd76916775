import Foundation
import KubeClient
import TestSupport
import Testing

/// helm and kubectl from PATH or from .tools/bin (scripts/install-tools.sh).
func tool(_ name: String) -> String {
    let local = repoRoot + "/.tools/bin/" + name
    return FileManager.default.isExecutableFile(atPath: local) ? local : name
}

/// Labels Helm adds for release tracking; the only intended difference from manifests/.
let helmOnlyLabels = ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"]

func keyed(_ docs: [JSONValue]) -> [String: JSONValue] {
    var out: [String: JSONValue] = [:]
    for var d in docs where d != .null {
        var labels = d[path: ["metadata", "labels"]]?.objectValue ?? [:]
        for l in helmOnlyLabels { labels.removeValue(forKey: l) }
        d[path: ["metadata", "labels"]] = labels.isEmpty ? nil : .object(labels)
        let key = "\(d["kind"]?.stringValue ?? "")/\(d[path: ["metadata", "namespace"]]?.stringValue ?? "")/\(d[path: ["metadata", "name"]]?.stringValue ?? "")"
        out[key] = d
    }
    return out
}

@Suite("Helm chart and manifests", .timeLimit(.minutes(3)))
struct ChartTests {
    @Test("helm lint passes")
    func lint() async throws {
        let r = try await runCommand(tool("helm"), ["lint", repoRoot + "/charts/ferry"])
        #expect(r.status == 0, "\(r.combined)")
    }

    @Test("the default chart renders exactly manifests/ (but the Namespace, which helm --create-namespace makes, and Helm's own labels)")
    func chartMatchesManifests() async throws {
        let r = try await runCommand(tool("helm"), ["template", "ferry", repoRoot + "/charts/ferry", "-n", "ferry-system", "--include-crds"])
        #expect(r.status == 0, "\(r.stderr)")
        let rendered = keyed(try yamlToJSON(r.stdout))
        var manifests: [JSONValue] = []
        for file in ["crd.yaml", "rbac.yaml", "deployment.yaml"] {
            manifests += try yamlToJSON(String(contentsOfFile: repoRoot + "/manifests/" + file, encoding: .utf8))
        }
        let expected = keyed(manifests)
        #expect(Set(rendered.keys) == Set(expected.keys))
        for (key, value) in expected {
            #expect(rendered[key] == value, "\(key) differs between the chart and manifests/")
        }
        let chartCRD = try String(contentsOfFile: repoRoot + "/charts/ferry/crds/crd.yaml", encoding: .utf8)
        #expect(chartCRD == (try String(contentsOfFile: repoRoot + "/manifests/crd.yaml", encoding: .utf8)), "charts/ferry/crds/crd.yaml must be a copy of manifests/crd.yaml")
    }

    @Test("namespace-scoped RBAC: a Role per watched namespace, no ClusterRole; without namespaces helm explains")
    func namespaceScope() async throws {
        let r = try await runCommand(tool("helm"), ["template", "ferry", repoRoot + "/charts/ferry", "-n", "ferry-system", "--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}"])
        #expect(r.status == 0, "\(r.stderr)")
        let docs = keyed(try yamlToJSON(r.stdout))
        #expect(docs["Role/team-a/ferry-controller"] != nil)
        #expect(docs["RoleBinding/team-b/ferry-controller"] != nil)
        #expect(!docs.keys.contains { $0.hasPrefix("ClusterRole") })
        #expect(docs["Deployment/ferry-system/ferry-controller"]?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["env"]?.arrayValue?.first?["value"] == "team-a,team-b")
        let bad = try await runCommand(tool("helm"), ["template", "ferry", repoRoot + "/charts/ferry", "--set", "rbac.scope=namespace"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("watchNamespaces"))
    }

    @Test("kubectl applies manifests/ (server-side schema of KubeSim)")
    func manifestsApply() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let env = ["KUBECONFIG": f.kubeconfig, "HOME": try makeTempDir("home")]
        let ns = try await runCommand(tool("kubectl"), ["apply", "-f", repoRoot + "/manifests/namespace.yaml"], environment: env)
        #expect(ns.status == 0, "\(ns.combined)")
        let all = try await runCommand(tool("kubectl"), ["apply", "-f", repoRoot + "/manifests/"], environment: env)
        #expect(all.status == 0, "\(all.combined)")
        #expect(all.stdout.contains("deployment.apps/ferry-controller"))
        #expect(all.stdout.contains("clusterrole.rbac.authorization.k8s.io/ferry-controller"))
    }
}
