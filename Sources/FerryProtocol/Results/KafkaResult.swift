/// What `restore kafka` reports: one change per partition set or clamped.
public struct KafkaOffsetChange: Codable, Sendable, Equatable {
    public var group: String
    public var partition: String
    public var current: Int64?
    public var new: Int64
    public var clampedFrom: Int64?

    public init(group: String, partition: String, current: Int64? = nil, new: Int64, clampedFrom: Int64? = nil) {
        self.group = group
        self.partition = partition
        self.current = current
        self.new = new
        self.clampedFrom = clampedFrom
    }
}

public struct KafkaResult: Codable, Sendable, Equatable {
    public var mode: String
    public var groups: Int
    public var partitionsSet: Int
    public var clamped: Int
    public var dryRun: Bool
    /// Requests sent to the brokers.
    public var requests: Int
    public var seconds: Double
    /// Every clamp, and in a dry run the whole plan (first 200).
    public var changes: [KafkaOffsetChange]

    public init(mode: String, groups: Int, partitionsSet: Int, clamped: Int, dryRun: Bool, requests: Int, seconds: Double, changes: [KafkaOffsetChange]) {
        self.mode = mode
        self.groups = groups
        self.partitionsSet = partitionsSet
        self.clamped = clamped
        self.dryRun = dryRun
        self.requests = requests
        self.seconds = seconds
        self.changes = changes
    }
}


extension KafkaResult: StepResult {
    public var summary: String { "groups \(groups), partitions set \(partitionsSet), clamped \(clamped)\(dryRun ? " (dry run)" : "")" }
}
