/// Splits a byte stream into newline-terminated lines across arbitrary chunk
/// boundaries, as a watch response arrives. A chunk without a newline is held
/// until the rest of its line comes.
public struct LineSplitter: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Feeds a chunk; returns every line it completed (without the newline, blank lines dropped).
    public mutating func append<C: Collection>(_ chunk: C) -> [[UInt8]] where C.Element == UInt8 {
        var lines: [[UInt8]] = []
        for byte in chunk {
            if byte == 0x0A {
                if pending.last == 0x0D { pending.removeLast() }
                if !pending.isEmpty { lines.append(pending) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return lines
    }

    /// What is left at the end of the stream (a final line without a newline), if anything.
    public mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        let trimmed = pending.filter { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }
        return trimmed.isEmpty ? nil : pending
    }
}

/// One event of a watch stream.
public struct WatchEvent: Sendable, Hashable {
    public enum EventType: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
        case error = "ERROR"
    }
    public var type: EventType
    public var object: JSONValue

    public init(type: EventType, object: JSONValue) {
        self.type = type
        self.object = object
    }

    /// Parses one line of a watch stream.
    public static func parse(line: [UInt8]) throws -> WatchEvent {
        let value = try JSONWire.parse(line)
        guard let t = value["type"]?.stringValue, let type = EventType(rawValue: t) else {
            throw KubeClientError.decoding(what: "watch event", detail: "missing or unknown type in \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        return WatchEvent(type: type, object: value["object"] ?? .null)
    }
}
