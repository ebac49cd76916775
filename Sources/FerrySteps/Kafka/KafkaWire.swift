import NIOCore

/// Kafka's classic (non-flexible) wire encoding: big-endian integers,
/// int16-length strings (-1 = null), int32-length byte strings and arrays.
/// Ferry speaks the non-flexible version of every API it uses, which every
/// broker since Kafka 0.11 (and Tansu) still accepts.
enum KafkaWire {
    static func writeString(_ s: String, to b: inout ByteBuffer) {
        let bytes = Array(s.utf8)
        b.writeInteger(Int16(bytes.count))
        b.writeBytes(bytes)
    }

    static func writeNullableString(_ s: String?, to b: inout ByteBuffer) {
        guard let s else {
            b.writeInteger(Int16(-1))
            return
        }
        writeString(s, to: &b)
    }

    static func writeArray<T>(_ items: [T], to b: inout ByteBuffer, _ each: (T, inout ByteBuffer) -> Void) {
        b.writeInteger(Int32(items.count))
        for item in items { each(item, &b) }
    }
}

/// Reading a response body; every read throws a clear error when the body is short.
struct KafkaReader {
    var buffer: ByteBuffer
    let api: String

    struct Truncated: Error, CustomStringConvertible {
        var api: String
        var description: String { "Kafka \(api) response is shorter than its format" }
    }

    mutating func int8() throws -> Int8 { guard let v: Int8 = buffer.readInteger() else { throw Truncated(api: api) }; return v }
    mutating func int16() throws -> Int16 { guard let v: Int16 = buffer.readInteger() else { throw Truncated(api: api) }; return v }
    mutating func int32() throws -> Int32 { guard let v: Int32 = buffer.readInteger() else { throw Truncated(api: api) }; return v }
    mutating func int64() throws -> Int64 { guard let v: Int64 = buffer.readInteger() else { throw Truncated(api: api) }; return v }
    mutating func bool() throws -> Bool { try int8() != 0 }

    mutating func nullableString() throws -> String? {
        let n = try int16()
        if n < 0 { return nil }
        guard let s = buffer.readString(length: Int(n)) else { throw Truncated(api: api) }
        return s
    }

    mutating func string() throws -> String { try nullableString() ?? "" }

    mutating func bytes() throws -> [UInt8]? {
        let n = try int32()
        if n < 0 { return nil }
        guard let b = buffer.readBytes(length: Int(n)) else { throw Truncated(api: api) }
        return b
    }

    mutating func array<T>(_ each: (inout KafkaReader) throws -> T) throws -> [T] {
        let n = try int32()
        guard n >= 0 else { return [] }
        var out: [T] = []
        out.reserveCapacity(Int(min(n, 10_000)))
        for _ in 0..<n { out.append(try each(&self)) }
        return out
    }
}

/// Kafka error codes Ferry acts on or names; the rest are reported by number.
public enum KafkaErrorCode {
    public static let none: Int16 = 0
    public static let offsetOutOfRange: Int16 = 1
    public static let unknownTopicOrPartition: Int16 = 3
    public static let leaderNotAvailable: Int16 = 5
    public static let notLeaderOrFollower: Int16 = 6
    public static let requestTimedOut: Int16 = 7
    public static let coordinatorLoadInProgress: Int16 = 14
    public static let coordinatorNotAvailable: Int16 = 15
    public static let notCoordinator: Int16 = 16
    public static let illegalGeneration: Int16 = 22
    public static let unknownMemberId: Int16 = 25
    public static let rebalanceInProgress: Int16 = 27
    public static let groupAuthorizationFailed: Int16 = 30
    public static let unsupportedSaslMechanism: Int16 = 33
    public static let illegalSaslState: Int16 = 34
    public static let saslAuthenticationFailed: Int16 = 58
    public static let nonEmptyGroup: Int16 = 68
    public static let groupIdNotFound: Int16 = 69

    /// Errors that go away by themselves (a coordinator moving, a leader being elected).
    public static func isRetriable(_ code: Int16) -> Bool {
        [leaderNotAvailable, notLeaderOrFollower, requestTimedOut, coordinatorLoadInProgress, coordinatorNotAvailable, notCoordinator, rebalanceInProgress].contains(code)
    }

    public static func name(_ code: Int16) -> String {
        switch code {
        case offsetOutOfRange: return "OFFSET_OUT_OF_RANGE"
        case unknownTopicOrPartition: return "UNKNOWN_TOPIC_OR_PARTITION"
        case leaderNotAvailable: return "LEADER_NOT_AVAILABLE"
        case notLeaderOrFollower: return "NOT_LEADER_OR_FOLLOWER"
        case requestTimedOut: return "REQUEST_TIMED_OUT"
        case coordinatorLoadInProgress: return "COORDINATOR_LOAD_IN_PROGRESS"
        case coordinatorNotAvailable: return "COORDINATOR_NOT_AVAILABLE"
        case notCoordinator: return "NOT_COORDINATOR"
        case illegalGeneration: return "ILLEGAL_GENERATION"
        case unknownMemberId: return "UNKNOWN_MEMBER_ID"
        case rebalanceInProgress: return "REBALANCE_IN_PROGRESS"
        case groupAuthorizationFailed: return "GROUP_AUTHORIZATION_FAILED"
        case unsupportedSaslMechanism: return "UNSUPPORTED_SASL_MECHANISM"
        case illegalSaslState: return "ILLEGAL_SASL_STATE"
        case saslAuthenticationFailed: return "SASL_AUTHENTICATION_FAILED"
        case nonEmptyGroup: return "NON_EMPTY_GROUP"
        case groupIdNotFound: return "GROUP_ID_NOT_FOUND"
        default: return "error \(code)"
        }
    }
}

/// A broker answered with an error code: which broker, which API, which code.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public var broker: String
    public var api: String
    public var code: Int16
    public var detail: String

    public var retriable: Bool { KafkaErrorCode.isRetriable(code) }
    public var description: String { "Kafka broker \(broker) answered \(api) with \(KafkaErrorCode.name(code)) (\(code))\(detail.isEmpty ? "" : ": \(detail)")" }
}
