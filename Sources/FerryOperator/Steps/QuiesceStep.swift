import FerryAPI
import FerryEngine

/// `quiesce`: the selected workloads claimed, their replicas saved, scaled to 0 (see ``Workloads``).
struct QuiesceStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        guard let w = context.spec.workloads else { return StepObservation(.succeeded(result: nil, message: "no workloads")) }
        return StepObservation(try await Workloads(client: context.client).quiesce(w, namespace: w.namespace ?? context.namespace, owner: .init(context.migration)))
    }
}
