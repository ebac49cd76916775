import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// The quiesce and resume steps: the controller scales the selected
/// Deployments and StatefulSets itself. The original replica count is
/// written into the `ferry.dev/replicas` annotation in the same patch that
/// sets replicas to 0, so a crash can never lose it; resume reads it back.
public struct Workloads: Sendable {
    public let client: KubeClient
    public static let kinds: [ResourceDescriptor] = [.deployments, .statefulSets]

    public init(client: KubeClient) {
        self.client = client
    }

    /// `Deployment/web` etc. with their saved (or current) replica counts.
    struct Target {
        var resource: ResourceDescriptor
        var object: JSONValue
        var id: String { "\(resource.kind)/\(object.name ?? "")" }
    }

    func selected(_ spec: WorkloadsSpec, namespace: String) async throws -> [Target] {
        var out: [Target] = []
        for kind in Self.kinds {
            let list = try await client.list(kind, namespace: namespace, options: ListOptions(labelSelector: spec.selector.queryString))
            out += list.items.map { Target(resource: kind, object: $0) }
        }
        return out.sorted { $0.id < $1.id }
    }

    /// Scale to 0 (saving replicas first), then wait until none of their pods remain.
    public func quiesce(_ spec: WorkloadsSpec, namespace: String) async throws -> StepOutcome {
        let targets = try await selected(spec, namespace: namespace)
        guard !targets.isEmpty else {
            return .failed("no Deployment or StatefulSet in namespace \(namespace) matches spec.workloads.selector (\(spec.selector.queryString)); fix the selector or remove spec.workloads", permanent: true)
        }
        var saved: [JSONValue] = []
        var podsLeft = 0
        for t in targets {
            let name = t.object.name ?? ""
            let replicas = t.object[path: ["spec", "replicas"]]?.intValue ?? 1
            let annotation = t.object[path: ["metadata", "annotations", FerryNames.replicasAnnotation]]?.stringValue
            let original = annotation.flatMap { Int64($0) } ?? replicas
            if annotation == nil {
                _ = try await client.patch(t.resource, name: name, namespace: namespace, .merge([
                    "metadata": ["annotations": [FerryNames.replicasAnnotation: .string(String(replicas))]],
                    "spec": ["replicas": 0],
                ]))
            } else if replicas != 0 {
                _ = try await client.patch(t.resource, name: name, namespace: namespace, .merge(["spec": ["replicas": 0]]))
            }
            saved.append(["kind": .string(t.resource.kind), "name": .string(name), "replicas": .int(original)])
            podsLeft += try await pods(of: t.object, namespace: namespace)
        }
        if podsLeft > 0 { return .running("scaled \(targets.count) workloads to 0; waiting for \(podsLeft) pods to stop") }
        return .succeeded(result: ["workloads": .array(saved)], message: "stopped \(targets.map(\.id).joined(separator: ", "))")
    }

    /// Restore the saved replicas, then wait until every restored workload is ready.
    /// `remembered` is the quiesce step's result (the list survives even if annotations were edited away).
    public func resume(_ spec: WorkloadsSpec, namespace: String, remembered: JSONValue?) async throws -> StepOutcome {
        let targets = try await selected(spec, namespace: namespace)
        let fromStatus = Dictionary((remembered?["workloads"]?.arrayValue ?? []).compactMap { w -> (String, Int64)? in
            guard let k = w["kind"]?.stringValue, let n = w["name"]?.stringValue, let r = w["replicas"]?.intValue else { return nil }
            return ("\(k)/\(n)", r)
        }, uniquingKeysWith: { a, _ in a })
        var restored: [JSONValue] = []
        var notReady: [String] = []
        for t in targets {
            let name = t.object.name ?? ""
            let annotation = t.object[path: ["metadata", "annotations", FerryNames.replicasAnnotation]]?.stringValue.flatMap { Int64($0) }
            guard let want = annotation ?? fromStatus[t.id] else { continue }
            var object = t.object
            if annotation != nil || (object[path: ["spec", "replicas"]]?.intValue ?? 1) != want {
                object = try await client.patch(t.resource, name: name, namespace: namespace, .merge([
                    "metadata": ["annotations": [FerryNames.replicasAnnotation: .null]],
                    "spec": ["replicas": .int(want)],
                ]))
            }
            restored.append(["kind": .string(t.resource.kind), "name": .string(name), "replicas": .int(want)])
            let ready = object[path: ["status", "readyReplicas"]]?.intValue ?? 0
            if ready < want { notReady.append("\(t.id) \(ready)/\(want)") }
        }
        if !notReady.isEmpty { return .running("replicas restored; waiting for readiness: \(notReady.joined(separator: ", "))") }
        return .succeeded(result: ["workloads": .array(restored)], message: "restored \(restored.count) workloads")
    }

    /// Pods still present for a workload (matched by its selector's matchLabels).
    func pods(of workload: JSONValue, namespace: String) async throws -> Int {
        guard let labels = workload[path: ["spec", "selector", "matchLabels"]]?.objectValue, !labels.isEmpty else { return 0 }
        let selector = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
        return try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: selector)).items.count
    }
}
