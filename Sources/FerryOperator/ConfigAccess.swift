import FerryAPI
import FerryEngine
import KubeClient

/// The one step that writes to the API: `config` decrypts the package's
/// sealed config (only its Job can read the package) and stores it in
/// `spec.config.secretName`. It runs as its own ServiceAccount,
/// `<migration>-config`, whose Role allows exactly that Secret (plus create,
/// which cannot be limited by name). All three objects are owned by the
/// Migration, so they go with it. Every other step Job has no token mounted.
public enum ConfigAccess {
    public static func accountName(migration: String) -> String {
        let base = String("\(migration)-config".prefix(63))
        return base.hasSuffix("-") ? String(base.dropLast()) : base
    }

    /// ServiceAccount, Role and RoleBinding for the config step.
    public static func objects(migration: Migration, spec: MigrationSpec) -> [(ResourceDescriptor, JSONValue)] {
        guard let config = spec.config, let m = migration.metadata.name else { return [] }
        let name = accountName(migration: m)
        let namespace = migration.metadata.namespace ?? "default"
        let meta: JSONValue = ["name": .string(name), "namespace": .string(namespace), "labels": [FerryNames.migrationLabel: .string(m)], "ownerReferences": [OwnerReference.controller(of: migration)]]
        let account: JSONValue = ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta]
        let role: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": [
            // Read and replace the one Secret the config goes into.
            ["apiGroups": [""], "resources": ["secrets"], "resourceNames": [.string(config.secretName)], "verbs": ["get", "update", "patch"]],
            // Create it the first time (create cannot be limited to a name).
            ["apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]],
        ]]
        let binding: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
                                  "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": .string(name)],
                                  "subjects": [["kind": "ServiceAccount", "name": .string(name), "namespace": .string(namespace)]]]
        return [(.serviceAccounts, account), (.roles, role), (.roleBindings, binding)]
    }

    /// Creates whatever of them is missing; an existing Role gets the rules of today's spec
    /// (a changed `config.secretName` moves the grant to the new Secret).
    public static func ensure(_ client: KubeClient, migration: Migration, spec: MigrationSpec) async throws {
        for (resource, object) in objects(migration: migration, spec: spec) {
            do {
                _ = try await client.create(resource, object, namespace: object.namespace)
            } catch let e as KubeAPIError where e.isAlreadyExists {
                // Only what this Migration made is taken or changed: never another team's Role or binding.
                let existing = try await client.get(resource, name: object.name ?? "", namespace: object.namespace)
                let owners = existing[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
                guard owners.contains(where: { $0["uid"]?.stringValue == migration.metadata.uid }) else {
                    throw ConfigAccessConflict(kind: resource.kind, name: object.name ?? "")
                }
                if resource == .roles, let rules = object["rules"] {
                    _ = try await client.patch(.roles, name: object.name ?? "", namespace: object.namespace, .merge(["rules": rules]))
                }
            }
        }
    }
}

/// A ServiceAccount, Role or RoleBinding named `<migration>-config` exists and is not this Migration's.
public struct ConfigAccessConflict: Error, CustomStringConvertible {
    public let kind: String
    public let name: String
    public var description: String {
        "\(kind) \(name) already exists and this Migration did not make it; Ferry will not take it over. Rename the Migration or remove that \(kind)"
    }
}
