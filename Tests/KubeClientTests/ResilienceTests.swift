import Foundation
import KubeClient
import KubeSim
import ProcessSpawn
import Synchronization
import TestSupport
import Testing

/// What a real control plane does to a client: 429s with Retry-After, a
/// connection that goes silent, a watch that keeps failing.
@Suite("KubeClient against an unfriendly API server", .serialized, .timeLimit(.minutes(3)))
struct ResilienceTests {
    @Test("429 with Retry-After is waited out and the request succeeds; the API server saw the refusals")
    func tooManyRequests() async throws {
        let f = try await SimFixture.start { $0.throttleEvery = 3 }
        defer { Task { await f.stop() } }
        for i in 0..<10 {
            _ = try await f.client.create(ConfigMap(metadata: ObjectMeta(name: "cm-\(i)"), data: ["i": "\(i)"]))
        }
        for i in 0..<10 { #expect(try await f.client.get(ConfigMap.self, name: "cm-\(i)").data?["i"] == "\(i)") }
        #expect((f.server.throttle?.refused ?? 0) >= 5, "the server refused some and the client rode them out")
    }

    @Test("the client-side rate limit (QPS, burst) spaces requests: 12 at 10/s with a burst of 2 take at least one second")
    func rateLimit() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let config = try KubeConfigLoader.load(files: [f.kubeconfig])
        let limited = KubeClient(config: config, httpClient: sharedHTTPClient, rateLimiter: RateLimiter(qps: 10, burst: 2))
        let started = Date()
        for _ in 0..<12 { _ = try await limited.list(.configMaps) }
        #expect(Date().timeIntervalSince(started) >= 0.95, "12 requests in \(Date().timeIntervalSince(started)) s")
    }

    @Test("a watch whose connection goes silent is noticed within the idle timeout and resumed once it answers again")
    func silentWatch() async throws {
        let f = try await SimFixture.start { $0.bookmarkInterval = 0.5 }
        defer { Task { await f.stop() } }
        let proxy = try TCPProxy.start(to: f.server.port)
        let port = proxy.port
        defer { proxy.stop() }
        #expect(try await eventually(timeout: 10) { (try? await httpGet("http://127.0.0.1:\(port)/healthz").status) == 200 })
        let client = KubeClient(config: ClientConfig(server: "http://127.0.0.1:\(port)"), httpClient: sharedHTTPClient, watchIdleTimeout: 3)
        let events = Mutex<[String]>([])
        let watcher = Watcher(client: client, resource: .configMaps, namespace: "default", backoff: Backoff(initial: 0.2, maximum: 1))
        let consumer = Task {
            for await e in watcher.events() {
                switch e {
                case .restarted: events.withLock { $0.append("restarted") }
                case .applied(let o): events.withLock { $0.append("applied \(o.name ?? "")") }
                case .retrying(let error, _): events.withLock { $0.append("retrying \(error)") }
                default: break
                }
            }
        }
        defer { consumer.cancel() }
        #expect(try await eventually(timeout: 10) { events.withLock { $0.contains("restarted") } })
        proxy.freeze()
        let frozen = Date()
        #expect(try await eventually(timeout: 30, interval: 0.1) { events.withLock { $0.contains { $0.contains("nothing for 3 s") } } }, "\(events.withLock { $0 })")
        let noticed = Date().timeIntervalSince(frozen)
        print("watch: a silent connection noticed after \(String(format: "%.1f", noticed)) s")
        proxy.thaw()
        _ = try await f.client.create(ConfigMap(metadata: ObjectMeta(name: "after"), data: [:]))
        #expect(try await eventually(timeout: 30, interval: 0.1) { events.withLock { $0.contains("applied after") } }, "\(events.withLock { $0 })")
    }

    @Test("a watch that keeps failing with API errors (500s) relists instead of resuming from a version the server may no longer have")
    func persistentFailureRelists() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let events = Mutex<[String]>([])
        // Short watches, so the next request comes soon.
        let watcher = Watcher(client: f.client, resource: .configMaps, namespace: "default", timeoutSeconds: 1, backoff: Backoff(initial: 0.1, maximum: 0.3))
        let consumer = Task {
            for await e in watcher.events() {
                switch e {
                case .restarted: events.withLock { $0.append("restarted") }
                case .retrying: events.withLock { $0.append("retrying") }
                default: break
                }
            }
        }
        defer { consumer.cancel() }
        #expect(try await eventually(timeout: 10) { events.withLock { $0 == ["restarted"] } })
        f.server.throttle?.failWatches(3)
        #expect(try await eventually(timeout: 30, interval: 0.1) { events.withLock { $0.filter { $0 == "restarted" }.count >= 2 } }, "relisted: \(events.withLock { $0 })")
        #expect(events.withLock { $0.filter { $0 == "retrying" }.count } >= 2)
    }
}
