import Foundation
import KubeClient
import KubeRuntime
import Testing

@Suite("Work queue", .timeLimit(.minutes(3)))
struct WorkQueueTests {
    @Test("duplicates collapse; order is first-added")
    func dedup() async {
        let q = WorkQueue<String>()
        for k in ["a", "b", "a", "c", "b"] { await q.add(k) }
        #expect(await q.depth == 3)
        #expect(await q.next() == "a")
        #expect(await q.next() == "b")
        #expect(await q.next() == "c")
    }

    @Test("a key is never handed out twice at once; added during processing, it comes back once after done")
    func noConcurrentSameKey() async {
        let q = WorkQueue<String>()
        await q.add("k")
        let first = await q.next()
        #expect(first == "k")
        await q.add("k")
        await q.add("k")
        #expect(await q.depth == 0, "not queued while being processed")
        await q.add("other")
        #expect(await q.next() == "other")
        await q.done("k")
        #expect(await q.depth == 1)
        #expect(await q.next() == "k")
        await q.done("k")
        await q.done("other")
        #expect(await q.depth == 0)
    }

    @Test("per-key backoff doubles from the base and is capped; forget resets")
    func backoff() async {
        let q = WorkQueue<String>(baseDelay: 0.01, maxDelay: 0.05, rate: 1000, burst: 1000)
        var delays: [Double] = []
        for _ in 0..<5 { delays.append(await q.addRateLimited("k")) }
        #expect(delays == [0.01, 0.02, 0.04, 0.05, 0.05])
        #expect(await q.failureCount("k") == 5)
        await q.forget("k")
        #expect(await q.addRateLimited("k") == 0.01)
    }

    @Test("the overall rate limit spaces out bursts of failures")
    func overallRate() async {
        let q = WorkQueue<Int>(baseDelay: 0.001, maxDelay: 1, rate: 10, burst: 2)
        var delays: [Double] = []
        for k in 0..<5 { delays.append(await q.addRateLimited(k)) }
        #expect(delays[0] < 0.01 && delays[1] < 0.01)
        #expect(delays[4] > 0.25, "the 5th failure waits for tokens: \(delays)")
    }

    @Test("delayed add arrives after the delay; shutdown releases waiting workers")
    func delayedAndShutdown() async throws {
        let q = WorkQueue<String>()
        let start = Date()
        await q.add("later", after: 0.2)
        #expect(await q.depth == 0)
        #expect(await q.next() == "later")
        #expect(Date().timeIntervalSince(start) >= 0.19)
        let waiter = Task { await q.next() }
        try await Task.sleep(nanoseconds: 50_000_000)
        await q.shutDown()
        #expect(await waiter.value == nil)
    }
}

@Suite("Conditions", .timeLimit(.minutes(3)))
struct ConditionTests {
    @Test("lastTransitionTime changes only when the status flips")
    func transitions() {
        var c: [Condition] = []
        let changed1 = c.set(type: "Ready", status: false, reason: "Start", message: "m", observedGeneration: 1, now: "T1")
        #expect(changed1)
        let changed2 = c.set(type: "Ready", status: false, reason: "Still", message: "m2", observedGeneration: 2, now: "T2")
        #expect(changed2)
        #expect(c.condition("Ready")?.lastTransitionTime == "T1")
        #expect(c.condition("Ready")?.reason == "Still")
        let changed3 = c.set(type: "Ready", status: false, reason: "Still", message: "m2", observedGeneration: 2, now: "T3")
        #expect(!changed3, "no change → no write")
        let changed4 = c.set(type: "Ready", status: true, reason: "Done", message: "ok", observedGeneration: 2, now: "T4")
        #expect(changed4)
        #expect(c.condition("Ready")?.lastTransitionTime == "T4")
        #expect(c.isTrue("Ready"))
        #expect(c.count == 1)
    }
}
