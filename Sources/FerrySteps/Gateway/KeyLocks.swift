/// One writer per key at a time inside the gateway: a backfill (check, then copy) and the
/// application's PUT or DELETE of the same key never interleave, so a backfill never lays an
/// old source copy over a newer write. (One gateway replica; the Deployment runs one.)
actor KeyLocks {
    private var held: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    func lock(_ key: String) async {
        if held.insert(key).inserted { return }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    func unlock(_ key: String) {
        if var queue = waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[key] = queue.isEmpty ? nil : queue
            next.resume()  // the key stays held, now by the next one
        } else {
            held.remove(key)
        }
    }

    nonisolated func with<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async rethrows -> T {
        await lock(key)
        do {
            let value = try await body()
            await unlock(key)
            return value
        } catch {
            await unlock(key)
            throw error
        }
    }
}
