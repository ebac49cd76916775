import Foundation

/// A controller work queue after client-go's: keys are deduplicated, one key
/// is never handed to two workers at once (a key added while it is being
/// processed is queued again when `done` is called), failures back off per
/// key exponentially (from `baseDelay` up to `maxDelay`) under an overall
/// token-bucket rate limit, and keys can be added after a delay.
public actor WorkQueue<Key: Hashable & Sendable> {
    private var queue: [Key] = []
    private var queued = Set<Key>()
    private var processing = Set<Key>()
    private var dirty = Set<Key>()
    private var failures: [Key: Int] = [:]
    private var waiters: [CheckedContinuation<Key?, Never>] = []
    private var delayed: [Key: Task<Void, Never>] = [:]
    private var shuttingDown = false
    private var limiter: TokenBucket

    public let baseDelay: Double
    public let maxDelay: Double

    /// - Parameters:
    ///   - baseDelay/maxDelay: per-key exponential backoff in seconds (5 ms … ~16 min by default).
    ///   - rate/burst: overall limit on rate-limited re-adds (10 per second, burst 100).
    public init(baseDelay: Double = 0.005, maxDelay: Double = 1000, rate: Double = 10, burst: Int = 100) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.limiter = TokenBucket(rate: rate, burst: Double(burst))
    }

    /// Number of keys waiting (not counting those being processed or delayed).
    public var depth: Int { queue.count }

    /// Adds a key now (no-op when it is already waiting).
    public func add(_ key: Key) {
        guard !shuttingDown else { return }
        if processing.contains(key) {
            dirty.insert(key)
            return
        }
        guard queued.insert(key).inserted else { return }
        if !waiters.isEmpty {
            queued.remove(key)
            processing.insert(key)
            waiters.removeFirst().resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// Adds a key after `seconds`; a later earlier request replaces a pending one.
    public func add(_ key: Key, after seconds: Double) {
        guard !shuttingDown else { return }
        if seconds <= 0 {
            add(key)
            return
        }
        delayed[key]?.cancel()
        delayed[key] = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            guard !Task.isCancelled else { return }
            await self?.fireDelayed(key)
        }
    }

    private func fireDelayed(_ key: Key) {
        delayed.removeValue(forKey: key)
        add(key)
    }

    /// Adds a key after its failure backoff (and the overall rate limit); returns the delay used.
    @discardableResult
    public func addRateLimited(_ key: Key) -> Double {
        let n = failures[key, default: 0]
        failures[key] = n + 1
        let perKey = min(maxDelay, baseDelay * pow(2, Double(n)))
        let overall = limiter.reserve(now: Date().timeIntervalSince1970)
        let delay = max(perKey, overall)
        add(key, after: delay)
        return delay
    }

    /// Clears a key's failure count (after a successful reconcile).
    public func forget(_ key: Key) { failures.removeValue(forKey: key) }

    /// How many times in a row this key has failed.
    public func failureCount(_ key: Key) -> Int { failures[key, default: 0] }

    /// The next key to process, waiting if none; nil once shut down.
    public func next() async -> Key? {
        if shuttingDown { return nil }
        if !queue.isEmpty {
            let key = queue.removeFirst()
            queued.remove(key)
            processing.insert(key)
            return key
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// Marks a key finished; if it was added meanwhile, it is queued again.
    public func done(_ key: Key) {
        processing.remove(key)
        if dirty.remove(key) != nil { add(key) }
    }

    /// Stops handing out keys; waiting workers get nil.
    public func shutDown() {
        shuttingDown = true
        for t in delayed.values { t.cancel() }
        delayed.removeAll()
        for w in waiters { w.resume(returning: nil) }
        waiters.removeAll()
    }
}

/// A token bucket: `reserve` returns how long to wait for the next token.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: Double?

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
    }

    mutating func reserve(now: Double) -> Double {
        if let last { tokens = min(burst, tokens + (now - last) * rate) }
        last = now
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
