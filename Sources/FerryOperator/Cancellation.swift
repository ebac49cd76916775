import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import KubeRuntime

/// `ferry.dev/cancel=true` (decisions in FerryEngine `Cancel`): the running step's Jobs and pods
/// deleted and waited for, the workloads brought back, phase Cancelled.
extension MigrationReconciler {
    /// nil when no cancel is asked for, nothing is left to cancel, or a step that must not be
    /// stopped halfway is still running (the plan drives it to its end and starts nothing after it).
    func ensureCancelled(_ object: JSONValue, _ migration: Migration, spec: MigrationSpec, status prepared: MigrationStatus) async throws -> ReconcileAction? {
        guard Cancel.requested(migration.metadata.annotations), Cancel.applies(prepared, spec: spec), Cancel.waitsFor(prepared) == nil else { return nil }
        let old = migration.status ?? MigrationStatus()
        let generation = migration.metadata.generation ?? 1
        var status = prepared
        let running = status.steps?.first { $0.state == .running }?.name
        if old.phase != .cancelled {
            await events.record(object, .warning, reason: "Cancelling", note: "\(FerryNames.cancelAnnotation)=true: stopping \(running ?? "nothing (no step runs)"), then bringing the workloads back")
        }
        let left = try await stopStepWork(migration, object: object)
        if left > 0 {
            status = Cancel.summarize(status, workloads: "stopping \(running ?? "the step's pods") (\(left) Jobs or pods still going)", generation: generation, now: now())
            try await writeStatus(status, old: old, object: object)
            return .requeueAfter(1)
        }
        status = Cancel.stopped(status, now: now())
        let resumed = status.steps?.contains { $0.name == "resume" && $0.state == .succeeded } == true
        var workloads = spec.workloads == nil ? "no workloads to bring back" : resumed ? "the workloads are running (resume had run)" : "the workloads were not stopped"
        var requeue: Double?
        if Cancel.needsResume(status, spec: spec), let w = spec.workloads {
            let quiesced = StepResults.quiesce(status.steps?.first { $0.name == "quiesce" }?.result)
            switch try await Workloads(client: client).resume(namespace: w.namespace ?? migration.metadata.namespace ?? "default", remembered: quiesced, owner: .init(migration)) {
            case .succeeded:
                status = Cancel.workloadsBack(status, now: now())
                workloads = "the workloads are back"
                await events.record(object, .normal, reason: "WorkloadsResumed", note: "restored the saved replicas (\(FerryNames.cancelAnnotation))", action: "Scale")
            case .running(let m):
                workloads = "bringing the workloads back (\(m ?? "waiting for them to be Ready"))"
                requeue = settings.pollSeconds
            case .failed(let m, _, _):
                workloads = "the workloads could not be brought back yet: \(m)"
                requeue = 5
            }
        } else if status.steps?.contains(where: { $0.name == "quiesce" && ($0.message ?? "").hasPrefix("the workloads were brought back") }) == true {
            workloads = "the workloads are back"
        }
        status = Engine.summarize(status, spec: spec, generation: generation, now: now())
        status = Cancel.summarize(status, workloads: workloads, generation: generation, now: now())
        try await writeStatus(status, old: old, object: object)
        if requeue == nil, old.conditions?.condition(FerryNames.ConditionType.ready)?.reason != "Cancelled" || old.message != status.message {
            await events.record(object, .warning, reason: "Cancelled", note: status.message ?? "cancelled")
        }
        return requeue.map { .requeueAfter($0) } ?? .done
    }

    /// Deletes the Jobs and step pods of this Migration (not the gateway); how many are still there.
    func stopStepWork(_ migration: Migration, object: JSONValue) async throws -> Int {
        let selector = ListOptions(labelSelector: "\(FerryNames.migrationLabel)=\(migration.metadata.name ?? ""),\(StepJobs.stepLabel)")
        let namespace = migration.metadata.namespace ?? "default"
        var left = 0
        for resource in [ResourceDescriptor.jobs, .pods] {
            for item in try await client.list(resource, namespace: namespace, options: selector).items {
                left += 1
                guard item[path: ["metadata", "deletionTimestamp"]] == nil, let name = item.name else { continue }
                do {
                    try await client.delete(resource, name: name, namespace: namespace, options: DeleteOptions(propagationPolicy: .background))
                    await events.record(object, .normal, reason: "Cancelling", note: "deleted \(resource.kind) \(name)", action: "Delete")
                } catch let e as KubeAPIError where e.isNotFound {}
            }
        }
        return left
    }
}
