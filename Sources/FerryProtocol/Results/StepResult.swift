/// A step's report, read back by the controller: each kind's result says itself in one line
/// (the StepSucceeded event).
public protocol StepResult: Codable, Sendable {
    var summary: String { get }
    /// Several results of one step (a ClickHouse step may restore several tables).
    static func summary(of results: [Self]) -> String
}

extension StepResult {
    public static func summary(of results: [Self]) -> String { results.map(\.summary).joined(separator: "; ") }
}
