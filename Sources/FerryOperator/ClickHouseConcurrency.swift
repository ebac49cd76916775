import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient

/// `spec.clickhouse.copy.concurrency`, changeable while a copy runs: the controller keeps a
/// ConfigMap `<migration>-clickhouse-concurrency` equal to the spec (owned by the Migration);
/// the copy Jobs mount it and read it again as each copy ends (the kubelet refreshes mounted
/// ConfigMaps), and the schedule in it decides by time of day.
enum ClickHouseConcurrency {
    static let key = "schedule.json"
    static let mount = "/config/clickhouse-concurrency"
    static var file: String { "\(mount)/\(key)" }

    static func name(_ migration: String) -> String { "\(migration)-clickhouse-concurrency" }

    static func volume(migration: String) -> StepPod.Volumes {
        StepPod.Volumes(volumes: [["name": "concurrency", "configMap": ["name": .string(name(migration))]]],
                        mounts: [["name": "concurrency", "mountPath": .string(mount), "readOnly": true]])
    }

    /// The schedule the spec asks for (the default concurrency when it names none).
    static func schedule(_ spec: MigrationSpec) -> ConcurrencySchedule {
        var s = spec.clickhouse?.copy?.concurrency ?? ConcurrencySchedule()
        if s.default == nil { s.default = MigrationDefaults.clickhouseParallelism }
        return s
    }

    /// Creates the ConfigMap, or patches it when the spec changed; refuses one another Migration owns.
    static func keep(_ context: StepContext) async throws -> StepOutcome? {
        let migration = context.migration.metadata.name ?? ""
        let want = schedule(context.spec).json
        do {
            let cm = try await context.client.get(.configMaps, name: name(migration), namespace: context.namespace)
            let owner = cm[path: ["metadata", "ownerReferences"]]?.arrayValue?.first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
            guard owner == context.migration.metadata.uid else {
                return .failed("ConfigMap \(name(migration)) exists but is not this Migration's; delete or rename it", permanent: true, untouched: true)
            }
            if cm[path: ["data", key]]?.stringValue != want {
                _ = try await context.client.patch(.configMaps, name: name(migration), namespace: context.namespace, .merge(["data": [.init(key): .string(want)]]))
                context.logger.info("clickhouse concurrency changed", metadata: ["migration": "\(context.namespace)/\(migration)", "schedule": "\(want)"])
            }
        } catch let e as KubeAPIError where e.isNotFound {
            let cm: JSONValue = [
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": ["name": .string(name(migration)), "namespace": .string(context.namespace),
                             "labels": [FerryNames.migrationLabel: .string(migration)], "ownerReferences": [OwnerReference.controller(of: context.migration)]],
                "data": [.init(key): .string(want)],
            ]
            do { _ = try await context.client.create(.configMaps, cm, namespace: context.namespace) } catch let e as KubeAPIError where e.isAlreadyExists {}
        }
        return nil
    }
}
