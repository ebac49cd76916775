import FerryAPI
import FerryEngine

/// `mysql-stop-source` (mode replicate, with `spec.mysql.cutover.stopSource`): the user's Job
/// that stops the old application, run to completion right before the cutover sets the source
/// read-only. A failure touches no database, but the old application may be stopped: the
/// message says so.
struct MySQLStopSourceStep: StepDriver {
    static let field = "spec.mysql.cutover.stopSource"

    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        guard let template = context.spec.mysql?.cutover?.stopSource?.template else {
            return StepObservation(.failed("\(Self.field) is not set", permanent: true))
        }
        let outcome = try await TemplateJob(client: context.client).run(template, field: Self.field, step: step.name, migration: context.migration, attempt: step.attempts ?? 1)
        if case .failed(let why, let permanent, let untouched) = outcome, !untouched {
            return StepObservation(.failed("\(why); no database was touched and the source still takes writes, but the old application may be stopped: check it before the cutover is tried again",
                                           permanent: permanent, untouched: untouched))
        }
        return StepObservation(outcome)
    }
}
