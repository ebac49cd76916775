import Foundation
import KubeClient
import Logging
import Metrics

/// What a reconcile asks for next.
public enum ReconcileAction: Sendable, Equatable {
    /// Nothing to do until something changes.
    case done
    /// Look again after this many seconds (polling a Job, waiting for pods).
    case requeueAfter(Double)
}

/// A failure that retrying cannot fix (bad spec, missing permission): logged, not retried.
public struct TerminalError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Brings one object's world in line with its spec. Called with the cached
/// object; never concurrently for the same key.
public protocol Reconciler: Sendable {
    func reconcile(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileAction
}

/// A controller after controller-runtime's: one primary resource plus owned
/// resources mapped to their controller owner, a work queue with dedup and
/// per-key backoff, N workers, and a periodic full resync.
public final class Controller: Sendable {
    public let client: KubeClient
    public let primary: ResourceDescriptor
    public let namespace: String?
    public let owned: [ResourceDescriptor]
    /// Label selector of the owned watches: only what carries it is cached (pods and Jobs of the
    /// whole cluster would otherwise all be held in memory).
    public let ownedLabelSelector: String?
    public let reconciler: any Reconciler
    public let workers: Int
    public let resyncSeconds: Double
    /// Server-side timeout of each watch request (reconnects from the last version after it).
    public let watchTimeoutSeconds: Int
    public let queue = WorkQueue<ObjectKey>()
    public let cache: ObjectCache
    let logger: Logger

    public init(client: KubeClient, primary: ResourceDescriptor, namespace: String?, owned: [ResourceDescriptor] = [], ownedLabelSelector: String? = nil, reconciler: any Reconciler, workers: Int = 2, resyncSeconds: Double = 300, watchTimeoutSeconds: Int = 290, logger: Logger = Logger(label: "controller")) {
        self.watchTimeoutSeconds = watchTimeoutSeconds
        self.ownedLabelSelector = ownedLabelSelector
        self.client = client
        self.primary = primary
        self.namespace = namespace
        self.owned = owned
        self.reconciler = reconciler
        self.workers = workers
        self.resyncSeconds = resyncSeconds
        self.cache = ObjectCache(resource: primary)
        self.logger = logger
    }

    /// True once the primary cache has listed everything.
    public var hasSynced: Bool { cache.hasSynced }

    /// Runs watches, workers and resync until the task is cancelled.
    public func run() async {
        let ns = namespace ?? KubeClient.allNamespaces
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.cache.run(Watcher(client: self.client, resource: self.primary, namespace: ns, timeoutSeconds: self.watchTimeoutSeconds, logger: self.logger)) { change in
                    switch change {
                    case .applied(let o), .deleted(let o):
                        if let k = ObjectKey(o) { await self.queue.add(k) }
                    }
                }
            }
            for resource in owned {
                group.addTask {
                    let ownedCache = ObjectCache(resource: resource)
                    await ownedCache.run(Watcher(client: self.client, resource: resource, namespace: ns, labelSelector: self.ownedLabelSelector, timeoutSeconds: self.watchTimeoutSeconds, logger: self.logger)) { change in
                        switch change {
                        case .applied(let o), .deleted(let o):
                            for key in self.owners(of: o) { await self.queue.add(key) }
                        }
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(self.resyncSeconds * 1_000_000_000))
                    if Task.isCancelled { break }
                    for k in self.cache.keys { await self.queue.add(k) }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    Gauge(label: "ferry_workqueue_depth").record(await self.queue.depth)
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                }
            }
            for _ in 0..<max(1, workers) {
                group.addTask { await self.work() }
            }
            // Child tasks see the parent's cancellation; workers blocked on the queue need a shutdown.
            await withTaskCancellationHandler {
                await group.waitForAll()
            } onCancel: {
                Task { await self.queue.shutDown() }
            }
        }
    }

    /// The primary keys an owned object points to through a controller ownerReference.
    func owners(of object: JSONValue) -> [ObjectKey] {
        (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).compactMap { ref in
            guard ref["controller"]?.boolValue == true, ref["kind"]?.stringValue == primary.kind,
                ref["apiVersion"]?.stringValue == primary.apiVersion, let name = ref["name"]?.stringValue
            else { return nil }
            return ObjectKey(namespace: primary.namespaced ? object.namespace : nil, name: name)
        }
    }

    func work() async {
        await cache.waitUntilSynced()
        while let key = await queue.next() {
            await process(key)
            await queue.done(key)
        }
    }

    func process(_ key: ObjectKey) async {
        guard let object = cache.get(key) else {
            await queue.forget(key)
            return
        }
        let start = ContinuousClock.now
        do {
            let action = try await reconciler.reconcile(object, key: key)
            await queue.forget(key)
            Counter(label: "ferry_reconcile_total", dimensions: [("result", "success")]).increment()
            if case .requeueAfter(let s) = action { await queue.add(key, after: s) }
        } catch let e as TerminalError {
            await queue.forget(key)
            Counter(label: "ferry_reconcile_errors_total", dimensions: [("kind", "terminal")]).increment()
            logger.error("reconcile failed; not retrying", metadata: ["key": "\(key)", "error": "\(e)"])
        } catch is CancellationError {
            return
        } catch {
            let delay = await queue.addRateLimited(key)
            Counter(label: "ferry_reconcile_errors_total", dimensions: [("kind", "retriable")]).increment()
            logger.warning("reconcile failed; retrying", metadata: ["key": "\(key)", "error": "\(error)", "retryIn": "\((delay * 1000).rounded() / 1000)s"])
        }
        let elapsed = ContinuousClock.now - start
        Metrics.Timer(label: "ferry_reconcile_duration_seconds").recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
