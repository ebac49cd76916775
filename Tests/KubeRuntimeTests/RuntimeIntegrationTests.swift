import Foundation
import KubeClient
import KubeRuntime
import KubeSim
import ProcessSpawn
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
            // Long, so that "at the next retry, not after expiry" holds on a loaded machine.
            e.leaseDuration = 60
            e.renewDeadline = 40
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
        #expect(try await eventually(timeout: 45) { leading.withLock { $0 } == ["a", "b"] })
        let took = Date().timeIntervalSince(released)
        print("leader election: the released Lease was taken \(String(format: "%.2f", took)) s later")
        #expect(took < 30, "a released Lease is taken at the next retry, not after the 60 s expiry")
        #expect(try await f.client.get(.leases, name: "test-lease")[path: ["spec", "leaseTransitions"]] == 1)
        b.cancel()
    }

    @Test("a leader cut off from the API server (its connection frozen) stops leading within the renew deadline, before the standby takes the Lease: no moment with two leaders")
    func frozenLeader() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        // The leader reaches the API through a TCP proxy in its own process group: SIGSTOP freezes its
        // connection (a hung renewal), while the standby talks to the server directly.
        let proxy = try TCPProxy.start(to: f.server.port)
        let port = proxy.port
        defer { proxy.stop() }
        #expect(try await eventually(timeout: 10) { (try? await httpGet("http://127.0.0.1:\(port)/healthz").status) == 200 })
        let viaProxy = KubeClient(config: ClientConfig(server: "http://127.0.0.1:\(port)"), httpClient: sharedHTTPClient)
        let spans = Mutex<[String: (start: Date, end: Date?)]>([:])
        func elector(_ id: String, _ client: KubeClient) -> LeaderElector {
            var e = LeaderElector(client: client, namespace: "default", name: "frozen-lease", identity: id)
            e.retryPeriod = 0.2
            e.leaseDuration = 4
            e.renewDeadline = 2
            return e
        }
        let lead: @Sendable (String) -> @Sendable () async -> Void = { id in
            {
                spans.withLock { $0[id] = (Date(), nil) }
                try? await Task.sleep(nanoseconds: 120_000_000_000)
                spans.withLock { $0[id]?.end = Date() }
            }
        }
        let ea = elector("a", viaProxy), eb = elector("b", f.client)
        let a = Task { try await ea.run(lead("a")) }
        #expect(try await eventually(timeout: 20) { spans.withLock { $0["a"] != nil } })
        let b = Task { try await eb.run(lead("b")) }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(spans.withLock { $0["b"] == nil }, "b waits while a renews")
        proxy.freeze()
        #expect(try await eventually(timeout: 60, interval: 0.05) { spans.withLock { $0["b"] != nil } }, "b takes over once a's Lease expires")
        let (sa, sb) = spans.withLock { ($0["a"]!, $0["b"]!) }
        let aEnd = try #require(sa.end, "a was still leading when b started")
        #expect(aEnd <= sb.start, "two leaders for \(sb.start.timeIntervalSince(aEnd) * -1) s")
        do {
            try await a.value
            Issue.record("a's run should end with LeadershipLost")
        } catch is LeadershipLost {
        } catch {
            Issue.record("unexpected \(error)")
        }
        b.cancel()
        _ = try? await b.value
    }

    @Test("the API server itself frozen (SIGSTOP): the leader stops leading within the renew deadline; after SIGCONT one leader again, never two at once")
    func frozenServer() async throws {
        let dir = try makeTempDir("frozen-api")
        let server = try ProcessSpawn.spawn(repoRoot + "/.build/debug/ferry", ["sandbox", "api", "--data-dir", dir, "--no-workloads", "--ephemeral"],
                                            environment: ["PATH": "/usr/bin:/bin"], fileActions: [.open(1, path: "/dev/null", flags: O_WRONLY, mode: 0)])
        defer {
            kill(server, SIGCONT)
            kill(server, SIGKILL)
            _ = ProcessSpawn.waitStatus(server)
        }
        #expect(try await eventually(timeout: 30, interval: 0.1) { FileManager.default.fileExists(atPath: dir + "/kubeconfig") })
        try await Task.sleep(nanoseconds: 300_000_000)
        let client = KubeClient(config: try KubeConfigLoader.load(files: [dir + "/kubeconfig"]), httpClient: sharedHTTPClient)
        let spans = Mutex<[(id: String, start: Date, end: Date?)]>([])
        let lead: @Sendable (String) -> @Sendable () async -> Void = { id in
            {
                let index = spans.withLock { s -> Int in s.append((id, Date(), nil)); return s.count - 1 }
                try? await Task.sleep(nanoseconds: 120_000_000_000)
                spans.withLock { $0[index].end = Date() }
            }
        }
        func elector(_ id: String) -> LeaderElector {
            var e = LeaderElector(client: client, namespace: "default", name: "sigstop-lease", identity: id)
            e.retryPeriod = 0.2
            e.leaseDuration = 4
            e.renewDeadline = 2
            return e
        }
        let (ea, eb) = (elector("a"), elector("b"))
        // Each elector re-runs after losing leadership, as a controller process restarts.
        let loop = { (e: LeaderElector, id: String) in Task { while !Task.isCancelled { try? await e.run(lead(id)) } } }
        let a = loop(ea, "a")
        #expect(try await eventually(timeout: 20) { spans.withLock { !$0.isEmpty } })
        let b = loop(eb, "b")
        defer { a.cancel(); b.cancel() }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        kill(server, SIGSTOP)
        let frozen = Date()
        #expect(try await eventually(timeout: 30, interval: 0.05) { spans.withLock { $0.allSatisfy { $0.end != nil } } }, "the leader stops leading while the API is frozen")
        let stoppedAfter = spans.withLock { $0.compactMap(\.end).max() ?? Date() }.timeIntervalSince(frozen)
        print("leader election: stopped leading \(String(format: "%.1f", stoppedAfter)) s after the API froze (renew deadline 2 s)")
        try await Task.sleep(nanoseconds: 3_000_000_000)
        kill(server, SIGCONT)
        #expect(try await eventually(timeout: 60, interval: 0.1) { spans.withLock { $0.contains { $0.end == nil } } }, "someone leads again")
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let all = spans.withLock { $0 }
        for (i, x) in all.enumerated() {
            for y in all[(i + 1)...] {
                let overlap = min(x.end ?? Date(), y.end ?? Date()).timeIntervalSince(max(x.start, y.start))
                #expect(overlap <= 0, "\(x.id) and \(y.id) led together for \(overlap) s")
            }
        }
    }

    @Test("an API server that cannot be reached for a while does not end a standby: it keeps trying with backoff and leads once the Lease can be taken")
    func acquireRetries() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let port = try freeStablePort()
        // Nothing listens on the port yet: every request fails with a transport error.
        let client = KubeClient(config: ClientConfig(server: "http://127.0.0.1:\(port)"), httpClient: sharedHTTPClient)
        var e = LeaderElector(client: client, namespace: "default", name: "retry-lease", identity: "standby")
        e.retryPeriod = 0.1
        let led = Mutex(false)
        let elector = e
        let run = Task { try await elector.run { led.withLock { $0 = true }; try? await Task.sleep(nanoseconds: 60_000_000_000) } }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(!led.withLock { $0 })
        // Now the API answers (a proxy to KubeSim appears on that port).
        let proxy = try TCPProxy.start(to: f.server.port, port: port)
        defer { proxy.stop() }
        #expect(try await eventually(timeout: 60, interval: 0.1) { led.withLock { $0 } }, "the standby lived through the errors and took the Lease")
        run.cancel()
        _ = try? await run.value
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
