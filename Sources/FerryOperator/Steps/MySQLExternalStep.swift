import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient

/// `mysql-external`: nothing is restored; the database stays on its server (validate found it
/// there with its schemas). With `configRef`, the application's ConfigMap or Secret key is
/// pointed at it while the application is stopped (the decision: ``ExternalEndpoint``).
struct MySQLExternalStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        guard let external = context.spec.mysql?.external else {
            return StepObservation(.failed("spec.mysql.external is not set", permanent: true))
        }
        let validate = context.status.steps?.first { $0.name == "validate" }
        guard let check = ExternalEndpoint.check(ofValidate: validate?.result) else {
            return StepObservation(.failed("validate has not reported the external database; annotate \(FerryNames.rerunAnnotation)=validate", permanent: true, untouched: true))
        }
        guard let ref = external.configRef else {
            return StepObservation(.succeeded(result: try? JSONValue(encoding: MySQLExternalResult(endpoint: check.endpoint)), message: nil))
        }
        let resource: ResourceDescriptor = ref.kind == "Secret" ? .secrets : .configMaps
        let object: JSONValue
        do {
            object = try await context.client.get(resource, name: ref.name, namespace: context.namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            return StepObservation(.failed("\(ref.kind) \(ref.name) (spec.mysql.external.configRef) does not exist in namespace \(context.namespace); create it or name the one the application reads, then annotate \(FerryNames.rerunAnnotation)=mysql-external",
                                           permanent: true, untouched: true))
        }
        let raw = object[path: ["data", ref.key]]?.stringValue
        let current = ref.kind == "Secret" ? raw.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } : raw
        let annotations = (object[path: ["metadata", "annotations"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        guard let write = ExternalEndpoint.plan(ref: ref, check: check, current: current, annotations: annotations,
                                                resourceVersion: object[path: ["metadata", "resourceVersion"]]?.stringValue) else {
            return StepObservation(.failed("validate reported the external database as \(check.endpoint), which is not host:port", permanent: true, untouched: true))
        }
        if let patch = write.patch {
            do {
                _ = try await context.client.patch(resource, name: ref.name, namespace: context.namespace, .merge(patch))
            } catch let e as KubeAPIError where e.isConflict {
                return StepObservation(.running("\(ref.kind) \(ref.name) changed while it was read; reading it again"))
            }
        }
        return StepObservation(.succeeded(result: try? JSONValue(encoding: write.result), message: nil))
    }
}
