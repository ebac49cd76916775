import Testing

extension Trait where Self == TimeLimitTrait {
    /// The time limit of a suite whose tests take turns on a shared pair of servers
    /// (``ReplicationPair/exclusive(_:)``, ``ClickHousePair/exclusive(_:)``). A test's clock runs
    /// while it waits for its turn, and under the full suite on 2 cores the turns ahead of it
    /// (another suite's end-to-end tests) can take more than 5 minutes. The limit is there to end
    /// a hang, not to time the work: benchmarks do that.
    public static var takingTurns: Self { .timeLimit(.minutes(20)) }
}
