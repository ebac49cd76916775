import Foundation
import KubeClient
import KubeRuntime
import KubeSim
import Synchronization
import TestSupport
import Testing

/// Counts reconciles per key and detects overlapping reconciles of one key.
final class RecordingReconciler: Reconciler {
    let counts = Mutex<[String: Int]>([:])
    let active = Mutex<Set<String>>([])
    let overlaps = Mutex(0)
    let delay: Double
    let failFirst: Int
    let failures = Mutex<[String: Int]>([:])

    init(delay: Double = 0, failFirst: Int = 0) {
        self.delay = delay
        self.failFirst = failFirst
    }

    func reconcile(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileAction {
        let k = key.description
        let overlapped = active.withLock { !$0.insert(k).inserted }
        if overlapped { overlaps.withLock { $0 += 1 } }
        defer { _ = active.withLock { $0.remove(k) } }
        if delay > 0 { try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000)) }
        let failed = failures.withLock { f -> Bool in
            let n = f[k, default: 0]
            if n < failFirst {
                f[k] = n + 1
                return true
            }
            return false
        }
        if failed { throw KubeClientError.invalidArgument("planned failure") }
        counts.withLock { $0[k, default: 0] += 1 }
        return .done
    }

    func count(_ k: String) -> Int { counts.withLock { $0[k, default: 0] } }
}

@Suite("Controller, leader election and events against KubeSim", .timeLimit(.minutes(3)))
struct RuntimeIntegrationTests {
    @Test("the controller reconciles on change, maps owned objects to their owner, never overlaps a key, retries failures")
    func controllerLoop() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let c = f.client
        let reconciler = RecordingReconciler(delay: 0.05, failFirst: 2)
        let controller = Controller(client: c, primary: .configMaps, namespace: "default", owned: [.secrets], reconciler: reconciler, workers: 4)
        let run = Task { await controller.run() }
        defer { run.cancel() }
        let owner = try await c.create(.configMaps, ["metadata": ["name": "owner"]])
        #expect(try await eventually { reconciler.count("default/owner") == 1 }, "reconciled after two planned failures")
        for i in 0..<10 { _ = try await c.patch(.configMaps, name: "owner", .merge(["data": ["i": .string("\(i)")]])) }
        #expect(try await eventually { reconciler.count("default/owner") >= 2 })
        let before = reconciler.count("default/owner")
        let ref: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid.map { .string($0) } ?? .null, "controller": true]
        _ = try await c.create(.secrets, ["metadata": ["name": "child", "ownerReferences": [ref]]])
        #expect(try await eventually { reconciler.count("default/owner") > before }, "a change to an owned object reconciles its owner")
        #expect(reconciler.overlaps.withLock { $0 } == 0)
        #expect(controller.hasSynced)
    }

    @Test("after a forced 410 the controller relists and keeps reconciling")
    func relistAfterGone() async throws {
        let f = try await SimFixture.start { $0.bookmarkInterval = 3600 }
        defer { Task { await f.stop() } }
        let c = f.client
        let reconciler = RecordingReconciler()
        let controller = Controller(client: c, primary: .configMaps, namespace: "default", reconciler: reconciler, watchTimeoutSeconds: 1)
        let run = Task { await controller.run() }
        defer { run.cancel() }
        _ = try await c.create(.configMaps, ["metadata": ["name": "a"]])
        #expect(try await eventually { reconciler.count("default/a") == 1 })
        _ = try await c.create(.secrets, ["metadata": ["name": "elsewhere"]])
        f.server.store.compactHistory()
        _ = try await c.create(.configMaps, ["metadata": ["name": "b"]])
        #expect(try await eventually(timeout: 15) { reconciler.count("default/b") == 1 })
    }

    @Test("leader election: one leader; cancelling releases the Lease and the other takes over at once")
    func leaderElection() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let leading = LockedList()
        func elector(_ id: String) -> LeaderElector {
            var e = LeaderElector(client: f.client, namespace: "default", name: "test-lease", identity: id)
            e.retryPeriod = 0.2
            e.leaseDuration = 3
            e.renewDeadline = 2
            return e
        }
        let ea = elector("a")
        let eb = elector("b")
        let a = Task { try await ea.run { leading.withLock { $0.append("a") }; try? await Task.sleep(nanoseconds: 60_000_000_000) } }
        #expect(try await eventually { leading.withLock { $0 } == ["a"] })
        let b = Task { try await eb.run { leading.withLock { $0.append("b") }; try? await Task.sleep(nanoseconds: 60_000_000_000) } }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(leading.withLock { $0 } == ["a"], "b must not lead while a renews")
        let lease = try await f.client.get(.leases, name: "test-lease")
        #expect(lease[path: ["spec", "holderIdentity"]] == "a")
        let released = Date()
        a.cancel()
        _ = try? await a.value
        #expect(try await eventually { leading.withLock { $0 } == ["a", "b"] })
        #expect(Date().timeIntervalSince(released) < 2, "a released Lease is taken at the next retry, not after expiry")
        #expect(try await f.client.get(.leases, name: "test-lease")[path: ["spec", "leaseTransitions"]] == 1)
        b.cancel()
    }

    @Test("events are recorded with MicroTime and repeats bump the series count")
    func events() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let c = f.client
        var cm = try await c.create(.configMaps, ["metadata": ["name": "subject"]])
        cm["apiVersion"] = "v1"
        cm["kind"] = "ConfigMap"
        let recorder = EventRecorder(client: c, controller: "ferry.dev/test", instance: "t")
        await recorder.record(cm, .normal, reason: "Hello", note: "first")
        await recorder.record(cm, .normal, reason: "Hello", note: "first")
        await recorder.record(cm, .warning, reason: "Other", note: "second")
        let list = try await c.list(.events)
        #expect(list.items.count == 2)
        let hello = list.items.first { $0["reason"] == "Hello" }
        #expect(hello?[path: ["series", "count"]] == 2)
        let time = hello?["eventTime"]?.stringValue ?? ""
        #expect(time.split(separator: ".").last?.count == 7, "six fractional digits and Z: \(time)")
        // The same events through the core API (what kubectl describe reads).
        let core = try await c.list(.coreEvents, options: ListOptions(fieldSelector: "involvedObject.name=subject"))
        #expect(core.items.count == 2)
        #expect(core.items.contains { $0["message"] == "first" && $0["count"] == 2 })
    }
}

/// A thread-safe list of strings for tests.
final class LockedList: Sendable {
    private let items = Mutex<[String]>([])
    func withLock<T>(_ body: (inout [String]) -> T) -> T { items.withLock { body(&$0) } }
}
