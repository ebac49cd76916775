import FerryAPI
import FerryEngine
import FerryProtocol

/// `mysql-cutover` (mode replicate): `ferry mysql cutover` in a Job: the source read-only, the
/// target caught up and promoted; on a timeout the source is writable again (nothing lost).
/// Downtime starts at its `readOnlyAt`.
struct MySQLCutoverStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let m = spec.mysql, m.replicates, let servers = MySQLSnapshotStep.servers(spec) else { return nil }
        return MySQLCutoverArguments(servers: servers, timeoutSeconds: m.cutover?.timeoutSeconds ?? MigrationDefaults.cutoverTimeoutSeconds,
                                     maxLagSeconds: m.cutover?.maxLagSeconds ?? MigrationDefaults.cutoverMaxLagSeconds, killWriters: m.cutover?.killWriters == true)
    }

    func arguments(for step: StepStatus, spec: MigrationSpec, earlier: MigrationStatus) -> (any StepArguments)? {
        guard var args = arguments(for: step, spec: spec) as? MySQLCutoverArguments else { return nil }
        args.databases = MySQLSnapshotStep.databases(spec, earlier: earlier)
        return args
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] { MySQLSnapshotStep.secrets(spec) }
}
