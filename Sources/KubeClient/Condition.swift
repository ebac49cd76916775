/// A status condition (metav1.Condition).
public struct Condition: Codable, Sendable, Hashable {
    public var type: String
    /// "True", "False" or "Unknown".
    public var status: String
    public var reason: String
    public var message: String
    /// Changes only when `status` flips.
    public var lastTransitionTime: String
    public var observedGeneration: Int64?

    public init(type: String, status: String, reason: String, message: String, lastTransitionTime: String, observedGeneration: Int64? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastTransitionTime = lastTransitionTime
        self.observedGeneration = observedGeneration
    }
}

extension Array where Element == Condition {
    /// Sets a condition with apimachinery semantics: `lastTransitionTime`
    /// changes only when the status flips; reason, message and
    /// observedGeneration are updated in place. Returns whether anything changed.
    @discardableResult
    public mutating func set(type: String, status: Bool?, reason: String, message: String, observedGeneration: Int64?, now: String) -> Bool {
        let statusText = status.map { $0 ? "True" : "False" } ?? "Unknown"
        if let i = firstIndex(where: { $0.type == type }) {
            var c = self[i]
            if c.status != statusText {
                c.status = statusText
                c.lastTransitionTime = now
            }
            c.reason = reason
            c.message = message
            c.observedGeneration = observedGeneration
            if c == self[i] { return false }
            self[i] = c
            return true
        }
        append(Condition(type: type, status: statusText, reason: reason, message: message, lastTransitionTime: now, observedGeneration: observedGeneration))
        return true
    }

    /// The condition of this type, if present.
    public func condition(_ type: String) -> Condition? { first { $0.type == type } }

    /// Whether the condition of this type is True.
    public func isTrue(_ type: String) -> Bool { condition(type)?.status == "True" }
}
