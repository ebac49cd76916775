import Foundation
import KubeClient
import KubeSim
import TestSupport
import Testing

@Suite("Watch and Watcher against KubeSim", .timeLimit(.minutes(3)))
struct WatchTests {
    /// Reads events until `match` returns a value or the timeout passes.
    func next<T>(_ it: inout AsyncStream<WatcherEvent>.AsyncIterator, timeout: Double = 15, _ match: (WatcherEvent) -> T?) async -> T? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let e = await it.next() else { return nil }
            if let v = match(e) { return v }
        }
        return nil
    }

    @Test("a single watch replays from a resourceVersion, filters by label, and sees DELETED")
    func rawWatch() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let c = f.client
        let list = try await c.list(.configMaps)
        _ = try await c.create(.configMaps, ["metadata": ["name": "a", "labels": ["app": "x"]]])
        _ = try await c.create(.configMaps, ["metadata": ["name": "b", "labels": ["app": "y"]]])
        try await c.delete(.configMaps, name: "a")
        var seen: [String] = []
        for try await e in c.watch(.configMaps, options: WatchOptions(labelSelector: "app=x", resourceVersion: list.resourceVersion, allowWatchBookmarks: false, timeoutSeconds: 1)) {
            seen.append("\(e.type.rawValue) \(e.object.name ?? "")")
        }
        #expect(seen == ["ADDED a", "DELETED a"])
    }

    @Test("stopping iteration cancels the watch: the server drops it")
    func cancellation() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let c = f.client
        let task = Task {
            for try await e in c.watch(.configMaps, options: WatchOptions(timeoutSeconds: 250)) {
                if e.object.name == "stop" { break }
            }
        }
        #expect(try await eventually(timeout: 60) { f.server.store.activeWatchCount == 1 }, "the watch is open")
        _ = try await c.create(.configMaps, ["metadata": ["name": "stop"]])
        try await task.value
        #expect(try await eventually(timeout: 60) { f.server.store.activeWatchCount == 0 }, "the watch connection must close when the consumer stops")
        let cancelled = Task {
            for try await _ in c.watch(.configMaps, options: WatchOptions(timeoutSeconds: 250)) {}
        }
        #expect(try await eventually(timeout: 60) { f.server.store.activeWatchCount == 1 }, "the watch is open")
        cancelled.cancel()
        #expect(try await eventually(timeout: 60) { f.server.store.activeWatchCount == 0 }, "task cancellation must close the watch")
    }

    @Test("an ERROR 410 ends a watch from a compacted resourceVersion with .gone")
    func goneError() async throws {
        let f = try await SimFixture.start()
        defer { Task { await f.stop() } }
        let c = f.client
        let start = try await c.list(.configMaps).resourceVersion
        _ = try await c.create(.configMaps, ["metadata": ["name": "a"]])
        f.server.store.compactHistory()
        do {
            for try await _ in c.watch(.configMaps, options: WatchOptions(resourceVersion: start, timeoutSeconds: 5)) {}
            Issue.record("expected Gone")
        } catch let e as KubeAPIError {
            #expect(e.isGone)
        }
    }

    @Test("Watcher lists, then applies changes; bookmarks advance its resourceVersion")
    func watcherAndBookmarks() async throws {
        let f = try await SimFixture.start { $0.bookmarkInterval = 0.2 }
        defer { Task { await f.stop() } }
        let c = f.client
        _ = try await c.create(.configMaps, ["metadata": ["name": "pre", "labels": ["watched": "yes"]]])
        var it = Watcher(client: c, resource: .configMaps, namespace: "default", labelSelector: "watched=yes").events().makeAsyncIterator()
        let initial = await next(&it) { e -> (Int, String)? in
            if case .restarted(let items, let rv) = e { return (items.count, rv) }
            return nil
        }
        #expect(initial?.0 == 1)
        _ = try await c.create(.configMaps, ["metadata": ["name": "later", "labels": ["watched": "yes"]]])
        let applied = await next(&it) { e -> String? in
            if case .applied(let o) = e { return o.name }
            return nil
        }
        #expect(applied == "later")
        // Changes the watch does not match still move the global version; a bookmark reports it.
        for i in 0..<3 { _ = try await c.create(.secrets, ["metadata": ["name": .string("s\(i)")]]) }
        let target = f.server.store.currentResourceVersion
        let bookmark = await next(&it) { e -> Int64? in
            if case .bookmark(let rv) = e, let n = Int64(rv), n >= target { return n }
            return nil
        }
        #expect(bookmark != nil)
    }

    @Test("Watcher resumes after a KubeSim restart without relisting")
    func resumeAfterRestart() async throws {
        // Below the ephemeral range, so no outgoing connection takes the port while the server is down.
        let stable = try freeStablePort()
        let f = try await SimFixture.start { $0.port = stable }
        let c = f.client
        var it = Watcher(client: c, resource: .configMaps, namespace: "default", backoff: Backoff(initial: 0.1, maximum: 0.5)).events().makeAsyncIterator()
        #expect(await next(&it) { e -> Bool? in if case .restarted = e { return true }; return nil } == true)
        _ = try await c.create(.configMaps, ["metadata": ["name": "before"]])
        #expect(await next(&it) { e -> String? in if case .applied(let o) = e { return o.name }; return nil } == "before")
        let port = f.server.port
        let dir = f.server.dataDirectory
        await f.stop()
        var options = KubeSimOptions()
        options.port = port
        options.dataDirectory = dir
        // The old listener may take a moment to let go of the port.
        var attempt = 0
        var started: KubeSimServer?
        while started == nil {
            attempt += 1
            do { started = try await KubeSimServer.start(options) } catch where attempt < 300 {
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        let restarted = started!
        defer { Task { await restarted.stop() } }
        _ = try await c.create(.configMaps, ["metadata": ["name": "after"]])
        var relisted = false
        let name = await next(&it) { e -> String? in
            switch e {
            case .restarted: relisted = true
            case .applied(let o): return o.name
            default: break
            }
            return nil
        }
        #expect(name == "after")
        #expect(!relisted, "the watcher must resume from its resourceVersion, not relist")
        // The object created before the restart survived it.
        #expect(try await c.get(.configMaps, name: "before").name == "before")
    }

    @Test("Watcher relists after its resourceVersion is compacted away (410)")
    func relistAfterCompaction() async throws {
        let f = try await SimFixture.start { $0.bookmarkInterval = 3600 }
        defer { Task { await f.stop() } }
        let c = f.client
        _ = try await c.create(.configMaps, ["metadata": ["name": "one"]])
        var it = Watcher(client: c, resource: .configMaps, namespace: "default", timeoutSeconds: 1).events().makeAsyncIterator()
        #expect(await next(&it) { e -> Int? in if case .restarted(let items, _) = e { return items.count }; return nil } == 1)
        // Move the global version on elsewhere (a kind this watch does not see) and forget history:
        // whether the watch was open yet or not, it still holds the list's version, so its next
        // (re)connect gets 410 and must relist.
        _ = try await c.create(.secrets, ["metadata": ["name": "bump"]])
        f.server.store.compactHistory()
        let relisted = await next(&it) { e -> [String]? in
            if case .restarted(let items, _) = e { return items.compactMap(\.name).sorted() }
            return nil
        }
        #expect(relisted == ["one"])
        _ = try await c.create(.configMaps, ["metadata": ["name": "three"]])
        #expect(await next(&it) { e -> String? in if case .applied(let o) = e { return o.name }; return nil } == "three")
    }
}
