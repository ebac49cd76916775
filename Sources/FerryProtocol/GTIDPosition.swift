import Foundation

/// A MariaDB GTID position, `domain-server-sequence[,…]` (one entry per replication domain). Pure.
public struct GTIDPosition: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var server: UInt32
        public var sequence: UInt64
    }

    public var domains: [UInt32: Entry]

    /// nil when `text` is not a position; "" is the empty position.
    public init?(_ text: String) {
        var domains: [UInt32: Entry] = [:]
        for part in text.split(separator: ",") {
            let fields = String(part).trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
            guard fields.count == 3, let d = UInt32(fields[0]), let s = UInt32(fields[1]), let n = UInt64(fields[2]), domains[d] == nil else { return nil }
            domains[d] = Entry(server: s, sequence: n)
        }
        self.domains = domains
    }

    public var text: String { domains.keys.sorted().map { "\($0)-\(domains[$0]!.server)-\(domains[$0]!.sequence)" }.joined(separator: ",") }

    /// Transactions the replica at `applied` still has to apply to reach `self` (summed over
    /// domains; 0 when it is there or past).
    public func transactionsAhead(of applied: GTIDPosition) -> UInt64 {
        domains.reduce(0) { sum, d in
            let have = applied.domains[d.key]?.sequence ?? 0
            return sum + (d.value.sequence > have ? d.value.sequence - have : 0)
        }
    }
}
