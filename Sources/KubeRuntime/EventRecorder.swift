import Foundation
import KubeClient
import Logging
import Synchronization

/// Records events.k8s.io/v1 Events about objects. Repeats of the same event
/// (same object, type, reason and note) within 10 minutes bump the series
/// count on the existing Event instead of creating a new one. Recording never
/// fails a reconcile: errors are logged and dropped.
public final class EventRecorder: Sendable {
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    let client: KubeClient
    let controller: String
    let instance: String
    let logger: Logger
    private let recent = Mutex<[String: (name: String, namespace: String, count: Int, at: Date)]>([:])

    public init(client: KubeClient, controller: String, instance: String, logger: Logger = Logger(label: "events")) {
        self.client = client
        self.controller = controller
        self.instance = instance
        self.logger = logger
    }

    /// Records an event about `object` (its apiVersion and kind must be set).
    public func record(_ object: JSONValue, _ type: EventType, reason: String, note: String, action: String = "Reconcile") async {
        guard let name = object.name else { return }
        let namespace = object.namespace ?? "default"
        let uid = object.uid ?? ""
        let key = "\(uid)|\(type.rawValue)|\(reason)|\(note)"
        let now = Date()
        let existing = recent.withLock { r -> (name: String, namespace: String, count: Int, at: Date)? in
            r = r.filter { now.timeIntervalSince($0.value.at) < 600 }
            return r[key]
        }
        do {
            if let existing {
                let count = existing.count + 1
                _ = try await client.patch(.events, name: existing.name, namespace: existing.namespace, .merge([
                    "series": ["count": .int(Int64(count)), "lastObservedTime": .string(Timestamps.formatMicro(now))],
                ]))
                recent.withLock { $0[key] = (existing.name, existing.namespace, count, now) }
                return
            }
            let event: JSONValue = [
                "metadata": ["generateName": .string("\(name)."), "namespace": .string(namespace)],
                "eventTime": .string(Timestamps.formatMicro(now)),
                "reportingController": .string(controller),
                "reportingInstance": .string(instance),
                "action": .string(action),
                "reason": .string(reason),
                "note": .string(Self.cut(note, bytes: 1024)),
                "type": .string(type.rawValue),
                "regarding": [
                    "apiVersion": object["apiVersion"] ?? .null, "kind": object["kind"] ?? .null,
                    "name": .string(name), "namespace": .string(namespace), "uid": .string(uid),
                    "resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? .null,
                ],
            ]
            let created = try await client.create(.events, event, namespace: namespace)
            if let eventName = created.name {
                recent.withLock { $0[key] = (eventName, namespace, 1, now) }
            }
        } catch {
            logger.warning("could not record event", metadata: ["object": "\(namespace)/\(name)", "reason": "\(reason)", "error": "\(error)"])
        }
    }

    /// At most `bytes` bytes of UTF-8 (the API server's limit on a note), cut on a character boundary.
    public static func cut(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var out = ""
        var used = 0
        for ch in text {
            let n = String(ch).utf8.count
            if used + n > bytes { break }
            out.append(ch)
            used += n
        }
        return out
    }
}
