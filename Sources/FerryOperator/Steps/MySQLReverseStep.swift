import FerryAPI
import FerryEngine
import FerryProtocol

/// `mysql-reverse` (with `spec.mysql.cutover.reverseReplication`): `ferry mysql reverse` in a
/// Job: the old server replicates from the new one, from the new one's position at promotion
/// (the cutover's report), after the errant-transaction check.
struct MySQLReverseStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? { nil }

    func arguments(for step: StepStatus, spec: MigrationSpec, earlier: MigrationStatus) -> (any StepArguments)? {
        guard let m = spec.mysql, m.reverses, let servers = MySQLSnapshotStep.servers(spec),
              let cut = earlier.steps?.first(where: { $0.name == "mysql-cutover" && $0.state == .succeeded })?.result.flatMap({ try? $0.decode(as: MySQLCutoverResult.self) }),
              let from = cut.targetPosition else { return nil }
        let databases = cut.databases ?? MySQLSnapshotStep.databases(spec, earlier: earlier)
        return MySQLReverseArguments(servers: servers, from: from, databases: databases, reverseHost: Self.reverseHost(m), reversePort: Self.reversePort(m))
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] { MySQLSnapshotStep.secrets(spec) }
    var readsPackage: Bool { false }

    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let cut = context.status.steps?.first { $0.name == "mysql-cutover" }?.result.flatMap { try? $0.decode(as: MySQLCutoverResult.self) }
        guard cut?.targetPosition != nil else {
            return StepObservation(.failed("the cutover did not record the new server's position at its promotion (it was found promoted by an earlier run that ended before it reported), "
                + "so reverse replication cannot start without losing or repeating writes; set it up by hand, or go without it (spec.mysql.cutover.reverseReplication: false)",
                permanent: true, untouched: true))
        }
        return try await JobStep(kind: self).run(step, context)
    }

    static func reverseHost(_ m: MySQLSpec) -> String { m.cutover?.reverseHost ?? m.host }
    static func reversePort(_ m: MySQLSpec) -> Int { m.cutover?.reversePort ?? m.port ?? MigrationDefaults.mysqlPort }
}

/// `mysql-cutback` (on `ferry.dev/cutover=reverse`): the cutover the other way, `ferry mysql
/// cutover --back`: the new server read-only, the old one caught up and promoted.
struct MySQLCutbackStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let m = spec.mysql, m.reverses, let servers = MySQLSnapshotStep.servers(spec) else { return nil }
        return MySQLCutoverArguments(servers: servers, timeoutSeconds: m.cutover?.timeoutSeconds ?? MigrationDefaults.cutoverTimeoutSeconds,
                                     killWriters: m.cutover?.killWriters == true, back: true,
                                     reverseHost: MySQLReverseStep.reverseHost(m), reversePort: MySQLReverseStep.reversePort(m))
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] { MySQLSnapshotStep.secrets(spec) }
    var readsPackage: Bool { false }
}
