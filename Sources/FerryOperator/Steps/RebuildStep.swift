import FerryAPI
import FerryEngine

/// `rebuild/<name>`: a ConfigMap bump, a Job from a template, or a rollout restart (see ``Rebuilds``).
struct RebuildStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        guard case .rebuild(let name) = StepKind(step.name), let rebuild = context.spec.rebuilds?.first(where: { $0.name == name }) else {
            return StepObservation(.failed("no rebuilds[] entry for \(step.name)", permanent: true))
        }
        return StepObservation(try await Rebuilds(client: context.client).run(rebuild, migration: context.migration, attempt: step.attempts ?? 1, now: context.now))
    }
}
