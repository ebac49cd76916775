import FerryAPI
import FerryEngine
import KubeClient

/// `validate`: the controller checks every Secret the spec names exists with the keys its step
/// reads, then the Job checks the package, endpoints and volumes (``JobStep``).
struct ValidateStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let namespace = context.namespace
        for (field, name) in StepJobs.secrets(in: context.spec) {
            do {
                let secret = try await context.client.get(.secrets, name: name, namespace: namespace)
                let keys = Set((secret["data"]?.objectValue ?? [:]).keys).union((secret["stringData"]?.objectValue ?? [:]).keys)
                if let problem = StepJobs.secretKeysProblem(field: field, name: name, keys: keys) {
                    return StepObservation(.failed(problem, permanent: true))
                }
            } catch let e as KubeAPIError where e.isNotFound {
                return StepObservation(.failed("Secret \(name) (\(field)) does not exist in namespace \(namespace); create it, then annotate \(FerryNames.rerunAnnotation)=validate", permanent: true))
            }
        }
        return try await JobStep().drive(step, context)
    }
}
