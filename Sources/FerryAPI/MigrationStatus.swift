import FerryProtocol
import KubeClient

/// Where a migration is. `steps` is the checkpoint a restarted controller continues from.
public struct MigrationStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int64?
    public var phase: Phase?
    /// The step running now (or the last one that ran).
    public var step: String?
    /// "6/11 steps".
    public var progress: String?
    public var message: String?
    public var conditions: [Condition]?
    public var steps: [StepStatus]?
    public var files: FilesStatus?
    /// The gateway of a `spec.files[]` entry with `fallback`: where the application reaches it.
    public var gateway: GatewayStatus?
    /// MySQL replication (mode replicate): how far the target is behind the source.
    public var mysql: ReplicationState?
    /// How long the application could not write: from the moment writes stopped (the source
    /// read-only, or quiesce) until the workloads were Ready again.
    public var downtime: Downtime?
    /// The last `ferry.dev/rerun` request acted on (so it is not acted on twice).
    public var handledRerun: String?
    /// How long each step and the downtime should take, made once validate has read the package.
    public var estimate: Estimate?

    public init() {}
}

/// How long a Migration should take: each step, and the downtime, from the package's sizes and the
/// rates earlier Migrations in the cluster measured (else documented defaults).
public struct Estimate: Codable, Sendable, Hashable {
    public struct Step: Codable, Sendable, Hashable {
        public var name: String
        public var seconds: Double
        /// Where the figure comes from: `measured by 3 earlier runs`, `default 25 MB/s`, …
        public var basis: String
        /// While the application is down.
        public var downtime: Bool

        public init(name: String, seconds: Double, basis: String, downtime: Bool) {
            self.name = name
            self.seconds = seconds
            self.basis = basis
            self.downtime = downtime
        }
    }
    public var steps: [Step]
    public var seconds: Double
    public var downtimeSeconds: Double
    /// What would stop the migration (from validate): a missing Secret, a version mismatch, too little space.
    public var blockers: [String]?
    /// How the downtime was reckoned: the steps' sum, and the time between steps earlier Migrations showed.
    public var downtimeBasis: String?
    /// The validate run whose package sizes it used (made again after validate runs again).
    public var validatedAt: String?

    public init(steps: [Step], seconds: Double, downtimeSeconds: Double, blockers: [String]? = nil, downtimeBasis: String? = nil, validatedAt: String? = nil) {
        self.steps = steps
        self.seconds = seconds
        self.downtimeSeconds = downtimeSeconds
        self.blockers = blockers
        self.downtimeBasis = downtimeBasis
        self.validatedAt = validatedAt
    }
}

/// The migration's overall state.
public enum Phase: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "Pending"
    case running = "Running"
    case paused = "Paused"
    /// The target follows the source by replication; the app still runs on the old side.
    case replicating = "Replicating"
    /// ClickHouse tables copied online and kept in step (`spec.clickhouse.copy.incremental`); the app still runs on the old side.
    case syncing = "Syncing"
    case succeeded = "Succeeded"
    case failed = "Failed"
    /// `ferry.dev/cancel=true`: the running step stopped, the workloads back, nothing runs until the annotation goes.
    case cancelled = "Cancelled"
    /// `spec.dryRun`: validated, planned and estimated; nothing was stopped or written.
    case planned = "Planned"
}

/// One planned step and what happened to it.
public struct StepStatus: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, Hashable, CaseIterable {
        case pending = "Pending"
        case running = "Running"
        case succeeded = "Succeeded"
        case failed = "Failed"
        case skipped = "Skipped"
    }
    public var name: String
    public var state: State
    /// Runs of this step so far, re-runs included (each run has its own Job).
    public var attempts: Int?
    /// Failed runs since the step was last (re)started fresh; the retry limit counts these.
    public var failures: Int?
    public var startedAt: String?
    public var finishedAt: String?
    public var message: String?
    /// When a failed step may start its next attempt.
    public var retryAt: String?
    /// The Job running (or that ran) the step, for `kubectl logs job/<name>`.
    public var job: String?
    /// A small result: rows imported, tables verified, offsets set, bytes…
    public var result: JSONValue?
    /// Some run of this step dropped or overwrote data on the target (a database, table,
    /// offsets or Secret): from then on a failure leaves the workloads stopped.
    public var dataChanged: Bool?
    /// The running step's last progress line (rows or bytes so far) and when it last moved.
    public var progress: String?
    public var progressAt: String?

    public init(name: String, state: State, attempts: Int? = nil, startedAt: String? = nil, finishedAt: String? = nil, message: String? = nil, result: JSONValue? = nil) {
        self.name = name
        self.state = state
        self.attempts = attempts
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.message = message
        self.result = result
    }
}

/// Progress of the file sync.
public struct FilesStatus: Codable, Sendable, Hashable {
    public var filesDone: Int64?
    public var filesTotal: Int64?
    public var bytesDone: Int64?
    public var bytesTotal: Int64?
    public var bytesPerSecond: Int64?
    /// Seconds left at the current rate.
    public var etaSeconds: Int64?
    public var paused: Bool?
    public var lastError: String?
    /// The mover's state: scanning, copying, paused, waitingForWindow, verifying, done, failed.
    public var state: String?
    /// When files or bytes last moved forward (stall detection).
    public var lastProgressAt: String?
    /// The Files printer column, e.g. `41% 118MiB/s ETA 3m`.
    public var summary: String?
    /// The change journal of each package folder (`spec.fileSync.journal`).
    public var journals: [JournalReport]?
    /// Transfer pods in this run (`fileSync.shards`, auto resolved once and kept).
    public var shards: Int?

    public init() {}
}

/// The gateway the application uses while its files move (`spec.files[].fallback`).
public struct GatewayStatus: Codable, Sendable, Hashable {
    /// The S3 endpoint (the Service's address), e.g. `http://10.43.0.12:9000`.
    public var endpoint: String?
    /// The bucket name the application uses.
    public var bucket: String?
    /// The Secret with the keys the application signs with (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
    public var keysSecret: String?
    /// Every object is in the target and verified: the application may use the store directly.
    public var copied: Bool?
    public var message: String?

    public init(endpoint: String? = nil, bucket: String? = nil, keysSecret: String? = nil, copied: Bool? = nil, message: String? = nil) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.keysSecret = keysSecret
        self.copied = copied
        self.message = message
    }
}

/// MySQL replication from the old server, as the last look found it.
public struct ReplicationState: Codable, Sendable, Hashable {
    /// `Seconds_Behind_Master` (nil while the replica's SQL thread is not running).
    public var lagSeconds: Int64?
    /// Transactions the target has still to apply (the GTID difference).
    public var transactionsBehind: Int64?
    /// Transactions applied per second since the previous look.
    public var applyRate: Double?
    public var sourcePosition: String?
    public var appliedPosition: String?
    /// The replication error (the SQL error names the table); the cutover waits until it is gone.
    public var lastError: String?
    public var observedAt: String?
    /// Verify while running: the tables compared at one GTID position, those that differ.
    public var verification: ReplicationVerification?
    /// The MySQL printer column, e.g. `lag 0s, verified`.
    public var summary: String?

    public init() {}
}

/// From the moment writes stopped to the moment the workloads were Ready (`to` unset while it lasts).
public struct Downtime: Codable, Sendable, Hashable {
    public var from: String?
    public var to: String?
    public var seconds: Double?

    public init(from: String? = nil, to: String? = nil, seconds: Double? = nil) {
        self.from = from
        self.to = to
        self.seconds = seconds
    }
}

/// The `migrations.ferry.dev` custom resource.
public struct Migration: KubeResource, Hashable {
    public static let resource = ResourceDescriptor(group: "ferry.dev", version: "v1alpha1", plural: "migrations", kind: "Migration", namespaced: true)
    public var apiVersion: String = "ferry.dev/v1alpha1"
    public var kind: String = "Migration"
    public var metadata: ObjectMeta
    public var spec: MigrationSpec
    public var status: MigrationStatus?

    public init(metadata: ObjectMeta, spec: MigrationSpec, status: MigrationStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// Well-known names: annotations, labels, finalizer, condition types.
public enum FerryNames {
    public static let finalizer = "ferry.dev/cleanup"
    public static let filesAnnotation = "ferry.dev/files"
    /// `now`: cut over to the replicated MySQL target as soon as its lag allows.
    public static let cutoverAnnotation = "ferry.dev/cutover"
    public static let rerunAnnotation = "ferry.dev/rerun"
    /// `true`: stop the running step, bring the workloads back, run nothing more until it is removed
    /// (then the Migration continues from its checkpoint, stopping the workloads again first).
    public static let cancelAnnotation = "ferry.dev/cancel"
    public static let replicasAnnotation = "ferry.dev/replicas"
    /// On a workload a Migration stopped: `<namespace>/<name>/<uid>` of that Migration. A second
    /// Migration selecting it is refused while the claim holds.
    public static let claimAnnotation = "ferry.dev/claimed-by"
    public static let migrationLabel = "ferry.dev/migration"

    public enum ConditionType {
        public static let ready = "Ready"
        public static let progressing = "Progressing"
        public static let degraded = "Degraded"
        public static let paused = "Paused"
        public static let specValid = "SpecValid"
    }
}
