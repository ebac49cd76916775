import FerryAPI
import KubeClient

/// The controller reference a Migration puts on everything it makes (Jobs, pods, Secrets,
/// ServiceAccounts, Roles), so they go with it and map back to it.
enum OwnerReference {
    static func controller(of migration: Migration) -> JSONValue {
        ["apiVersion": "ferry.dev/v1alpha1", "kind": "Migration", "name": .string(migration.metadata.name ?? ""),
         "uid": .string(migration.metadata.uid ?? ""), "controller": true, "blockOwnerDeletion": true]
    }
}
