import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import KubeRuntime

/// `ferry.dev/cancel=true` (decisions in FerryEngine `Cancel`): the running step marked, its Jobs
/// and pods deleted and waited for, quiesce and resume marked, the workloads brought back, phase
/// Cancelled. Every mark is written before the action it announces, and each pass does one thing.
extension MigrationReconciler {
    /// nil: nothing to do here (no cancel, nothing left to cancel, or a cutover that must end
    /// first, which the plan drives while it starts nothing after it).
    func ensureCancelled(_ object: JSONValue, _ migration: Migration, spec: MigrationSpec, status prepared: MigrationStatus) async throws -> ReconcileAction? {
        let requested = Cancel.requested(migration.metadata.annotations)
        let stopping = Cancel.stopping(prepared)
        guard requested || stopping != nil else { return nil }
        if stopping == nil, !Cancel.applies(prepared, spec: spec) || Cancel.waitsFor(prepared) != nil { return nil }
        let old = migration.status ?? MigrationStatus()
        let generation = migration.metadata.generation ?? 1
        var status = prepared
        func finish(_ status: MigrationStatus, workloads: String, requeue: Double?) async throws -> ReconcileAction {
            var out = Engine.summarize(status, spec: spec, generation: generation, now: now())
            out = Cancel.summarize(out, previous: old.conditions, workloads: workloads, generation: generation, now: now())
            try await writeStatus(out, old: old, object: object)
            if requeue == nil, old.phase != .cancelled || old.message != out.message {
                await events.record(object, .warning, reason: "Cancelled", note: out.message ?? "cancelled")
            }
            return requeue.map { .requeueAfter($0) } ?? .done
        }

        // 1. The running step: marked (checkpoint), then its Jobs and pods deleted and waited for, then Pending.
        if stopping == nil, let running = status.steps?.first(where: { $0.state == .running }) {
            status = Cancel.markStopping(status, now: now())
            try await writeStatus(status, old: old, object: object)
            await events.record(object, .warning, reason: "Cancelling", note: "\(FerryNames.cancelAnnotation)=true: stopping \(running.name), then bringing the workloads back")
            return .requeueAfter(0.05)
        }
        if let step = stopping {
            let left = try await stopStepWork(migration, object: object)
            if left > 0 {
                return requested ? try await finish(status, workloads: "stopping \(step.name) (\(left) Jobs or pods still going)", requeue: 1) : .requeueAfter(1)
            }
            status = Cancel.stopped(status, now: now())
            guard requested else {
                // The annotation went while the step was being stopped: the plan continues from here.
                try await writeStatus(status, old: old, object: object)
                return .requeueAfter(0.05)
            }
        }

        // 2. The workloads: quiesce and resume marked first, then scaled up until Ready.
        if Cancel.needsResume(status, spec: spec) {
            let marked = Cancel.bringingBack(status, now: now())
            if marked != status {
                try await writeStatus(marked, old: old, object: object)
                return .requeueAfter(0.05)
            }
            let quiesced = StepResults.quiesce(status.steps?.first { $0.name == "quiesce" }?.result)
            let namespace = spec.workloads?.namespace ?? migration.metadata.namespace ?? "default"
            switch try await Workloads(client: client).resume(namespace: namespace, remembered: quiesced, owner: .init(migration)) {
            case .succeeded:
                status = Cancel.workloadsBack(status, now: now())
                await events.record(object, .normal, reason: "WorkloadsResumed", note: "restored the saved replicas (\(FerryNames.cancelAnnotation))", action: "Scale")
                return try await finish(status, workloads: "the workloads are back", requeue: nil)
            case .running(let m):
                return try await finish(status, workloads: "bringing the workloads back (\(m ?? "waiting for them to be Ready"))", requeue: settings.pollSeconds)
            case .failed(let m, _, _):
                return try await finish(status, workloads: "the workloads could not be brought back yet: \(m); trying again", requeue: 5)
            }
        }
        let steps = status.steps ?? []
        let workloads: String
        if steps.first(where: { $0.name == "resume" })?.message?.hasPrefix("the workloads were brought back") == true {
            workloads = "the workloads are back"
        } else if spec.workloads?.leaveStoppedOnFailure == true, steps.contains(where: { $0.name == "quiesce" && ($0.attempts ?? 0) > 0 }) {
            workloads = "the workloads stay stopped (spec.workloads.leaveStoppedOnFailure)"
        } else if steps.contains(where: { $0.name == "resume" && $0.state == .succeeded }) {
            workloads = "the workloads are running (resume had run)"
        } else {
            workloads = spec.workloads == nil ? "no workloads to bring back" : "the workloads were not stopped"
        }
        return try await finish(status, workloads: workloads, requeue: nil)
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
