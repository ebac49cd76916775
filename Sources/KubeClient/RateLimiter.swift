import Foundation
import Synchronization

/// A client-side token bucket, as client-go's `QPS`/`Burst`: up to `burst`
/// requests at once, then `qps` a second. Waiting is a cancellable sleep.
public final class RateLimiter: Sendable {
    public let qps: Double
    public let burst: Int
    private let state: Mutex<(tokens: Double, at: Date)>

    public init(qps: Double, burst: Int) {
        self.qps = max(qps, 0.001)
        self.burst = max(burst, 1)
        state = Mutex((Double(max(burst, 1)), Date()))
    }

    /// Takes one token, waiting until one is there.
    public func acquire() async throws {
        let wait = state.withLock { s -> Double in
            let now = Date()
            s.tokens = min(Double(burst), s.tokens + now.timeIntervalSince(s.at) * qps)
            s.at = now
            s.tokens -= 1
            return s.tokens >= 0 ? 0 : -s.tokens / qps
        }
        if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000)) }
    }
}
