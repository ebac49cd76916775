import FerryAPI
import Foundation
import KubeClient

/// The pure part of status planning: from a Migration to its next status and the event to record.
public enum StatusPlanner {
    public struct Decision: Sendable {
        public var status: MigrationStatus
        /// An Event worth recording: only when the generation or the phase changed, so a
        /// resync does not repeat it.
        public var event: EngineEvent?
    }

    public static func decide(migration: Migration, stamp: String, policy: [ValidationError] = []) -> Decision {
        let generation = migration.metadata.generation ?? 1
        var status = migration.status ?? MigrationStatus()
        var conditions = status.conditions ?? []
        let errors = migration.spec.validate() + policy
        if !errors.isEmpty {
            let message = errors.map(\.description).joined(separator: "; ")
            status.phase = .failed
            status.message = "invalid spec: \(message)"
            status.observedGeneration = generation
            conditions.set(type: FerryNames.ConditionType.specValid, status: false, reason: "InvalidSpec", message: message, observedGeneration: generation, now: stamp)
            conditions.set(type: FerryNames.ConditionType.ready, status: false, reason: "InvalidSpec", message: "fix the spec: \(message)", observedGeneration: generation, now: stamp)
            conditions.set(type: FerryNames.ConditionType.progressing, status: false, reason: "InvalidSpec", message: "nothing runs until the spec is valid", observedGeneration: generation, now: stamp)
            status.conditions = conditions
            let old = migration.status
            let news = old?.observedGeneration != generation || old?.phase != status.phase
            return Decision(status: status, event: news ? EngineEvent(reason: "InvalidSpec", note: message, warning: true) : nil)
        }
        let spec = migration.spec.withDefaults(namespace: migration.metadata.namespace ?? "default")
        var (planned, _) = Engine.prepare(spec: spec, status: status, generation: generation, rerun: nil)
        planned = Engine.summarize(planned, spec: spec, generation: generation, now: Timestamps.parse(stamp) ?? Date())
        return Decision(status: planned, event: Engine.plannedEvent(old: status, planned: planned, generation: generation))
    }
}
