import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import KubeRuntime
import Logging

/// Reconciles one Migration, as a short list of early-returning `ensure…`
/// steps: finalizer, cleanup on deletion, plan + status. Status goes to the
/// /status subresource with a merge patch guarded by resourceVersion and is
/// skipped when nothing changed; a Conflict is thrown and retried.
public struct MigrationReconciler: Reconciler {
    public let client: KubeClient
    public let events: EventRecorder
    public let logger: Logger
    public let now: @Sendable () -> Date

    public init(client: KubeClient, events: EventRecorder, logger: Logger = Logger(label: "migration"), now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.events = events
        self.logger = logger
        self.now = now
    }

    /// Kinds of object a Migration owns (and the finalizer cleans up).
    public static let ownedResources: [ResourceDescriptor] = [.pods, .jobs]

    public func reconcile(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileAction {
        if object[path: ["metadata", "deletionTimestamp"]] != nil {
            return try await ensureCleanedUp(object)
        }
        let current = try await Finalizers.add(FerryNames.finalizer, to: object, resource: Migration.resource, client: client)
        try await ensureStatus(current)
        return .done
    }

    /// Deletes the pods and jobs this Migration created, waits for them to go, then lets it go.
    func ensureCleanedUp(_ object: JSONValue) async throws -> ReconcileAction {
        guard Finalizers.has(object, FerryNames.finalizer), let name = object.name else { return .done }
        let selector = "\(FerryNames.migrationLabel)=\(name)"
        var remaining = 0
        for resource in Self.ownedResources {
            let list = try await client.list(resource, namespace: object.namespace, options: ListOptions(labelSelector: selector))
            for item in list.items {
                remaining += 1
                if item[path: ["metadata", "deletionTimestamp"]] == nil, let n = item.name {
                    do {
                        try await client.delete(resource, name: n, namespace: item.namespace, options: DeleteOptions(propagationPolicy: .background))
                        await events.record(object, .normal, reason: "CleanedUp", note: "deleted \(resource.kind) \(n)", action: "Delete")
                    } catch let e as KubeAPIError where e.isNotFound {}
                }
            }
        }
        if remaining > 0 { return .requeueAfter(1) }
        _ = try await Finalizers.remove(FerryNames.finalizer, from: object, resource: Migration.resource, client: client)
        return .done
    }

    /// Validates a new or changed spec and writes the plan, phase, progress and conditions.
    func ensureStatus(_ object: JSONValue) async throws {
        let migration = try object.decode(as: Migration.self)
        let generation = migration.metadata.generation ?? 1
        let old = migration.status ?? MigrationStatus()
        let decision = StatusPlanner.decide(migration: migration, stamp: Timestamps.format(now()))
        guard decision.status != old else { return }
        var patch = try JSONValue(encoding: decision.status)
        patch = ["metadata": ["resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? .null], "status": patch]
        _ = try await client.patchStatus(Migration.resource, name: migration.metadata.name ?? "", namespace: migration.metadata.namespace, .merge(patch))
        if let event = decision.event, old.observedGeneration != generation || old.phase != decision.status.phase {
            await events.record(object, event.warning ? .warning : .normal, reason: event.reason, note: event.note)
        }
        logger.info("status updated", metadata: ["migration": "\(migration.metadata.namespace ?? "")/\(migration.metadata.name ?? "")", "phase": "\(decision.status.phase?.rawValue ?? "")", "progress": "\(decision.status.progress ?? "")"])
    }
}

/// The pure part of status planning: from a Migration to its next status and the event to record.
public enum StatusPlanner {
    public struct Event: Equatable, Sendable {
        public var reason: String
        public var note: String
        public var warning: Bool
    }

    public struct Decision: Sendable {
        public var status: MigrationStatus
        public var event: Event?
    }

    public static func decide(migration: Migration, stamp: String) -> Decision {
        let generation = migration.metadata.generation ?? 1
        var status = migration.status ?? MigrationStatus()
        var conditions = status.conditions ?? []
        let errors = migration.spec.validate()
        if !errors.isEmpty {
            let message = errors.map(\.description).joined(separator: "; ")
            status.phase = .failed
            status.message = "invalid spec: \(message)"
            status.observedGeneration = generation
            conditions.set(type: FerryNames.ConditionType.specValid, status: false, reason: "InvalidSpec", message: message, observedGeneration: generation, now: stamp)
            conditions.set(type: FerryNames.ConditionType.ready, status: false, reason: "InvalidSpec", message: "fix the spec: \(message)", observedGeneration: generation, now: stamp)
            conditions.set(type: FerryNames.ConditionType.progressing, status: false, reason: "InvalidSpec", message: "nothing runs until the spec is valid", observedGeneration: generation, now: stamp)
            status.conditions = conditions
            return Decision(status: status, event: Event(reason: "InvalidSpec", note: message, warning: true))
        }
        let spec = migration.spec.withDefaults(namespace: migration.metadata.namespace ?? "default")
        let steps = Planner.plan(spec: spec, existing: status.steps ?? [])
        status.steps = steps
        status.progress = Planner.progress(steps)
        let phase = Planner.phase(steps)
        status.phase = phase
        status.step = steps.first { $0.state == .running }?.name ?? steps.first { $0.state == .pending }?.name
        status.observedGeneration = generation
        status.message = phase == .pending ? "planned \(steps.count) steps" : status.message
        conditions.set(type: FerryNames.ConditionType.specValid, status: true, reason: "Valid", message: "the spec is valid", observedGeneration: generation, now: stamp)
        conditions.set(type: FerryNames.ConditionType.ready, status: phase == .succeeded, reason: phase == .succeeded ? "Succeeded" : "InProgress", message: phase == .succeeded ? "all steps finished" : "\(status.progress ?? "")", observedGeneration: generation, now: stamp)
        conditions.set(type: FerryNames.ConditionType.progressing, status: phase == .pending || phase == .running, reason: phase == .pending ? "Planned" : phase.rawValue, message: "next step: \(status.step ?? "none")", observedGeneration: generation, now: stamp)
        status.conditions = conditions
        return Decision(status: status, event: Event(reason: "Planned", note: "planned \(steps.count) steps: \(steps.map(\.name).joined(separator: ", "))", warning: false))
    }
}
