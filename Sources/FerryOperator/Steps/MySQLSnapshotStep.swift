import FerryAPI
import FerryEngine
import FerryProtocol

/// `mysql-snapshot` (mode replicate): `ferry mysql snapshot` in a Job (data plane:
/// FerrySteps/MySQL, `Replication`): one consistent copy of the running source, restored into
/// the target, which then replicates from the copy's GTID position.
struct MySQLSnapshotStep: JobStepKind {
    static let scratch = "/scratch"

    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let m = spec.mysql, m.replicates, let servers = Self.servers(spec) else { return nil }
        // A database on the target is this Migration's only if an earlier run of this step wrote it.
        return MySQLSnapshotArguments(servers: servers, databases: m.source?.databases ?? [], parallelism: m.parallelism?.argument ?? MigrationDefaults.mysqlParallelism,
                                      workDir: Self.scratch, replaceExisting: step.dataChanged == true, reversible: m.reverses,
                                      package: m.source?.fromPackage == true ? StepPod.packageMount : nil)
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] { Self.secrets(spec) }

    func validation(spec: MigrationSpec) -> StepValidation {
        guard let m = spec.mysql, m.replicates, let src = m.source else { return StepValidation() }
        return StepValidation(requires: src.fromPackage ? "mysql" : nil, endpoints: [.init(name: "spec.mysql", host: m.host, port: m.port ?? MigrationDefaults.mysqlPort),
                                          .init(name: "spec.mysql.source", host: src.host, port: src.port ?? MigrationDefaults.mysqlPort)])
    }

    /// Room for the dump while it is restored (the node's ephemeral storage, no 1 GiB /tmp limit).
    func extraVolumes(spec: MigrationSpec) -> StepPod.Volumes {
        StepPod.Volumes(volumes: [["name": "scratch", "emptyDir": [:]]], mounts: [["name": "scratch", "mountPath": .string(Self.scratch)]])
    }

    /// The two servers, with both Secrets mounted.
    static func servers(_ spec: MigrationSpec) -> MySQLServers? {
        guard let m = spec.mysql, let src = m.source else { return nil }
        return MySQLServers(sourceHost: src.host, sourcePort: src.port ?? MigrationDefaults.mysqlPort, sourceCredentialsDir: StepPod.credentialsMount("mysql-source"),
                            host: m.host, port: m.port ?? MigrationDefaults.mysqlPort, credentialsDir: StepPod.credentialsMount("mysql"))
    }

    /// The migrated databases: as the snapshot restored them, else as the spec lists them.
    static func databases(_ spec: MigrationSpec, earlier: MigrationStatus) -> [String] {
        let snapshot = earlier.steps?.first { $0.name == "mysql-snapshot" && $0.state == .succeeded }?.result.flatMap { try? $0.decode(as: MySQLSnapshotResult.self) }
        return snapshot?.databases.map(\.database) ?? spec.mysql?.source?.databases ?? []
    }

    static func secrets(_ spec: MigrationSpec) -> [StepSecret] {
        guard let m = spec.mysql, m.replicates, let src = m.source else { return [] }
        return [StepSecret(kind: "mysql", field: "spec.mysql.credentialsSecret", name: m.credentialsSecret, required: ["username", "password"]),
                StepSecret(kind: "mysql-source", field: "spec.mysql.source.credentialsSecret", name: src.credentialsSecret, required: ["username", "password"])]
    }
}
