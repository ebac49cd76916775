import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// The quiesce and resume steps: the controller scales the selected
/// Deployments and StatefulSets itself. The original replica count is
/// written into the `ferry.dev/replicas` annotation in the same patch that
/// sets replicas to 0, together with a `ferry.dev/claimed-by` claim naming the
/// Migration, so a crash can never lose it and a second Migration cannot take
/// the same workloads. Resume brings back every workload the quiesce step
/// saved and every one this Migration claims, whatever the selector says now.
public struct Workloads: Sendable {
    public let client: KubeClient
    public static let kinds: [ResourceDescriptor] = [.deployments, .statefulSets]

    public init(client: KubeClient) {
        self.client = client
    }

    /// Who stops workloads: the Migration's namespace, name and uid, as a claim value.
    public struct Owner: Sendable, Equatable {
        public var namespace: String
        public var name: String
        public var uid: String
        public init(namespace: String, name: String, uid: String) {
            self.namespace = namespace
            self.name = name
            self.uid = uid
        }
        public init(_ migration: Migration) {
            self.init(namespace: migration.metadata.namespace ?? "default", name: migration.metadata.name ?? "", uid: migration.metadata.uid ?? "")
        }
        public var claim: String { "\(namespace)/\(name)/\(uid)" }
        /// Parses a claim value; nil when it is not one.
        public init?(claim: String) {
            let parts = claim.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { return nil }
            self.init(namespace: parts[0], name: parts[1], uid: parts[2])
        }
    }

    /// `Deployment/web` etc. with their saved (or current) replica counts.
    struct Target {
        var resource: ResourceDescriptor
        var object: JSONValue
        var id: String { "\(resource.kind)/\(object.name ?? "")" }
        var claim: String? { object[path: ["metadata", "annotations", FerryNames.claimAnnotation]]?.stringValue }
    }

    func selected(_ spec: WorkloadsSpec, namespace: String) async throws -> [Target] {
        var out: [Target] = []
        for kind in Self.kinds {
            let list = try await client.list(kind, namespace: namespace, options: ListOptions(labelSelector: spec.selector.queryString))
            out += list.items.map { Target(resource: kind, object: $0) }
        }
        return out.sorted { $0.id < $1.id }
    }

    /// A claim by another Migration that still exists (a claim whose Migration is gone is stale).
    func foreignClaim(_ target: Target, owner: Owner) async throws -> Owner? {
        guard let value = target.claim, value != owner.claim else { return nil }
        guard let other = Owner(claim: value) else { return nil }
        do {
            let object = try await client.get(Migration.resource, name: other.name, namespace: other.namespace)
            return object[path: ["metadata", "uid"]]?.stringValue == other.uid ? other : nil
        } catch let e as KubeAPIError where e.isNotFound {
            return nil
        }
    }

    /// Scale to 0 (saving replicas and claiming each first), then wait until none of their pods
    /// remain. Refused, before anything is scaled, when another Migration holds one of them.
    public func quiesce(_ spec: WorkloadsSpec, namespace: String, owner: Owner) async throws -> StepOutcome {
        let targets = try await selected(spec, namespace: namespace)
        guard !targets.isEmpty else {
            return .failed("no Deployment or StatefulSet in namespace \(namespace) matches spec.workloads.selector (\(spec.selector.queryString)); fix the selector or remove spec.workloads", permanent: true, untouched: true)
        }
        var held: [String] = []
        for t in targets {
            if let other = try await foreignClaim(t, owner: owner) { held.append("\(t.id) by Migration \(other.namespace)/\(other.name)") }
        }
        if !held.isEmpty {
            return .failed("workloads are held by another Migration (\(FerryNames.claimAnnotation)): \(held.joined(separator: ", ")); wait until it has finished or delete it, then annotate \(FerryNames.rerunAnnotation)=quiesce. Nothing was stopped", permanent: true, untouched: true)
        }
        var saved: [QuiesceResult.Workload] = []
        var podsLeft = 0
        for t in targets {
            let name = t.object.name ?? ""
            let replicas = t.object[path: ["spec", "replicas"]]?.intValue ?? 1
            let annotation = t.object[path: ["metadata", "annotations", FerryNames.replicasAnnotation]]?.stringValue
            let original = annotation.flatMap { Int64($0) } ?? replicas
            if annotation == nil || t.claim != owner.claim || replicas != 0 {
                var annotations: JSONValue = [FerryNames.claimAnnotation: .string(owner.claim)]
                if annotation == nil { annotations[FerryNames.replicasAnnotation] = .string(String(replicas)) }
                // Guarded by the resourceVersion read above: a claim another Migration wrote in between
                // fails this patch (409) and the next reconcile sees it.
                _ = try await client.patch(t.resource, name: name, namespace: namespace, .merge([
                    "metadata": ["annotations": annotations, "resourceVersion": t.object[path: ["metadata", "resourceVersion"]] ?? .null],
                    "spec": ["replicas": 0],
                ]))
            }
            saved.append(.init(kind: t.resource.kind, name: name, replicas: original))
            podsLeft += try await pods(of: t.object, namespace: namespace)
        }
        let result = try JSONValue(encoding: QuiesceResult(namespace: namespace, workloads: saved))
        if podsLeft > 0 { return .running("scaled \(targets.count) workloads to 0; waiting for \(podsLeft) pods to stop") }
        return .succeeded(result: result, message: "stopped \(targets.map(\.id).joined(separator: ", "))")
    }

    /// Restore the saved replicas, then wait until every restored workload is ready. The truth
    /// is what quiesce saved (`remembered`, its result) and the claims on the workloads, never
    /// today's selector: a selector edited mid-run cannot leave a workload at 0.
    public func resume(namespace: String, remembered: QuiesceResult?, owner: Owner) async throws -> StepOutcome {
        let namespace = remembered?.namespace ?? namespace
        let fromStatus = Dictionary((remembered?.workloads ?? []).map { ("\($0.kind)/\($0.name)", $0.replicas) }, uniquingKeysWith: { a, _ in a })
        var targets: [Target] = []
        for kind in Self.kinds {
            for object in try await client.list(kind, namespace: namespace).items {
                let t = Target(resource: kind, object: object)
                if fromStatus[t.id] != nil || t.claim == owner.claim { targets.append(t) }
            }
        }
        targets.sort { $0.id < $1.id }
        var restored: [JSONValue] = []
        var notReady: [String] = []
        var gone = Set(fromStatus.keys).subtracting(targets.map(\.id)).sorted()
        for t in targets {
            let name = t.object.name ?? ""
            let annotation = t.object[path: ["metadata", "annotations", FerryNames.replicasAnnotation]]?.stringValue.flatMap { Int64($0) }
            guard let want = annotation ?? fromStatus[t.id] else { continue }
            var object = t.object
            let current = object[path: ["spec", "replicas"]]?.intValue ?? 1
            // Only what Ferry stopped comes back: its annotation, or a saved workload still at 0.
            if annotation != nil || t.claim == owner.claim || current == 0 {
                object = try await client.patch(t.resource, name: name, namespace: namespace, .merge([
                    "metadata": ["annotations": [FerryNames.replicasAnnotation: .null, FerryNames.claimAnnotation: .null]],
                    "spec": ["replicas": .int(annotation != nil || current == 0 ? want : current)],
                ]))
            }
            let target = object[path: ["spec", "replicas"]]?.intValue ?? want
            restored.append(["kind": .string(t.resource.kind), "name": .string(name), "replicas": .int(target)])
            let ready = object[path: ["status", "readyReplicas"]]?.intValue ?? 0
            if ready < target { notReady.append("\(t.id) \(ready)/\(target)") }
        }
        gone.removeAll { id in targets.contains { $0.id == id } }
        let missing = gone.isEmpty ? "" : "; no longer there: \(gone.joined(separator: ", "))"
        if !notReady.isEmpty { return .running("replicas restored; waiting for readiness: \(notReady.joined(separator: ", "))\(missing)") }
        return .succeeded(result: ["workloads": .array(restored)], message: "restored \(restored.count) workloads\(missing)")
    }

    /// Pods still present for a workload (matched by its selector's matchLabels).
    func pods(of workload: JSONValue, namespace: String) async throws -> Int {
        guard let labels = workload[path: ["spec", "selector", "matchLabels"]]?.objectValue, !labels.isEmpty else { return 0 }
        let selector = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
        return try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: selector)).items.count
    }
}
