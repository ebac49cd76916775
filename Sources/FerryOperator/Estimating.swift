import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// `status.estimate` (decisions in FerryEngine `Estimator`): made once validate has read the
/// package, again when the plan changes, from the rates the cluster's other Migrations measured.
extension MigrationReconciler {
    func estimated(_ status: MigrationStatus, _ migration: Migration, spec: MigrationSpec) async -> Estimate? {
        guard let validate = status.steps?.first(where: { $0.name == "validate" }), validate.state == .succeeded || validate.state == .failed else { return status.estimate }
        let contents = validate.state == .succeeded ? StepResults.contents(ofValidate: validate.result) : nil
        var whole = spec
        whole.dryRun = nil
        let names = Planner.stepNames(for: whole, contents: contents).filter { !Planner.isSkipped($0, spec: spec) }
        let blockers = validate.state == .failed ? ["validate: \(validate.message ?? "failed")"] : []
        if let e = status.estimate, e.validatedAt == validate.finishedAt, (e.blockers ?? []) == blockers,
           e.steps.map(\.name) == names.filter({ StepKind($0) != .mysqlCutback }) { return e }
        let others = await otherMigrations(than: migration)
        return Estimator.estimate(steps: names, sizes: contents?.sizes ?? [:], history: Estimator.history(others), blockers: blockers,
                                  pace: Estimator.pace(validateSeconds: validate.state == .succeeded ? Estimator.duration(validate) : nil),
                                  between: Estimator.downtimeFactor(others), validatedAt: validate.finishedAt)
    }

    /// The statuses of every other Migration the controller may read (the cluster's, else this namespace's).
    func otherMigrations(than migration: Migration) async -> [MigrationStatus] {
        let items: [JSONValue]
        if let all = try? await client.list(Migration.resource).items {
            items = all
        } else {
            items = (try? await client.list(Migration.resource, namespace: migration.metadata.namespace).items) ?? []
        }
        return items.filter { $0[path: ["metadata", "uid"]]?.stringValue != migration.metadata.uid }
            .compactMap { try? $0["status"]?.decode(as: MigrationStatus.self) }
    }
}
