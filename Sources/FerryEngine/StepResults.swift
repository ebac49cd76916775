import FerryProtocol
import KubeClient

/// What quiesce saved, for resume: the namespace and each workload's replicas before it was
/// stopped. The controller writes it (quiesce's `status.steps[].result`) and reads it back.
public struct QuiesceResult: Codable, Equatable, Sendable {
    public struct Workload: Codable, Equatable, Sendable {
        /// Deployment or StatefulSet.
        public var kind: String
        public var name: String
        public var replicas: Int64
        public init(kind: String, name: String, replicas: Int64) {
            self.kind = kind
            self.name = name
            self.replicas = replicas
        }
    }

    public var namespace: String
    public var workloads: [Workload]
    public init(namespace: String, workloads: [Workload]) {
        self.namespace = namespace
        self.workloads = workloads
    }
}

/// Reading a step's result (`status.steps[].result`) as its kind's typed struct (FerryProtocol
/// for the data plane's, ``QuiesceResult`` for the controller's own).
public enum StepResults {
    /// What validate found in the package; nil until validate has succeeded with a readable result.
    public static func contents(ofValidate result: JSONValue?) -> PackageContents? {
        try? result?["package"]?.decode(as: PackageContents.self)
    }

    public static func quiesce(_ result: JSONValue?) -> QuiesceResult? {
        try? result?.decode(as: QuiesceResult.self)
    }

    /// A one-line summary for the StepSucceeded Event.
    public static func summary(of step: String, result: JSONValue?) -> String {
        guard let result else { return "done" }
        func read<R: Decodable>(_ type: R.Type) -> R? { try? result.decode(as: type) }
        let text: String?
        switch StepKind(step) {
        case .validate:
            text = read(ValidateResult.self).map { "package \($0.packageVersion): \($0.package.mysql.count) databases, \($0.package.clickhouse.count) ClickHouse tables" }
        case .mysql:
            text = read(MySQLResult.self).map { "rows \($0.rows), tables \($0.tables)" }
        case .clickhouse:
            let tables = read(ClickHouseResult.self).map { [$0] } ?? read([ClickHouseResult].self)
            text = tables.map { "rows \($0.map(\.rows).reduce(0, +)), partitions \($0.map(\.partitions).reduce(0, +))" }
        case .kafka:
            text = read(KafkaResult.self).map { "groups \($0.groups), partitions set \($0.partitionsSet), clamped \($0.clamped)" }
        case .config:
            text = read(ConfigResult.self).map { "Secret \($0.secret) \($0.action), keys \($0.keys.count)" }
        case .cache:
            text = read(CacheResult.self).map { "command \($0.command), keysBefore \($0.keysBefore)" }
        case .quiesce, .resume:
            text = (quiesce(result)?.workloads.count ?? result["workloads"]?.arrayValue?.count).map { "workloads \($0)" }
        case .presync, .files:
            text = read(FileSyncResult.self).map { "files \($0.filesTotal), copied \($0.filesCopied)" }
        case .rebuild:
            text = ["job", "deployment", "new"].lazy.compactMap { k in result[k]?.stringValue.map { "\(k) \($0)" } }.first
        case .unknown:
            text = nil
        }
        return text ?? "done"
    }
}
