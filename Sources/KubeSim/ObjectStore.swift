import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KubeClient
import Synchronization

/// One change, kept for watch replay.
struct HistoryEntry: Sendable {
    var resourceVersion: Int64
    var key: String
    var type: WatchEvent.EventType
    var object: JSONValue
}

/// What a watch stream carries to its HTTP writer.
enum WatchItem: Sendable {
    case event(WatchEvent.EventType, JSONValue)
    case bookmark(Int64)
    /// The requested resourceVersion is gone: send an ERROR 410 and close.
    case expired
}

/// A registered watch: its filter and the stream feeding its response.
final class WatchSubscription: Sendable {
    let id: Int
    let key: String
    let filter: ObjectFilter
    let bookmarks: Bool
    let continuation: AsyncStream<WatchItem>.Continuation
    let stream: AsyncStream<WatchItem>

    init(id: Int, key: String, filter: ObjectFilter, bookmarks: Bool) {
        self.id = id
        self.key = key
        self.filter = filter
        self.bookmarks = bookmarks
        (stream, continuation) = AsyncStream<WatchItem>.makeStream(bufferingPolicy: .unbounded)
    }
}

/// KubeSim's storage: every object, one global resourceVersion counter, a
/// bounded change history for watch replay, live watch fan-out, garbage
/// collection of dependents and finalizer-aware deletion. All operations are
/// synchronous under one lock, so each is atomic like an etcd transaction.
public final class ObjectStore: Sendable {
    struct State {
        var registry = ResourceRegistry()
        var resourceVersion: Int64 = 1
        /// resource key → "namespace/name" → object
        var objects: [String: [String: JSONValue]] = [:]
        /// uid → (resource key, object key)
        var uids: [String: (String, String)] = [:]
        var history: [HistoryEntry] = []
        var historyStart = 0
        /// Events at or below this resourceVersion can no longer be replayed.
        var compactedThrough: Int64 = 0
        var historyLimit: Int
        var watchers: [Int: WatchSubscription] = [:]
        var nextWatcherID = 1
        /// The append-only journal (a file descriptor; -1: none): one JSON line per change, so a
        /// SIGKILL loses nothing that was answered.
        var journal: Int32 = -1
        var journalBytes = 0
    }

    let state: Mutex<State>
    /// Called (outside the lock) after every committed change; used by built-in controllers.
    let now: @Sendable () -> Date

    public init(historyLimit: Int = 10_000, now: @escaping @Sendable () -> Date = { Date() }) {
        state = Mutex(State(historyLimit: historyLimit))
        self.now = now
        _ = try? create(ResourceType.builtins[0], namespace: nil, ["metadata": ["name": "default"]])
    }

    // MARK: - Registry

    func resourceType(group: String, version: String, plural: String) -> ResourceType? {
        state.withLock { $0.registry.find(group: group, version: version, plural: plural) }
    }

    var registry: ResourceRegistry { state.withLock { $0.registry } }

    /// The current global resourceVersion.
    public var currentResourceVersion: Int64 { state.withLock { $0.resourceVersion } }

    // MARK: - Reads

    static func objectKey(_ namespace: String?, _ name: String) -> String { "\(namespace ?? "")/\(name)" }

    public func get(_ type: ResourceType, namespace: String?, name: String) throws -> JSONValue {
        try state.withLock { s in
            guard let obj = s.objects[type.key]?[Self.objectKey(type.namespaced ? namespace : nil, name)] else {
                throw SimError.notFound(type, name)
            }
            return obj
        }
    }

    struct ListResult {
        var items: [JSONValue]
        var resourceVersion: Int64
        var continueToken: String?
        var remaining: Int?
    }

    func list(_ type: ResourceType, filter: ObjectFilter, limit: Int?, continueToken: String?) throws -> ListResult {
        var after: String?
        var listRV: Int64?
        if let token = continueToken, !token.isEmpty {
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
                let bar = text.firstIndex(of: "|"), let rv = Int64(text[..<bar])
            else { throw SimError.badRequest("continue key is not valid: malformed token") }
            listRV = rv
            after = String(text[text.index(after: bar)...])
        }
        return state.withLock { s in
            let all = s.objects[type.key] ?? [:]
            var keys = all.keys.filter { key in after.map { key > $0 } ?? true }
            keys.sort()
            var items: [JSONValue] = []
            var lastKey: String?
            var remaining = 0
            for key in keys {
                let obj = all[key]!
                guard filter.matches(obj) else { continue }
                if let limit, limit > 0, items.count >= limit {
                    remaining += 1
                    continue
                }
                items.append(obj)
                lastKey = key
            }
            let rv = listRV ?? s.resourceVersion
            var token: String?
            if remaining > 0, let lastKey {
                token = Data("\(rv)|\(lastKey)".utf8).base64EncodedString()
            }
            return ListResult(items: items, resourceVersion: rv, continueToken: token, remaining: remaining > 0 ? remaining : nil)
        }
    }

    // MARK: - Writes

    static func validateName(_ name: String, field: String = "metadata.name") -> APIStatus.Cause? {
        let bytes = Array(name.utf8)
        let ok =
            !bytes.isEmpty && bytes.count <= 253
            && bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
            && bytes.first! != 45 && bytes.first! != 46 && bytes.last! != 45 && bytes.last! != 46
        if ok { return nil }
        return APIStatus.Cause(
            reason: "FieldValueInvalid",
            message: "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            field: field)
    }

    static func randomSuffix() -> String {
        let chars = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in chars.randomElement()! })
    }

    /// Creates an object. `namespace` comes from the URL; a different one in the body is refused.
    @discardableResult
    public func create(_ type: ResourceType, namespace: String?, _ body: JSONValue, dryRun: Bool = false, strict: Bool = false) throws -> JSONValue {
        let stamp = Timestamps.format(now())
        return try state.withLock { s in
            var obj = body
            guard case .object = obj else { throw SimError.badRequest("the body of the request was not a JSON object") }
            if let kind = obj["kind"]?.stringValue, kind != type.kind {
                throw SimError.badRequest("the kind \"\(kind)\" does not match the expected kind \"\(type.kind)\"")
            }
            var name = obj.name ?? ""
            if name.isEmpty, let gen = obj[path: ["metadata", "generateName"]]?.stringValue, !gen.isEmpty {
                repeat {
                    name = gen + Self.randomSuffix()
                } while s.objects[type.key]?[Self.objectKey(type.namespaced ? namespace : nil, name)] != nil
            }
            if name.isEmpty {
                throw SimError.invalid(type, "", [.init(reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name")])
            }
            if let cause = Self.validateName(name) { throw SimError.invalid(type, name, [cause]) }
            var ns: String?
            if type.namespaced {
                let bodyNS = obj.namespace
                if let bodyNS, !bodyNS.isEmpty, let namespace, bodyNS != namespace {
                    throw SimError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
                }
                ns = namespace ?? bodyNS ?? "default"
                let nsObj = s.objects[ResourceType.builtins[0].key]?[Self.objectKey(nil, ns!)]
                guard let nsObj else {
                    throw SimError(404, "NotFound", "namespaces \"\(ns!)\" not found", details: .init(name: ns, kind: "namespaces"))
                }
                if nsObj[path: ["metadata", "deletionTimestamp"]] != nil {
                    throw SimError(403, "Forbidden", "\(type.plural) \"\(name)\" is forbidden: unable to create new content in namespace \(ns!) because it is being terminated")
                }
            }
            let objectKey = Self.objectKey(ns, name)
            if s.objects[type.key]?[objectKey] != nil { throw SimError.alreadyExists(type, name) }
            var meta = obj["metadata"]?.objectValue ?? [:]
            meta["name"] = .string(name)
            if let ns { meta["namespace"] = .string(ns) } else { meta.removeValue(forKey: "namespace") }
            meta["uid"] = .string(UUID().uuidString.lowercased())
            meta["creationTimestamp"] = .string(stamp)
            meta["generation"] = .int(1)
            meta.removeValue(forKey: "deletionTimestamp")
            meta.removeValue(forKey: "deletionGracePeriodSeconds")
            meta.removeValue(forKey: "resourceVersion")
            obj["metadata"] = .object(meta)
            obj["kind"] = .string(type.kind)
            if obj["apiVersion"] == nil { obj["apiVersion"] = .string(type.apiVersion(type.versions[0])) }
            if type.hasStatus && type.isCustom { obj["status"] = nil }
            try Self.applySchema(type, &obj, strict: strict, name: name)
            let causes = BuiltinValidation.causes(type, obj)
            if !causes.isEmpty { throw SimError.invalid(type, name, causes) }
            try Hooks.beforeCreate(type, &obj, &s)
            if type.key == "/pods", let ns, let labels = s.objects[ResourceType.builtins[0].key]?[Self.objectKey(nil, ns)]?[path: ["metadata", "labels"]]?.objectValue,
               let refusal = PodSecurityAdmission.refusal(pod: obj, name: name, namespaceLabels: labels) {
                throw refusal
            }
            if dryRun { return obj }
            return Self.commit(&s, type, objectKey, obj, .added)
        }
    }

    /// Writes `obj` (bumping resourceVersion) or removes it, records history and notifies watchers.
    static func commit(_ s: inout State, _ type: ResourceType, _ objectKey: String, _ object: JSONValue, _ eventType: WatchEvent.EventType) -> JSONValue {
        s.resourceVersion += 1
        var obj = object
        obj[path: ["metadata", "resourceVersion"]] = .string(String(s.resourceVersion))
        let old = s.objects[type.key]?[objectKey]
        if eventType == .deleted {
            s.objects[type.key]?.removeValue(forKey: objectKey)
            if let uid = obj.uid { s.uids.removeValue(forKey: uid) }
        } else {
            s.objects[type.key, default: [:]][objectKey] = obj
            if let uid = obj.uid { s.uids[uid] = (type.key, objectKey) }
        }
        if s.journal >= 0 {
            let line = JSONWire.serialize(["rv": .int(s.resourceVersion), "key": .string(type.key), "deleted": .bool(eventType == .deleted), "object": obj]) + [0x0A]
            let written = line.withUnsafeBytes { Glibc.write(s.journal, $0.baseAddress, $0.count) }
            if written > 0 { s.journalBytes += written }
        }
        s.history.append(HistoryEntry(resourceVersion: s.resourceVersion, key: type.key, type: eventType, object: obj))
        if s.history.count - s.historyStart > s.historyLimit {
            s.compactedThrough = s.history[s.historyStart].resourceVersion
            s.historyStart += 1
            if s.historyStart > 4096 {
                s.history.removeFirst(s.historyStart)
                s.historyStart = 0
            }
        }
        for w in s.watchers.values where w.key == type.key {
            let nowMatches = w.filter.matches(obj)
            let wasMatching = old.map { w.filter.matches($0) } ?? false
            switch eventType {
            case .deleted:
                if nowMatches || wasMatching { w.continuation.yield(.event(.deleted, obj)) }
            default:
                if nowMatches {
                    w.continuation.yield(.event(eventType == .modified && wasMatching ? .modified : .added, obj))
                } else if wasMatching {
                    w.continuation.yield(.event(.deleted, obj))
                }
            }
        }
        return obj
    }

    /// Applies a custom resource's schema: defaults, pruning (or strict
    /// rejection) of unknown fields, validation → 422 with field causes.
    static func applySchema(_ type: ResourceType, _ obj: inout JSONValue, strict: Bool, name: String) throws {
        guard type.isCustom else { return }
        let version = obj["apiVersion"]?.stringValue.flatMap { $0.split(separator: "/").last.map(String.init) } ?? type.versions[0]
        guard let schema = type.schemas[version] ?? type.schemas[type.versions[0]] else { return }
        let causes = SchemaValidator.apply(schema, to: &obj, strict: strict)
        if !causes.isEmpty { throw SimError.invalid(type, name, causes) }
    }

    /// Fields of `a` and `b` other than metadata and status differ: the spec changed.
    static func specChanged(_ a: JSONValue, _ b: JSONValue) -> Bool {
        var x = a.objectValue ?? [:]
        var y = b.objectValue ?? [:]
        for k in ["metadata", "status", "apiVersion", "kind"] {
            x.removeValue(forKey: k)
            y.removeValue(forKey: k)
        }
        return x != y
    }

    /// Replaces an object (PUT), or only its status when `subresource` is "status".
    @discardableResult
    public func update(_ type: ResourceType, namespace: String?, name: String, _ body: JSONValue, subresource: String? = nil, dryRun: Bool = false, strict: Bool = false) throws -> JSONValue {
        try state.withLock { s in
            try Self.update(&s, type, namespace: namespace, name: name, body, subresource: subresource, dryRun: dryRun, strict: strict, store: self)
        }
    }

    static func update(_ s: inout State, _ type: ResourceType, namespace: String?, name: String, _ body: JSONValue, subresource: String?, dryRun: Bool, strict: Bool = false, store: ObjectStore) throws -> JSONValue {
        let ns = type.namespaced ? namespace : nil
        let objectKey = objectKey(ns, name)
        guard let old = s.objects[type.key]?[objectKey] else { throw SimError.notFound(type, name) }
        guard case .object = body else { throw SimError.badRequest("the body of the request was not a JSON object") }
        if let bodyName = body.name, bodyName != name {
            throw SimError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if let rv = body.resourceVersion, !rv.isEmpty, rv != old.resourceVersion {
            throw SimError.conflict(type, name)
        }
        var new: JSONValue
        if subresource == "status" {
            new = old
            new["status"] = body["status"]
        } else {
            new = body
            var meta = new["metadata"]?.objectValue ?? [:]
            for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace", "name"] {
                meta[k] = old["metadata"]?[k]
            }
            new["metadata"] = .object(meta)
            new["kind"] = .string(type.kind)
            if new["apiVersion"] == nil { new["apiVersion"] = old["apiVersion"] }
            if type.hasStatus { new["status"] = old["status"] }
            if specChanged(old, new) {
                new[path: ["metadata", "generation"]] = .int((old[path: ["metadata", "generation"]]?.intValue ?? 1) + 1)
            }
        }
        new[path: ["metadata", "resourceVersion"]] = old["metadata"]?["resourceVersion"]
        try applySchema(type, &new, strict: strict, name: name)
        let causes = BuiltinValidation.causes(type, new)
        if !causes.isEmpty { throw SimError.invalid(type, name, causes) }
        let terminating = old[path: ["metadata", "deletionTimestamp"]] != nil
        let oldFinalizers = Set(old[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let newFinalizers = new[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        if terminating, newFinalizers.contains(where: { !oldFinalizers.contains($0) }) {
            throw SimError.invalid(type, name, [.init(reason: "FieldValueForbidden", message: "Forbidden: no new finalizers can be added if the object is being deleted", field: "metadata.finalizers")])
        }
        if newFinalizers.isEmpty, new[path: ["metadata", "finalizers"]] != nil {
            new[path: ["metadata", "finalizers"]] = nil
        }
        if new == old { return old }
        try Hooks.beforeUpdate(type, old, &new, &s)
        if dryRun { return new }
        if terminating && newFinalizers.isEmpty {
            let deleted = commit(&s, type, objectKey, new, .deleted)
            Hooks.afterDelete(type, deleted, &s, store: store)
            collectGarbage(&s, store: store)
            return deleted
        }
        return commit(&s, type, objectKey, new, .modified)
    }

    /// Applies a patch (merge, JSON or strategic) to the object or its status.
    @discardableResult
    public func patch(_ type: ResourceType, namespace: String?, name: String, patch: JSONValue, contentType: String, subresource: String? = nil, dryRun: Bool = false, strict: Bool = false) throws -> JSONValue {
        try state.withLock { s in
            let ns = type.namespaced ? namespace : nil
            guard let old = s.objects[type.key]?[Self.objectKey(ns, name)] else { throw SimError.notFound(type, name) }
            var patched: JSONValue
            do {
                switch contentType {
                case "application/merge-patch+json":
                    patched = Patching.mergePatch(old, patch)
                case "application/json-patch+json":
                    patched = try Patching.jsonPatch(old, patch)
                case "application/strategic-merge-patch+json":
                    if type.isCustom {
                        throw SimError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
                    }
                    patched = try Patching.strategicMerge(old, patch)
                default:
                    throw SimError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")
                }
            } catch let e as Patching.PatchError {
                if e.isTestFailure { throw SimError(422, "Invalid", "the server rejected our request due to an error in our request: \(e)") }
                throw SimError(422, "Invalid", "the server rejected our request due to an error in our request: \(e)")
            }
            if subresource != "status", type.hasStatus { patched["status"] = old["status"] }
            return try Self.update(&s, type, namespace: namespace, name: name, patched, subresource: subresource, dryRun: dryRun, strict: strict, store: self)
        }
    }

    /// Deletes an object: at once without finalizers, else marks it terminating.
    @discardableResult
    public func delete(_ type: ResourceType, namespace: String?, name: String, options: JSONValue = .null, dryRun: Bool = false) throws -> JSONValue {
        let stamp = Timestamps.format(now())
        return try state.withLock { s in
            let ns = type.namespaced ? namespace : nil
            let objectKey = Self.objectKey(ns, name)
            guard let old = s.objects[type.key]?[objectKey] else { throw SimError.notFound(type, name) }
            if let uid = options[path: ["preconditions", "uid"]]?.stringValue, uid != old.uid {
                throw SimError.conflict(type, name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old.uid ?? "")")
            }
            if let rv = options[path: ["preconditions", "resourceVersion"]]?.stringValue, rv != old.resourceVersion {
                throw SimError.conflict(type, name, "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(old.resourceVersion ?? "")")
            }
            if dryRun { return old }
            let policy = options["propagationPolicy"]?.stringValue
            if policy == "Orphan", let uid = old.uid { Self.orphanDependents(&s, of: uid) }
            var finalizers = old[path: ["metadata", "finalizers"]]?.arrayValue ?? []
            if policy == "Foreground", old.uid.map({ Self.hasDependents(s, $0) }) == true, !finalizers.contains("foregroundDeletion") {
                finalizers.append("foregroundDeletion")
            }
            if type.key == ResourceType.builtins[0].key {
                finalizers = finalizers.filter { $0.stringValue != "kubernetes" }
            }
            let isNamespace = type.key == ResourceType.builtins[0].key
            if !finalizers.isEmpty || isNamespace && Self.namespaceHasContent(s, name) {
                if old[path: ["metadata", "deletionTimestamp"]] != nil && old[path: ["metadata", "finalizers"]]?.arrayValue == finalizers {
                    return old
                }
                var new = old
                new[path: ["metadata", "deletionTimestamp"]] = .string(stamp)
                new[path: ["metadata", "deletionGracePeriodSeconds"]] = .int(0)
                if !finalizers.isEmpty { new[path: ["metadata", "finalizers"]] = .array(finalizers) }
                if isNamespace { new[path: ["status", "phase"]] = "Terminating" }
                let result = Self.commit(&s, type, objectKey, new, .modified)
                if isNamespace { Self.deleteNamespaceContent(&s, name, store: self) }
                Self.collectGarbage(&s, store: self)
                return result
            }
            let deleted = Self.commit(&s, type, objectKey, old, .deleted)
            Hooks.afterDelete(type, deleted, &s, store: self)
            Self.collectGarbage(&s, store: self)
            return deleted
        }
    }

    // MARK: - Garbage collection

    static func hasDependents(_ s: State, _ uid: String) -> Bool {
        for objs in s.objects.values {
            for obj in objs.values where (obj[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid }) {
                return true
            }
        }
        return false
    }

    static func orphanDependents(_ s: inout State, of uid: String) {
        for (key, objs) in s.objects {
            guard let type = s.registry.byKey[key] else { continue }
            for (objectKey, obj) in objs {
                guard let refs = obj[path: ["metadata", "ownerReferences"]]?.arrayValue, refs.contains(where: { $0["uid"]?.stringValue == uid }) else { continue }
                var new = obj
                let kept = refs.filter { $0["uid"]?.stringValue != uid }
                new[path: ["metadata", "ownerReferences"]] = kept.isEmpty ? nil : .array(kept)
                _ = commit(&s, type, objectKey, new, .modified)
            }
        }
    }

    static func namespaceHasContent(_ s: State, _ namespace: String) -> Bool {
        for (key, objs) in s.objects where s.registry.byKey[key]?.namespaced == true {
            if objs.values.contains(where: { $0.namespace == namespace }) { return true }
        }
        return false
    }

    static func deleteNamespaceContent(_ s: inout State, _ namespace: String, store: ObjectStore) {
        let stamp = Timestamps.format(store.now())
        for (key, objs) in s.objects {
            guard let type = s.registry.byKey[key], type.namespaced else { continue }
            for (objectKey, obj) in objs where obj.namespace == namespace {
                if let f = obj[path: ["metadata", "finalizers"]]?.arrayValue, !f.isEmpty {
                    if obj[path: ["metadata", "deletionTimestamp"]] == nil {
                        var new = obj
                        new[path: ["metadata", "deletionTimestamp"]] = .string(stamp)
                        _ = commit(&s, type, objectKey, new, .modified)
                    }
                } else {
                    let deleted = commit(&s, type, objectKey, obj, .deleted)
                    Hooks.afterDelete(type, deleted, &s, store: store)
                }
            }
        }
    }

    /// Deletes dependents whose owners are all gone (or are being deleted in
    /// the foreground), finishes foreground deletions with no dependents left,
    /// and removes terminating namespaces that became empty. Repeats until stable.
    static func collectGarbage(_ s: inout State, store: ObjectStore) {
        let stamp = Timestamps.format(store.now())
        var changed = true
        var rounds = 0
        while changed && rounds < 100 {
            changed = false
            rounds += 1
            var foregroundOwners = Set<String>()
            var ownersWithDependents = Set<String>()
            for objs in s.objects.values {
                for obj in objs.values {
                    if obj[path: ["metadata", "deletionTimestamp"]] != nil,
                        obj[path: ["metadata", "finalizers"]]?.arrayValue?.contains("foregroundDeletion") == true, let uid = obj.uid
                    {
                        foregroundOwners.insert(uid)
                    }
                    for ref in obj[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] {
                        if let u = ref["uid"]?.stringValue { ownersWithDependents.insert(u) }
                    }
                }
            }
            for (key, objs) in s.objects {
                guard let type = s.registry.byKey[key] else { continue }
                for (objectKey, obj) in objs {
                    let refs = obj[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
                    let terminating = obj[path: ["metadata", "deletionTimestamp"]] != nil
                    let finalizers = obj[path: ["metadata", "finalizers"]]?.arrayValue ?? []
                    // Foreground owner whose dependents are gone: drop its finalizer.
                    if terminating, finalizers.contains("foregroundDeletion"), let uid = obj.uid, !ownersWithDependents.contains(uid) {
                        var new = obj
                        let rest = finalizers.filter { $0.stringValue != "foregroundDeletion" }
                        new[path: ["metadata", "finalizers"]] = rest.isEmpty ? nil : .array(rest)
                        if rest.isEmpty {
                            let deleted = commit(&s, type, objectKey, new, .deleted)
                            Hooks.afterDelete(type, deleted, &s, store: store)
                        } else {
                            _ = commit(&s, type, objectKey, new, .modified)
                        }
                        changed = true
                        continue
                    }
                    guard !refs.isEmpty, !terminating else { continue }
                    let owners = refs.compactMap { $0["uid"]?.stringValue }
                    let allGone = owners.allSatisfy { s.uids[$0] == nil }
                    let anyForeground = owners.contains { foregroundOwners.contains($0) }
                    guard allGone || anyForeground else { continue }
                    if finalizers.isEmpty {
                        let deleted = commit(&s, type, objectKey, obj, .deleted)
                        Hooks.afterDelete(type, deleted, &s, store: store)
                    } else {
                        var new = obj
                        new[path: ["metadata", "deletionTimestamp"]] = .string(stamp)
                        _ = commit(&s, type, objectKey, new, .modified)
                    }
                    changed = true
                }
            }
            // Terminating namespaces that are now empty go away.
            let nsType = ResourceType.builtins[0]
            for (objectKey, ns) in s.objects[nsType.key] ?? [:] where ns[path: ["metadata", "deletionTimestamp"]] != nil {
                let name = ns.name ?? ""
                if !namespaceHasContent(s, name), (ns[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty {
                    _ = commit(&s, nsType, objectKey, ns, .deleted)
                    changed = true
                }
            }
        }
    }

    /// Runs one garbage-collection pass (also run after every delete).
    public func collectGarbage() {
        state.withLock { s in Self.collectGarbage(&s, store: self) }
    }

    // MARK: - Watch

    /// Registers a watch. With `resourceVersion` nil or "0" the current
    /// matching objects are sent first as ADDED; otherwise history after it is
    /// replayed, or `.expired` is sent when it has been compacted away.
    func watch(_ type: ResourceType, filter: ObjectFilter, resourceVersion: String?, bookmarks: Bool) throws -> WatchSubscription {
        var since: Int64?
        if let rv = resourceVersion, !rv.isEmpty, rv != "0" {
            guard let n = Int64(rv) else { throw SimError.badRequest("invalid resourceVersion \"\(rv)\"") }
            since = n
        }
        return state.withLock { s in
            let sub = WatchSubscription(id: s.nextWatcherID, key: type.key, filter: filter, bookmarks: bookmarks)
            s.nextWatcherID += 1
            if let since {
                if since < s.compactedThrough {
                    sub.continuation.yield(.expired)
                    sub.continuation.finish()
                    return sub
                }
                for i in s.historyStart..<s.history.count {
                    let e = s.history[i]
                    if e.resourceVersion > since, e.key == type.key, filter.matches(e.object) {
                        sub.continuation.yield(.event(e.type, e.object))
                    }
                }
            } else {
                for (_, obj) in (s.objects[type.key] ?? [:]).sorted(by: { $0.key < $1.key }) where filter.matches(obj) {
                    sub.continuation.yield(.event(.added, obj))
                }
            }
            s.watchers[sub.id] = sub
            return sub
        }
    }

    func unwatch(_ sub: WatchSubscription) {
        _ = state.withLock { s in s.watchers.removeValue(forKey: sub.id) }
        sub.continuation.finish()
    }

    /// How many watches are open (a cancelled client watch must drop out of this).
    public var activeWatchCount: Int { state.withLock { $0.watchers.count } }

    /// Sends a BOOKMARK carrying the current resourceVersion to every watch that asked for them.
    public func emitBookmarks() {
        state.withLock { s in
            for w in s.watchers.values where w.bookmarks { w.continuation.yield(.bookmark(s.resourceVersion)) }
        }
    }

    /// Drops all watch history, so any watch resuming from an older version gets 410 Gone.
    public func compactHistory() {
        state.withLock { s in
            s.compactedThrough = s.resourceVersion
            s.history.removeAll()
            s.historyStart = 0
        }
    }

    /// Ends every open watch (the server is stopping).
    func closeAllWatches() {
        let subs = state.withLock { s in
            let all = Array(s.watchers.values)
            s.watchers.removeAll()
            return all
        }
        for w in subs { w.continuation.finish() }
    }

    // MARK: - Persistence

    /// The whole state as JSON: resourceVersion and every object.
    public func snapshot() -> JSONValue {
        state.withLock { s in
            var objects: [JSONValue] = []
            for (key, objs) in s.objects.sorted(by: { $0.key < $1.key }) {
                for obj in objs.values { objects.append(["key": .string(key), "object": obj]) }
            }
            return ["resourceVersion": .int(s.resourceVersion), "objects": .array(objects)]
        }
    }

    /// Starts journaling every change to `path` after replaying what it already holds (over the
    /// snapshot loaded before). A torn last line (a kill mid-write) is ignored.
    public func openJournal(_ path: String) throws {
        if let data = FileManager.default.contents(atPath: path) {
            state.withLock { s in
                let crdKey = ResourceType.builtins.last!.key
                for line in data.split(separator: 0x0A) {
                    guard let e = try? JSONWire.parse(Array(line)), let key = e["key"]?.stringValue, let obj = e["object"], let name = obj.name else { continue }
                    let objectKey = Self.objectKey(obj.namespace, name)
                    if e["deleted"]?.boolValue == true {
                        s.objects[key]?.removeValue(forKey: objectKey)
                        if let uid = obj.uid { s.uids.removeValue(forKey: uid) }
                        if key == crdKey, let t = try? ResourceType.fromCRD(obj) { s.registry.unregister(key: t.key) }
                    } else {
                        s.objects[key, default: [:]][objectKey] = obj
                        if let uid = obj.uid { s.uids[uid] = (key, objectKey) }
                        if key == crdKey, let t = try? ResourceType.fromCRD(obj) { s.registry.register(t) }
                    }
                    s.resourceVersion = max(s.resourceVersion, e["rv"]?.intValue ?? 0)
                }
                s.compactedThrough = s.resourceVersion
            }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SimError(500, "InternalError", "cannot open the journal \(path): \(String(cString: strerror(errno)))") }
        state.withLock { $0.journal = fd; $0.journalBytes = 0 }
    }

    /// Writes the snapshot (atomically, by rename) and empties the journal, under the store's
    /// lock so no change falls between them. `onlyAbove`: skip unless the journal is this big.
    public func compact(snapshotPath: String, journalPath: String, onlyAbove: Int = 0) {
        state.withLock { s in
            guard s.journal >= 0, s.journalBytes >= onlyAbove else { return }
            var objects: [JSONValue] = []
            for (key, objs) in s.objects.sorted(by: { $0.key < $1.key }) {
                for obj in objs.values { objects.append(["key": .string(key), "object": obj]) }
            }
            let data = Data(JSONWire.serialize(["resourceVersion": .int(s.resourceVersion), "objects": .array(objects)]))
            guard (try? data.write(to: URL(fileURLWithPath: snapshotPath), options: .atomic)) != nil else { return }
            _ = ftruncate(s.journal, 0)
            s.journalBytes = 0
        }
    }

    /// Loads a snapshot: CRDs first (so their resources are served), then everything else.
    /// Watch history starts empty, so a resuming watch at an older version relists.
    public func restore(_ snapshot: JSONValue) {
        state.withLock { s in
            s.objects = [:]
            s.uids = [:]
            s.registry = ResourceRegistry()
            let entries = snapshot["objects"]?.arrayValue ?? []
            let crdKey = ResourceType.builtins.last!.key
            for e in entries where e["key"]?.stringValue == crdKey {
                if let obj = e["object"], let t = try? ResourceType.fromCRD(obj) { s.registry.register(t) }
            }
            for e in entries {
                guard let key = e["key"]?.stringValue, let obj = e["object"], let name = obj.name else { continue }
                let objectKey = Self.objectKey(obj.namespace, name)
                s.objects[key, default: [:]][objectKey] = obj
                if let uid = obj.uid { s.uids[uid] = (key, objectKey) }
            }
            s.resourceVersion = snapshot["resourceVersion"]?.intValue ?? s.resourceVersion
            s.history = []
            s.historyStart = 0
            s.compactedThrough = s.resourceVersion
        }
    }
}
