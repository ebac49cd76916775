import FerryAPI
import FerryOperator
import Foundation
import KubeClient
import TestSupport
import Testing

/// The config step's ServiceAccount, Role and RoleBinding against KubeSim: made once, kept in
/// step with the spec, and never taken from someone else.
@Suite("Config step access", .timeLimit(.minutes(2)))
struct ConfigAccessTests {
    /// A Migration whose uid is a live object's (KubeSim collects dependents of a missing owner).
    func migration(_ f: SimFixture, secretName: String) async throws -> (Migration, MigrationSpec) {
        let owner = try await f.client.create(.configMaps, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string("owner-\(UUID().uuidString.prefix(6).lowercased())")]], namespace: "default")
        var s = MigrationSpec(package: PackageSource(hostPath: "/srv/backup", nodeName: "node-1"), appVersion: "6.4.1")
        s.config = ConfigSpec(secretName: secretName, keySecret: "ferry-config-key")
        var m = Migration(metadata: ObjectMeta(name: "ones", namespace: "default"), spec: s)
        m.metadata.uid = owner.uid
        return (m, s.withDefaults(namespace: "default"))
    }

    @Test("a Role named <migration>-config that another made is refused and left as it was; its own Role's grant follows spec.config.secretName")
    func ownership() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let (m, spec) = try await migration(f, secretName: "app-ops")

        // Someone else's Role under the name the config step would use.
        let foreignRules: JSONValue = [["apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]]]
        _ = try await f.client.create(.roles, ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "ones-config"], "rules": foreignRules], namespace: "default")
        let refused = await #expect(throws: ConfigAccessConflict.self) { try await ConfigAccess.ensure(f.client, migration: m, spec: spec) }
        #expect(refused?.kind == "Role" && "\(refused!)".contains("Rename the Migration or remove that Role"), "\(String(describing: refused))")
        let kept = try await f.client.get(.roles, name: "ones-config", namespace: "default")
        #expect(kept["rules"] == foreignRules, "the other Role's rules are untouched")
        #expect(kept[path: ["metadata", "ownerReferences"]] == nil, "and it was not adopted")

        // Its own objects: created, then the grant moves when the Secret's name changes.
        _ = try await f.client.delete(.roles, name: "ones-config", namespace: "default")
        try await ConfigAccess.ensure(f.client, migration: m, spec: spec)
        for resource in [ResourceDescriptor.serviceAccounts, .roles, .roleBindings] {
            let made = try await f.client.get(resource, name: "ones-config", namespace: "default")
            #expect(made[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue == m.metadata.uid, "\(resource.kind)")
        }
        #expect(try await f.client.get(.roles, name: "ones-config", namespace: "default")[path: ["rules"]]?.arrayValue?.first?["resourceNames"] == ["app-ops"])
        var renamed = spec
        renamed.config?.secretName = "app-ops-2"
        try await ConfigAccess.ensure(f.client, migration: m, spec: renamed)
        #expect(try await f.client.get(.roles, name: "ones-config", namespace: "default")[path: ["rules"]]?.arrayValue?.first?["resourceNames"] == ["app-ops-2"])
    }
}
