import AsyncHTTPClient
import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import Logging

/// What a driver needs to act on one step: the API, the settings, the Migration as the
/// reconciler read it, and the time.
struct StepContext: Sendable {
    let client: KubeClient
    /// The one HTTP client for everything but the API (the transfer pod's control endpoint).
    let http: HTTPClient
    let settings: StepSettings
    let logger: Logger
    let migration: Migration
    /// With defaults filled in.
    let spec: MigrationSpec
    let status: MigrationStatus
    /// `ferry.dev/files=paused`.
    let filesPaused: Bool
    let now: Date

    var namespace: String { migration.metadata.namespace ?? "default" }
}

/// What a driver saw: the step's outcome, for the file sync its progress, for MySQL replication
/// its state, for a Job step the Job.
struct StepObservation: Sendable {
    var outcome: StepOutcome
    var files: FilesStatus?
    var mysql: ReplicationState?
    var job: String?

    init(_ outcome: StepOutcome, files: FilesStatus? = nil, mysql: ReplicationState? = nil, job: String? = nil) {
        self.outcome = outcome
        self.files = files
        self.mysql = mysql
        self.job = job
    }
}

/// One step kind's work, as VolSync has one small mover per kind: act on the running step and
/// report what is observed. The engine decides; the driver only acts and looks.
protocol StepDriver: Sendable {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation
}

/// The one place a step kind picks its driver: an exhaustive switch, no `default`.
enum StepDrivers {
    static func driver(for kind: FerryEngine.StepKind) -> any StepDriver {
        switch kind {
        case .validate: return ValidateStep()
        case .presync, .files: return FileSyncStep()
        case .quiesce: return QuiesceStep()
        case .mysqlSnapshot: return MySQLSnapshotStep()
        case .mysqlReplicate: return MySQLReplicateStep()
        case .mysqlStopSource: return MySQLStopSourceStep()
        case .mysqlCutover: return MySQLCutoverStep()
        case .mysqlReverse: return MySQLReverseStep()
        case .mysqlCutback: return MySQLCutbackStep()
        case .resume: return ResumeStep()
        case .mysql: return MySQLStep()
        case .mysqlExternal: return MySQLExternalStep()
        case .clickhouse: return ClickHouseStep()
        case .kafka: return KafkaStep()
        case .config: return ConfigStep()
        case .cache: return CacheStep()
        case .rebuild: return RebuildStep()
        case .clickhouseSchema: return ClickHouseSchemaStep()
        case .clickhouseSync: return ClickHouseSyncStep()
        case .clickhouseCopy: return ClickHouseCopyStep()
        case .unknown: return UnknownStep()
        }
    }

    /// Every kind a Job runs, in plan order (what validate checks across them).
    static let jobKinds: [any JobStepKind] = StepKind.all.compactMap { driver(for: $0) as? any JobStepKind }
}

/// A step name Ferry does not know (a plan from a newer version).
struct UnknownStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        StepObservation(.failed("\(step.name) is not a step Ferry knows", permanent: true))
    }
}
