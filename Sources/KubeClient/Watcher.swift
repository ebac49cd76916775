import Foundation
import Logging

/// What a ``Watcher`` reports.
public enum WatcherEvent: Sendable {
    /// A full (re)list: the complete current set of objects. Replace your cache with it.
    case restarted([JSONValue], resourceVersion: String)
    /// An object was added or changed.
    case applied(JSONValue)
    /// An object was deleted (its last known state).
    case deleted(JSONValue)
    /// The server confirmed progress up to this resourceVersion.
    case bookmark(resourceVersion: String)
    /// A failure; the watcher retries after `delay` seconds.
    case retrying(error: String, delay: Double)
}

/// A watch that never gives up: list, then watch from the list's
/// resourceVersion; on a server timeout reconnect from the last seen version;
/// on 410 Gone relist; on any other failure back off with jitter (reset after
/// a healthy period). Modelled on kube-rs's runtime watcher.
public struct Watcher: Sendable {
    public let client: KubeClient
    public let resource: ResourceDescriptor
    public let namespace: String?
    public var labelSelector: String?
    public var fieldSelector: String?
    public var pageSize: Int
    public var timeoutSeconds: Int
    public var backoff: Backoff
    public var logger: Logger

    public init(client: KubeClient, resource: ResourceDescriptor, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil, pageSize: Int = 500, timeoutSeconds: Int = 290, backoff: Backoff = Backoff(), logger: Logger = Logger(label: "watcher")) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.pageSize = pageSize
        self.timeoutSeconds = timeoutSeconds
        self.backoff = backoff
        self.logger = logger
    }

    /// The event stream; it ends only when the consumer stops iterating (or the task is cancelled).
    public func events() -> AsyncStream<WatcherEvent> {
        let (stream, continuation) = AsyncStream<WatcherEvent>.makeStream(bufferingPolicy: .bufferingOldest(65536))
        let task = Task { await run(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func run(_ out: AsyncStream<WatcherEvent>.Continuation) async {
        var resourceVersion: String?
        var backoff = self.backoff
        var failures = 0
        let start = Date()
        func now() -> Double { Date().timeIntervalSince(start) }
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    let listed = try await client.listAll(
                        resource, namespace: namespace,
                        options: ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector), pageSize: pageSize)
                    resourceVersion = listed.resourceVersion
                    out.yield(.restarted(listed.items, resourceVersion: listed.resourceVersion))
                }
                let opened = Date()
                var received = 0
                let options = WatchOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeoutSeconds)
                for try await event in client.watch(resource, namespace: namespace, options: options) {
                    received += 1
                    if let rv = event.object.resourceVersion, !rv.isEmpty { resourceVersion = rv }
                    switch event.type {
                    case .added, .modified: out.yield(.applied(event.object))
                    case .deleted: out.yield(.deleted(event.object))
                    case .bookmark: out.yield(.bookmark(resourceVersion: resourceVersion ?? ""))
                    case .error: break
                    }
                }
                // The server closed the stream (timeoutSeconds): reconnect from the last version.
                // A stream that closes at once with nothing in it is a failure in disguise: back off.
                if received == 0 && Date().timeIntervalSince(opened) < 1 {
                    let delay = backoff.next(now: now())
                    try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
                }
                if received > 0 { failures = 0 }
                logger.debug("watch closed by server; resuming", metadata: ["resource": "\(resource)", "resourceVersion": "\(resourceVersion ?? "")"])
            } catch let error as KubeAPIError where error.isGone {
                logger.info("watch resourceVersion too old; relisting", metadata: ["resource": "\(resource)"])
                resourceVersion = nil
            } catch {
                if Task.isCancelled { break }
                // An API error that persists (not a lost connection, after which resuming is right and
                // the server says 410 when it is not) may hide a state the server no longer has: relist.
                if error is KubeAPIError { failures += 1 }
                if failures >= 2 && resourceVersion != nil {
                    failures = 0
                    logger.info("watch keeps failing; relisting", metadata: ["resource": "\(resource)", "failures": "\(failures)"])
                    resourceVersion = nil
                }
                let delay = backoff.next(now: now())
                logger.warning("watch failed; retrying", metadata: ["resource": "\(resource)", "error": "\(error)", "delay": "\(delay)"])
                out.yield(.retrying(error: "\(error)", delay: delay))
                try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
            }
        }
        out.finish()
    }
}
