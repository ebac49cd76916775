import Foundation

/// Exponential backoff with jitter that resets after a healthy period: if no
/// failure happened for `resetAfter`, the next delay starts small again.
/// Pure and deterministic given a random source, so it is unit-tested.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    public var factor: Double
    /// Fraction of the delay that is randomised (0.5 → delay × [0.5, 1.5)).
    public var jitter: Double
    /// A failure after this long without one starts from `initial` again.
    public var resetAfter: Double

    private var attempts = 0
    private var lastFailure: Double?

    public init(initial: Double = 0.8, maximum: Double = 30, factor: Double = 2, jitter: Double = 0.5, resetAfter: Double = 120) {
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.resetAfter = resetAfter
    }

    /// The delay in seconds before the next retry after a failure at `now`.
    public mutating func next(now: Double, random: Double = Double.random(in: 0..<1)) -> Double {
        if let last = lastFailure, now - last > resetAfter { attempts = 0 }
        lastFailure = now
        let base = min(maximum, initial * pow(factor, Double(attempts)))
        attempts += 1
        let spread = base * jitter
        return max(0, min(maximum * (1 + jitter), base - spread + 2 * spread * random))
    }

    /// Forget past failures (after a clearly healthy operation).
    public mutating func reset() {
        attempts = 0
        lastFailure = nil
    }

    /// How many failures in a row so far.
    public var failureCount: Int { attempts }
}
