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
/// vanished); `waitUntilSynced` returns after the first full list.
public final class ObjectCache: Sendable {
    public let resource: ResourceDescriptor
    private let objects = Mutex<[ObjectKey: JSONValue]>([:])
    private let syncState = Mutex<(synced: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init(resource: ResourceDescriptor) {
        self.resource = resource
    }

    public func get(_ key: ObjectKey) -> JSONValue? { objects.withLock { $0[key] } }

    public func list() -> [JSONValue] { objects.withLock { Array($0.values) } }

    public var keys: [ObjectKey] { objects.withLock { Array($0.keys) } }

    public var count: Int { objects.withLock { $0.count } }

    public var hasSynced: Bool { syncState.withLock { $0.synced } }

    public func waitUntilSynced() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let ready = syncState.withLock { s -> Bool in
                if s.synced { return true }
                s.waiters.append(cont)
                return false
            }
            if ready { cont.resume() }
        }
    }

    private func markSynced() {
        let waiters = syncState.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.synced = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Applies one watcher event and returns the changes it makes.
    public func apply(_ event: WatcherEvent) -> [CacheChange] {
        switch event {
        case .restarted(let items, _):
            var fresh: [ObjectKey: JSONValue] = [:]
            for item in items { if let k = ObjectKey(item) { fresh[k] = item } }
            let changes = objects.withLock { current -> [CacheChange] in
                var out: [CacheChange] = []
                for (k, v) in fresh where current[k] != v { out.append(.applied(v)) }
                for (k, v) in current where fresh[k] == nil { out.append(.deleted(v)) }
                current = fresh
                return out
            }
            markSynced()
            return changes
        case .applied(let obj):
            guard let k = ObjectKey(obj) else { return [] }
            let changed = objects.withLock { current -> Bool in
                if current[k] == obj { return false }
                current[k] = obj
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
