import Foundation
import KubeClient
import Logging
import Synchronization

/// Namespace and name of an object: the work-queue key.
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var namespace: String?
    public var name: String

    public init(namespace: String?, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public init?(_ object: JSONValue) {
        guard let name = object.name else { return nil }
        self.init(namespace: object.namespace, name: name)
    }

    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.description < b.description }
}

/// A change seen by an ``ObjectCache``.
public enum CacheChange: Sendable {
    case applied(JSONValue)
    case deleted(JSONValue)
}

/// One resource kept in memory and current by a ``Watcher``: a relist swaps
/// the whole content atomically (and reports what appeared, changed or
/// vanished); `waitUntilSynced` returns after the first full list. Objects
/// are held as compact JSON bytes (a parsed tree costs several times more
/// memory) and parsed when a reconcile asks for one.
public final class ObjectCache: Sendable {
    public let resource: ResourceDescriptor
    private let objects = Mutex<[ObjectKey: [UInt8]]>([:])
    private let syncState = Mutex<(synced: Bool, waiters: [Int: CheckedContinuation<Void, Never>], next: Int)>((false, [:], 0))

    public init(resource: ResourceDescriptor) {
        self.resource = resource
    }

    public func get(_ key: ObjectKey) -> JSONValue? {
        guard let bytes = objects.withLock({ $0[key] }) else { return nil }
        return try? JSONWire.parse(bytes)
    }

    public func list() -> [JSONValue] { objects.withLock { Array($0.values) }.compactMap { try? JSONWire.parse($0) } }

    static func pack(_ object: JSONValue) -> [UInt8] { JSONWire.serialize(object, sortedKeys: true) }

    public var keys: [ObjectKey] { objects.withLock { Array($0.keys) } }

    public var count: Int { objects.withLock { $0.count } }

    public var hasSynced: Bool { syncState.withLock { $0.synced } }

    /// Returns once the first list has arrived, or as soon as the task is cancelled (a SIGTERM
    /// while the API server is down must not wait for a sync that never comes).
    public func waitUntilSynced() async {
        let id = syncState.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let ready = syncState.withLock { s -> Bool in
                    if s.synced || Task.isCancelled { return true }
                    s.waiters[id] = cont
                    return false
                }
                if ready { cont.resume() }
            }
        } onCancel: {
            let waiter = syncState.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    private func markSynced() {
        let waiters = syncState.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.synced = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Applies one watcher event and returns the changes it makes.
    public func apply(_ event: WatcherEvent) -> [CacheChange] {
        switch event {
        case .restarted(let items, _):
            var fresh: [ObjectKey: [UInt8]] = [:]
            var byKey: [ObjectKey: JSONValue] = [:]
            for item in items {
                if let k = ObjectKey(item) {
                    fresh[k] = Self.pack(item)
                    byKey[k] = item
                }
            }
            let (applied, removed) = objects.withLock { current -> ([ObjectKey], [[UInt8]]) in
                let applied = fresh.filter { current[$0.key] != $0.value }.map(\.key)
                let removed = current.filter { fresh[$0.key] == nil }.map(\.value)
                current = fresh
                return (applied, removed)
            }
            let changes = applied.compactMap { byKey[$0].map(CacheChange.applied) } + removed.compactMap { (try? JSONWire.parse($0)).map(CacheChange.deleted) }
            markSynced()
            return changes
        case .applied(let obj):
            guard let k = ObjectKey(obj) else { return [] }
            let packed = Self.pack(obj)
            let changed = objects.withLock { current -> Bool in
                if current[k] == packed { return false }
                current[k] = packed
                return true
            }
            return changed ? [.applied(obj)] : []
        case .deleted(let obj):
            guard let k = ObjectKey(obj) else { return [] }
            _ = objects.withLock { $0.removeValue(forKey: k) }
            return [.deleted(obj)]
        case .bookmark, .retrying:
            return []
        }
    }

    /// Runs `watcher` into this cache until cancelled, reporting each change.
    public func run(_ watcher: Watcher, onChange: @Sendable (CacheChange) async -> Void) async {
        for await event in watcher.events() {
            for change in apply(event) { await onChange(change) }
        }
    }
}
