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

    /// An entry that does not read is skipped, not the whole list: resume brings back every
    /// workload it can name.
    public init(from decoder: Decoder) throws {
        struct Entry: Decodable {
            var workload: Workload?
            init(from decoder: Decoder) throws { workload = try? Workload(from: decoder) }
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        namespace = try c.decode(String.self, forKey: .namespace)
        workloads = (try c.decodeIfPresent([Entry].self, forKey: .workloads) ?? []).compactMap(\.workload)
    }
}

/// Reading a step's result (`status.steps[].result`) as its kind's typed struct (FerryProtocol
/// for the data plane's, ``QuiesceResult`` for the controller's own).
public enum StepResults {
    /// What validate found in the package; nil until validate has succeeded with a readable result.
    public static func contents(ofValidate result: JSONValue?) -> PackageContents? {
        try? result?["package"]?.decode(as: PackageContents.self)
    }

    /// The free space validate measured on the target volumes.
    public static func volumes(ofValidate result: JSONValue?) -> [VolumeSpace] {
        (try? result?["volumes"]?.decode(as: [VolumeSpace].self)) ?? []
    }

    public static func quiesce(_ result: JSONValue?) -> QuiesceResult? {
        try? result?.decode(as: QuiesceResult.self)
    }

    /// A one-line summary for the StepSucceeded Event, from the kind's typed result (one, or a list).
    public static func summary(of step: String, result: JSONValue?) -> String {
        guard let result, let type = StepKind(step).resultType else { return "done" }
        func read<R: StepResult>(_ t: R.Type) -> String? {
            if let one = try? result.decode(as: t) { return one.summary }
            return (try? result.decode(as: [R].self)).map { R.summary(of: $0) }
        }
        return read(type) ?? "done"
    }
}

extension QuiesceResult: StepResult {
    public var summary: String { "workloads \(workloads.count) in \(namespace)" }
}
