import Foundation
import NIOCore

/// The subset of the Kafka protocol Ferry needs to read and set consumer-group
/// offsets: ApiVersions, Metadata, FindCoordinator, ListGroups,
/// DescribeGroups, ListOffsets, OffsetFetch, OffsetCommit, over plaintext or
/// TLS, with SASL PLAIN or SCRAM-SHA-256/512 on every connection.
/// Requests go to the right broker (group APIs to the coordinator, offsets
/// to partition leaders); retriable errors are retried with backoff.
public actor KafkaClient {
    /// A topic partition.
    public struct Partition: Hashable, Sendable, Codable, Comparable {
        public var topic: String
        public var partition: Int32
        public init(_ topic: String, _ partition: Int32) {
            self.topic = topic
            self.partition = partition
        }
        public static func < (a: Partition, b: Partition) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    }

    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var clientId: String
        public var host: String
    }

    public struct GroupDescription: Sendable, Equatable {
        public var group: String
        public var state: String
        public var members: [Member]
    }

    /// Versions Ferry speaks (non-flexible encodings).
    enum API {
        static let listOffsets: (key: Int16, version: Int16, name: String) = (2, 1, "ListOffsets")
        static let metadata: (key: Int16, version: Int16, name: String) = (3, 4, "Metadata")  // v4: no topic auto-creation
        static let offsetCommit: (key: Int16, version: Int16, name: String) = (8, 2, "OffsetCommit")
        static let offsetFetch: (key: Int16, version: Int16, name: String) = (9, 3, "OffsetFetch")
        static let findCoordinator: (key: Int16, version: Int16, name: String) = (10, 1, "FindCoordinator")
        static let describeGroups: (key: Int16, version: Int16, name: String) = (15, 1, "DescribeGroups")
        static let listGroups: (key: Int16, version: Int16, name: String) = (16, 1, "ListGroups")
        static let apiVersions: (key: Int16, version: Int16, name: String) = (18, 0, "ApiVersions")
        static let saslHandshake: (key: Int16, version: Int16, name: String) = (17, 1, "SaslHandshake")
        static let saslAuthenticate: (key: Int16, version: Int16, name: String) = (36, 1, "SaslAuthenticate")
        static let all = [listOffsets, metadata, offsetCommit, offsetFetch, findCoordinator, describeGroups, listGroups]
    }

    public let bootstrap: [(host: String, port: Int)]
    public let security: KafkaSecurity
    private let tls: KafkaConnection.TLSSetup?
    let timeout: TimeAmount
    let attempts: Int
    private var connections: [String: KafkaConnection] = [:]
    private var brokers: [Int32: String] = [:]
    private var leaders: [Partition: Int32] = [:]
    private var coordinators: [String: String] = [:]
    private var checkedVersions = false
    /// Requests sent, for the benchmark.
    public private(set) var requests = 0

    /// `bootstrap`: `host:port[,host:port…]`.
    public init(bootstrap: String, security: KafkaSecurity = .plaintext, timeout: TimeAmount = .seconds(10), attempts: Int = 5) throws {
        let list = try bootstrap.split(separator: ",").map { entry -> (host: String, port: Int) in
            let text = entry.trimmingCharacters(in: .whitespaces)
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), colon != text.startIndex else {
                throw StepError.configuration("Kafka bootstrap \"\(text)\" must be host:port (spec.kafka.bootstrap)")
            }
            return (String(text[..<colon]), port)
        }
        guard !list.isEmpty else { throw StepError.configuration("spec.kafka.bootstrap is empty; give host:port of a broker") }
        self.bootstrap = list
        self.security = security
        self.tls = try security.tls.map { try KafkaConnection.TLSSetup($0) }
        self.timeout = timeout
        self.attempts = max(1, attempts)
    }

    public func close() {
        for c in connections.values { c.close() }
        connections.removeAll()
    }

    // MARK: - connections and routing

    private func connection(_ address: String) async throws -> KafkaConnection {
        if let c = connections[address] { return c }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw StepError.target("Kafka broker address \(address) is not host:port")
        }
        let c = try await KafkaConnection.connect(host: String(address[..<colon]), port: port, timeout: timeout, tls: tls)
        if let sasl = security.sasl {
            do {
                try await authenticate(c, sasl)
            } catch {
                c.close()
                throw error
            }
        }
        connections[address] = c
        return c
    }

    /// SaslHandshake, then SaslAuthenticate rounds for the mechanism. A refused
    /// login is a configuration error: retrying the same password cannot help.
    private func authenticate(_ c: KafkaConnection, _ sasl: KafkaSecurity.SASL) async throws {
        var r = try await send(API.saslHandshake, to: c) { b in KafkaWire.writeString(sasl.mechanism.rawValue, to: &b) }
        let code = try r.int16()
        let offered = try r.array { try $0.string() }
        if code == KafkaErrorCode.unsupportedSaslMechanism {
            throw StepError.configuration("Kafka broker \(c.broker) does not accept SASL \(sasl.mechanism.rawValue); it offers \(offered.isEmpty ? "none" : offered.joined(separator: ", ")): set key mechanism in spec.kafka.credentialsSecret")
        }
        guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "SaslHandshake", code: code, detail: sasl.mechanism.rawValue) }

        func round(_ message: [UInt8]) async throws -> [UInt8] {
            var r = try await send(API.saslAuthenticate, to: c) { b in
                b.writeInteger(Int32(message.count))
                b.writeBytes(message)
            }
            let code = try r.int16()
            let text = try r.nullableString()
            let reply = try r.bytes() ?? []
            _ = try r.int64()  // session lifetime
            if code == KafkaErrorCode.saslAuthenticationFailed || code == KafkaErrorCode.illegalSaslState {
                throw StepError.configuration("Kafka broker \(c.broker) refused SASL \(sasl.mechanism.rawValue) login as \(sasl.username)\(text.map { ": \($0)" } ?? ""); check username and password in spec.kafka.credentialsSecret")
            }
            guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "SaslAuthenticate", code: code, detail: text ?? "") }
            return reply
        }

        do {
            switch sasl.mechanism {
            case .plain:
                _ = try await round([0] + Array(sasl.username.utf8) + [0] + Array(sasl.password.utf8))
            case .scramSHA256, .scramSHA512:
                var scram = SCRAMClient(hash: sasl.mechanism == .scramSHA256 ? .sha256 : .sha512, username: sasl.username, password: sasl.password)
                let serverFirst = try await round(Array(scram.clientFirst.utf8))
                let final = try scram.clientFinal(serverFirst: String(decoding: serverFirst, as: UTF8.self))
                let serverFinal = try await round(Array(final.utf8))
                try scram.verify(serverFinal: String(decoding: serverFinal, as: UTF8.self))
            }
        } catch let e as SCRAMClient.Failure {
            throw StepError.configuration("Kafka broker \(c.broker): SASL \(sasl.mechanism.rawValue) login as \(sasl.username) failed: \(e.description)")
        } catch let e as StepError {
            // A broker may simply drop the connection on a bad login.
            if case .target(let m) = e, m.contains("closed the connection") {
                throw StepError.configuration("Kafka broker \(c.broker) closed the connection during SASL \(sasl.mechanism.rawValue) login as \(sasl.username): check username and password in spec.kafka.credentialsSecret")
            }
            throw e
        }
    }

    private func anyBroker() async throws -> KafkaConnection {
        var last: Error?
        for b in bootstrap {
            do { return try await connection("\(b.host):\(b.port)") } catch { last = error }
        }
        throw last ?? StepError.target("no Kafka broker reachable")
    }

    private func send(_ api: (key: Int16, version: Int16, name: String), to c: KafkaConnection, body: (inout ByteBuffer) -> Void) async throws -> KafkaReader {
        requests += 1
        var payload = ByteBufferAllocator().buffer(capacity: 128)
        body(&payload)
        do {
            return try await c.send(apiKey: api.key, version: api.version, api: api.name, timeout: timeout, body: payload)
        } catch {
            // A broken connection is dropped so the next attempt reconnects.
            connections[c.broker]?.close()
            connections[c.broker] = nil
            throw error
        }
    }

    /// Retries `body` on retriable Kafka errors and lost connections, backing off 0.2 s, 0.4 s, …
    private func retrying<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var delay: UInt64 = 200_000_000
        for attempt in 1...attempts {
            do {
                return try await body()
            } catch let e as KafkaError where e.retriable && attempt < attempts {
                coordinators.removeAll()
                leaders.removeAll()
            } catch let e as StepError where attempt < attempts {
                if case .configuration = e { throw e }
            }
            try await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 5_000_000_000)
        }
        throw StepError.target("\(what): gave up after \(attempts) attempts")  // not reached: the last attempt throws its own error
    }

    /// Checks once that the broker speaks the versions Ferry uses.
    public func checkVersions() async throws {
        if checkedVersions { return }
        try await retrying("Kafka ApiVersions") { try await checkVersionsOnce() }
    }

    private func checkVersionsOnce() async throws {
        let c = try await anyBroker()
        var r = try await send(API.apiVersions, to: c) { _ in }
        let code = try r.int16()
        guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "ApiVersions", code: code, detail: "") }
        let ranges = try r.array { r -> (Int16, Int16, Int16) in (try r.int16(), try r.int16(), try r.int16()) }
        let byKey = Dictionary(ranges.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { a, _ in a })
        for api in API.all {
            guard let (lo, hi) = byKey[api.key], lo <= api.version, api.version <= hi else {
                let have = byKey[api.key].map { "\($0.0)–\($0.1)" } ?? "none"
                throw StepError.target("Kafka broker \(c.broker) does not support \(api.name) v\(api.version) (it supports \(have))")
            }
        }
        checkedVersions = true
    }

    // MARK: - metadata

    /// Partitions of each topic (all topics when `topics` is nil); refreshes broker and leader maps.
    public func partitions(of topics: [String]?) async throws -> [String: [Int32]] {
        try await checkVersions()
        return try await retrying("Kafka Metadata") {
            let c = try await anyBroker()
            var r = try await send(API.metadata, to: c) { b in
                if let topics { KafkaWire.writeArray(topics, to: &b) { t, b in KafkaWire.writeString(t, to: &b) } } else { b.writeInteger(Int32(-1)) }
                b.writeInteger(Int8(0))  // allow_auto_topic_creation: never create a topic by asking about it
            }
            _ = try r.int32()  // throttle
            let brokerList = try r.array { r -> (Int32, String) in
                let id = try r.int32(); let host = try r.string(); let port = try r.int32(); _ = try r.nullableString()
                return (id, "\(host):\(port)")
            }
            for (id, address) in brokerList { brokers[id] = address }
            _ = try r.nullableString()  // cluster id
            _ = try r.int32()  // controller
            var out: [String: [Int32]] = [:]
            let topicList = try r.array { r -> (Int16, String, [(Int16, Int32, Int32)]) in
                let code = try r.int16(); let name = try r.string(); _ = try r.bool()
                let parts = try r.array { r -> (Int16, Int32, Int32) in
                    let e = try r.int16(); let p = try r.int32(); let leader = try r.int32()
                    _ = try r.array { try $0.int32() }; _ = try r.array { try $0.int32() }
                    return (e, p, leader)
                }
                return (code, name, parts)
            }
            for (code, name, parts) in topicList {
                if code == KafkaErrorCode.unknownTopicOrPartition {
                    throw StepError.configuration("Kafka topic \(name) does not exist on \(c.broker) (UNKNOWN_TOPIC_OR_PARTITION); check the topic names in the package or spec.kafka")
                }
                guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "Metadata", code: code, detail: "topic \(name)") }
                for (e, p, leader) in parts {
                    if KafkaErrorCode.isRetriable(e) || leader < 0 { throw KafkaError(broker: c.broker, api: "Metadata", code: e == 0 ? KafkaErrorCode.leaderNotAvailable : e, detail: "\(name)/\(p)") }
                    leaders[Partition(name, p)] = leader
                }
                out[name] = parts.map(\.1).sorted()
            }
            for t in topics ?? [] where (out[t] ?? []).isEmpty {
                throw StepError.configuration("Kafka topic \(t) does not exist on \(c.broker); check the topic names in the package or spec.kafka")
            }
            return out
        }
    }

    // MARK: - groups

    private func coordinator(_ group: String) async throws -> KafkaConnection {
        if let a = coordinators[group] { return try await connection(a) }
        let c = try await anyBroker()
        var r = try await send(API.findCoordinator, to: c) { b in
            KafkaWire.writeString(group, to: &b)
            b.writeInteger(Int8(0))  // key type: group
        }
        _ = try r.int32()
        let code = try r.int16()
        let message = try r.nullableString()
        guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "FindCoordinator", code: code, detail: message ?? "group \(group)") }
        _ = try r.int32()
        let address = "\(try r.string()):\(try r.int32())"
        coordinators[group] = address
        return try await connection(address)
    }

    /// Group ids known to the brokers.
    public func listGroups() async throws -> [String] {
        try await checkVersions()
        return try await retrying("Kafka ListGroups") {
            let c = try await anyBroker()
            var r = try await send(API.listGroups, to: c) { _ in }
            _ = try r.int32()
            let code = try r.int16()
            guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "ListGroups", code: code, detail: "") }
            return try r.array { r -> String in
                let id = try r.string(); _ = try r.string()
                return id
            }.sorted()
        }
    }

    public func describeGroup(_ group: String) async throws -> GroupDescription {
        try await checkVersions()
        return try await retrying("Kafka DescribeGroups \(group)") {
            let c = try await coordinator(group)
            var r = try await send(API.describeGroups, to: c) { b in KafkaWire.writeArray([group], to: &b) { g, b in KafkaWire.writeString(g, to: &b) } }
            _ = try r.int32()
            let groups = try r.array { r -> (Int16, GroupDescription) in
                let code = try r.int16(); let id = try r.string(); let state = try r.string(); _ = try r.string(); _ = try r.string()
                let members = try r.array { r -> Member in
                    let m = Member(memberId: try r.string(), clientId: try r.string(), host: try r.string())
                    _ = try r.bytes(); _ = try r.bytes()
                    return m
                }
                return (code, GroupDescription(group: id, state: state, members: members))
            }
            guard let (code, description) = groups.first else { throw StepError.target("Kafka broker \(c.broker) described no group for \(group)") }
            guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "DescribeGroups", code: code, detail: "group \(group)") }
            return description
        }
    }

    /// The group's committed offsets on `topics` (default: every topic the brokers know);
    /// partitions without a committed offset are left out. Topics are always named in the
    /// request (some brokers answer a "null = all topics" request with nothing).
    public func committedOffsets(_ group: String, topics: [String]? = nil) async throws -> [Partition: Int64] {
        try await checkVersions()
        return try await committedOffsets(group, layout: try await partitions(of: topics))
    }

    /// The group's committed offsets on exactly these partitions (no Metadata request).
    public func committedOffsets(_ group: String, layout: [String: [Int32]]) async throws -> [Partition: Int64] {
        try await checkVersions()
        return try await retrying("Kafka OffsetFetch \(group)") {
            let c = try await coordinator(group)
            var r = try await send(API.offsetFetch, to: c) { b in
                KafkaWire.writeString(group, to: &b)
                KafkaWire.writeArray(layout.keys.sorted(), to: &b) { topic, b in
                    KafkaWire.writeString(topic, to: &b)
                    KafkaWire.writeArray(layout[topic] ?? [], to: &b) { p, b in b.writeInteger(p) }
                }
            }
            _ = try r.int32()
            var out: [Partition: Int64] = [:]
            var partitionError: (Int16, String)?
            let answered = try r.array { r -> (String, [(Int32, Int64, Int16)]) in
                let name = try r.string()
                let parts = try r.array { r -> (Int32, Int64, Int16) in
                    let p = try r.int32(); let o = try r.int64(); _ = try r.nullableString(); let e = try r.int16()
                    return (p, o, e)
                }
                return (name, parts)
            }
            let code = try r.int16()
            guard code == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "OffsetFetch", code: code, detail: "group \(group)") }
            for (name, parts) in answered {
                for (p, o, e) in parts {
                    if e != KafkaErrorCode.none && e != KafkaErrorCode.unknownTopicOrPartition { partitionError = (e, "\(name)/\(p)") }
                    if o >= 0 && e == KafkaErrorCode.none { out[Partition(name, p)] = o }
                }
            }
            if let (e, what) = partitionError { throw KafkaError(broker: c.broker, api: "OffsetFetch", code: e, detail: "group \(group), \(what)") }
            return out
        }
    }

    /// Commits offsets for a group that has no active members.
    public func commit(_ group: String, _ offsets: [Partition: Int64]) async throws {
        try await checkVersions()
        let byTopic = Dictionary(grouping: offsets.keys.sorted(), by: \.topic)
        try await retrying("Kafka OffsetCommit \(group)") {
            let c = try await coordinator(group)
            var r = try await send(API.offsetCommit, to: c) { b in
                KafkaWire.writeString(group, to: &b)
                b.writeInteger(Int32(-1))  // generation: not a member
                KafkaWire.writeString("", to: &b)  // member id
                b.writeInteger(Int64(-1))  // retention: broker default
                KafkaWire.writeArray(byTopic.keys.sorted(), to: &b) { topic, b in
                    KafkaWire.writeString(topic, to: &b)
                    KafkaWire.writeArray(byTopic[topic] ?? [], to: &b) { p, b in
                        b.writeInteger(p.partition)
                        b.writeInteger(offsets[p] ?? 0)
                        KafkaWire.writeNullableString("ferry", to: &b)
                    }
                }
            }
            for (topic, parts) in try r.array({ r -> (String, [(Int32, Int16)]) in
                (try r.string(), try r.array { r in (try r.int32(), try r.int16()) })
            }) {
                for (p, e) in parts where e != KafkaErrorCode.none {
                    throw KafkaError(broker: c.broker, api: "OffsetCommit", code: e, detail: "group \(group), \(topic)/\(p)")
                }
            }
        }
    }

    // MARK: - offsets of partitions

    /// The offset for each partition at `timestamp` (-2 earliest, -1 latest, else ms since 1970).
    public func offsets(_ partitions: [Partition], at timestamp: Int64) async throws -> [Partition: Int64] {
        try await checkVersions()
        return try await retrying("Kafka ListOffsets") {
            let topics = Array(Set(partitions.map(\.topic))).sorted()
            if partitions.contains(where: { leaders[$0] == nil }) { _ = try await self.partitions(of: topics) }
            var byLeader: [Int32: [Partition]] = [:]
            for p in partitions {
                guard let leader = leaders[p] else {
                    throw StepError.configuration("Kafka partition \(p.topic)/\(p.partition) does not exist (the topic has \(leaders.keys.filter { $0.topic == p.topic }.count) partitions)")
                }
                byLeader[leader, default: []].append(p)
            }
            var out: [Partition: Int64] = [:]
            for (leader, list) in byLeader {
                guard let address = brokers[leader] else { throw KafkaError(broker: "node \(leader)", api: "ListOffsets", code: KafkaErrorCode.leaderNotAvailable, detail: "") }
                let c = try await connection(address)
                let grouped = Dictionary(grouping: list, by: \.topic)
                var r = try await send(API.listOffsets, to: c) { b in
                    b.writeInteger(Int32(-1))  // replica id: a client
                    KafkaWire.writeArray(grouped.keys.sorted(), to: &b) { topic, b in
                        KafkaWire.writeString(topic, to: &b)
                        KafkaWire.writeArray(grouped[topic] ?? [], to: &b) { p, b in
                            b.writeInteger(p.partition)
                            b.writeInteger(timestamp)
                        }
                    }
                }
                let answers = try r.array { r -> (String, [(Int32, Int16, Int64)]) in
                    (try r.string(), try r.array { r in
                        let p = try r.int32(); let e = try r.int16(); _ = try r.int64(); let o = try r.int64()
                        return (p, e, o)
                    })
                }
                for (topic, parts) in answers {
                    for (p, e, o) in parts {
                        guard e == KafkaErrorCode.none else { throw KafkaError(broker: c.broker, api: "ListOffsets", code: e, detail: "\(topic)/\(p)") }
                        out[Partition(topic, p)] = o
                    }
                }
            }
            return out
        }
    }
}
