import FerryAPI
import FerryEngine

/// `resume`: what quiesce saved and this Migration's claims decide, even without spec.workloads now.
struct ResumeStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let quiesced = StepResults.quiesce(context.status.steps?.first { $0.name == "quiesce" }?.result)
        return StepObservation(try await Workloads(client: context.client).resume(
            namespace: context.spec.workloads?.namespace ?? context.namespace, remembered: quiesced, owner: .init(context.migration)))
    }
}
