import FerryAPI
import FerryEngine
import Foundation
import KubeClient

/// `status.estimate` (decisions in FerryEngine `Estimator`): made once validate has read the
/// package, again when the plan changes or validate runs again, from the rates the cluster's
/// other Migrations measured.
extension MigrationReconciler {
    func estimated(_ status: MigrationStatus, _ migration: Migration, spec: MigrationSpec) async -> Estimate? {
        guard let validate = status.steps?.first(where: { $0.name == "validate" }), validate.state == .succeeded || validate.state == .failed else { return status.estimate }
        let contents = validate.state == .succeeded ? StepResults.contents(ofValidate: validate.result) : nil
        let blockers = validate.state == .failed ? ["validate: \(validate.message ?? "failed")"] : []
        if let e = status.estimate, e.validatedAt == validate.finishedAt, (e.blockers ?? []) == blockers,
           e.steps.map(\.name) == Estimator.steps(for: spec, contents: contents) { return e }
        let others = await MigrationHistory.statuses(client, except: migration)
        return Estimator.forPlan(spec, contents: contents, validate: validate, others: others, blockers: blockers)
    }
}

/// What the cluster's other Migrations measured, as whoever asks may read it.
public enum MigrationHistory {
    /// Every other Migration's status: the cluster's, else (a namespaced role) this namespace's.
    public static func statuses(_ client: KubeClient, except migration: Migration) async -> [MigrationStatus] {
        let items: [JSONValue]
        if let all = try? await client.list(Migration.resource).items {
            items = all
        } else {
            items = (try? await client.list(Migration.resource, namespace: migration.metadata.namespace).items) ?? []
        }
        // By uid; a manifest not applied yet has none, so by name in its namespace.
        let same = { (o: JSONValue) -> Bool in
            if let uid = migration.metadata.uid { return o[path: ["metadata", "uid"]]?.stringValue == uid }
            return o.name == migration.metadata.name && o.namespace == (migration.metadata.namespace ?? "default")
        }
        return items.filter { !same($0) }.compactMap { try? $0["status"]?.decode(as: MigrationStatus.self) }
    }
}
