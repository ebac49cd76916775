import FerryProtocol
import Foundation
import KubeClient

/// `kafka/offsets.json` in a package: each group's committed offsets and each
/// partition's valid range at export time.
public struct KafkaOffsetsFile: Codable, Sendable, Equatable {
    public struct Range: Codable, Sendable, Equatable {
        public var earliest: Int64
        public var latest: Int64
    }
    /// group → topic → partition → offset.
    public var groups: [String: [String: [String: Int64]]]
    /// topic → partition → range.
    public var partitions: [String: [String: Range]]
    public var exportedAt: String

    public init(groups: [String: [String: [String: Int64]]] = [:], partitions: [String: [String: Range]] = [:], exportedAt: String = "") {
        self.groups = groups
        self.partitions = partitions
        self.exportedAt = exportedAt
    }

    func offsets(of group: String) -> [KafkaClient.Partition: Int64] {
        var out: [KafkaClient.Partition: Int64] = [:]
        for (topic, parts) in groups[group] ?? [:] {
            for (p, o) in parts { if let n = Int32(p) { out[KafkaClient.Partition(topic, n)] = o } }
        }
        return out
    }
}

/// `ferry export kafka`: reads the listed groups' (or all groups') committed offsets.
public enum KafkaExport {
    public static func run(_ client: KafkaClient, groups: [String]?) async throws -> KafkaOffsetsFile {
        var file = KafkaOffsetsFile(exportedAt: Timestamps.now())
        let names: [String]
        if let groups, !groups.isEmpty { names = groups } else { names = try await client.listGroups() }
        var touched = Set<KafkaClient.Partition>()
        for g in names {
            let offsets = try await client.committedOffsets(g)
            for (p, o) in offsets {
                file.groups[g, default: [:]][p.topic, default: [:]][String(p.partition)] = o
                touched.insert(p)
            }
        }
        let list = touched.sorted()
        if !list.isEmpty {
            let earliest = try await client.offsets(list, at: -2)
            let latest = try await client.offsets(list, at: -1)
            for p in list {
                file.partitions[p.topic, default: [:]][String(p.partition)] = .init(earliest: earliest[p] ?? 0, latest: latest[p] ?? 0)
            }
        }
        return file
    }
}

/// The `kafka` step: sets each group's committed offsets (saved ones, earliest,
/// latest, or by timestamp), clamped to each partition's current range, only
/// when the group has no active members; then reads them back.
public struct KafkaOffsetsRestore: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case package, earliest, latest, timestamp
    }

    public struct Options: Sendable {
        public var groups: [String]?
        public var mode: Mode
        /// Milliseconds since 1970, for `timestamp`.
        public var timestamp: Int64?
        /// How long to wait for a group's members to leave.
        public var memberWait: Double
        public var dryRun: Bool

        public init(groups: [String]? = nil, mode: Mode = .package, timestamp: Int64? = nil, memberWait: Double = 30, dryRun: Bool = false) {
            self.groups = groups
            self.mode = mode
            self.timestamp = timestamp
            self.memberWait = memberWait
            self.dryRun = dryRun
        }
    }



    public let client: KafkaClient
    public let file: KafkaOffsetsFile
    public let options: Options
    let say: @Sendable (String) -> Void

    public init(client: KafkaClient, file: KafkaOffsetsFile, options: Options, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.client = client
        self.file = file
        self.options = options
        self.say = say
    }

    public func run() async throws -> KafkaResult {
        let started = Date()
        let groups = options.groups ?? file.groups.keys.sorted()
        for g in groups where file.groups[g] == nil {
            throw StepError.badPackage("the package has no saved offsets for group \(g) (it has: \(file.groups.keys.sorted().joined(separator: ", ")))")
        }
        var total = 0, clamped = 0
        var changes: [KafkaOffsetChange] = []
        // Every partition any group needs: its current range, asked once for all groups.
        let everything = Set(groups.flatMap { file.offsets(of: $0).keys }).sorted()
        if !everything.isEmpty { _ = try await client.partitions(of: Array(Set(everything.map(\.topic))).sorted()) }
        let earliest = everything.isEmpty ? [:] : try await client.offsets(everything, at: -2)
        let latest = everything.isEmpty ? [:] : try await client.offsets(everything, at: -1)
        var committedAny = false
        for group in groups {
            do {
                try await waitUntilInactive(group)
            } catch let e as StepError where !committedAny {
                // Nothing was committed yet: the target's offsets are as they were.
                throw StepError.beforeChange(e)
            }
            let saved = file.offsets(of: group)
            let partitions = saved.keys.sorted()
            guard !partitions.isEmpty else { continue }
            let layout = Dictionary(grouping: partitions, by: \.topic).mapValues { $0.map(\.partition) }
            var wanted: [KafkaClient.Partition: Int64]
            switch options.mode {
            case .package: wanted = saved
            case .earliest: wanted = earliest
            case .latest: wanted = latest
            case .timestamp:
                guard let ts = options.timestamp else { throw StepError.configuration("mode timestamp needs spec.kafka.timestamp (RFC 3339)") }
                let at = try await client.offsets(partitions, at: ts)
                // No record at or after the time: the end of the partition.
                wanted = Dictionary(uniqueKeysWithValues: partitions.map { ($0, (at[$0] ?? -1) < 0 ? (latest[$0] ?? 0) : at[$0]!) })
            }
            let current = try await client.committedOffsets(group, layout: layout)
            var commit: [KafkaClient.Partition: Int64] = [:]
            for p in partitions {
                let want = wanted[p] ?? 0
                let lo = earliest[p] ?? 0, hi = latest[p] ?? 0
                let value = min(max(want, lo), hi)
                commit[p] = value
                let name = "\(p.topic)/\(p.partition)"
                if value != want {
                    clamped += 1
                    say("kafka \(group): \(name) offset \(want) is outside \(lo)…\(hi); set to \(value)")
                    changes.append(KafkaOffsetChange(group: group, partition: name, current: current[p], new: value, clampedFrom: want))
                } else if options.dryRun && changes.count < 200 {
                    changes.append(KafkaOffsetChange(group: group, partition: name, current: current[p], new: value, clampedFrom: nil))
                }
            }
            if options.dryRun {
                for p in partitions { say("kafka \(group): \(p.topic)/\(p.partition) \(current[p].map(String.init) ?? "none") → \(commit[p] ?? 0) (dry run)") }
                continue
            }
            committedAny = true
            try await client.commit(group, commit)
            let back = try await client.committedOffsets(group, layout: layout)
            let wrong = partitions.filter { back[$0] != commit[$0] }
            guard wrong.isEmpty else {
                throw StepError.verification("group \(group): after the commit the broker reports \(wrong.prefix(5).map { "\($0.topic)/\($0.partition)=\(back[$0].map(String.init) ?? "none") (set \(commit[$0] ?? 0))" }.joined(separator: ", "))")
            }
            total += partitions.count
            say("kafka \(group): \(partitions.count) partitions set and read back")
        }
        return KafkaResult(mode: options.mode.rawValue, groups: groups.count, partitionsSet: total, clamped: clamped, dryRun: options.dryRun,
                      requests: await client.requests, seconds: (Date().timeIntervalSince(started) * 1000).rounded() / 1000, changes: Array(changes.prefix(200)))
    }

    /// A group with members would overwrite what is set: wait for it to empty, then fail naming them.
    func waitUntilInactive(_ group: String) async throws {
        let deadline = Date().addingTimeInterval(options.memberWait)
        while true {
            let d = try await client.describeGroup(group)
            if d.members.isEmpty { return }
            if Date() >= deadline {
                let who = d.members.prefix(5).map { "\($0.clientId) (\($0.memberId)) from \($0.host)" }.joined(separator: ", ")
                throw StepError.target("Kafka group \(group) still has \(d.members.count) active members after \(Int(options.memberWait)) s: \(who); stop its consumers (the workloads) first. Nothing was committed")
            }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }
}

extension Timestamps {
    static func now() -> String { format(Date()) }
}
