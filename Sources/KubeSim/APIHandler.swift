import Foundation
import Synchronization
import KubeClient

/// One HTTP request as KubeSim sees it.
public struct SimRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: [String: String] = [:], headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Splits `uri` into path and decoded query.
    public init(method: String, uri: String, headers: [(String, String)], body: [UInt8]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count > 1 {
            for item in parts[1].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let k = PathEscaping.unescape(kv[0], plusAsSpace: true)
                query[k] = kv.count > 1 ? PathEscaping.unescape(kv[1], plusAsSpace: true) : ""
            }
        }
        self.init(method: method, path: PathEscaping.unescape(parts[0]), query: query, headers: headers, body: body)
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// What the HTTP layer sends back: a whole body, or a watch stream.
public enum SimResponse: Sendable {
    case json(status: Int, body: JSONValue)
    /// A plain-text body (pod logs).
    case text(status: Int, body: [UInt8])
    /// 429 Too Many Requests with Retry-After (see ``Throttle``).
    case throttled(retryAfter: Int, body: JSONValue)
    case watch(WatchResponse)
}

/// An open watch: the subscription plus how to render its events.
public struct WatchResponse: Sendable {
    let subscription: WatchSubscription
    let type: ResourceType
    let version: String
    let asTable: Bool
    let timeoutSeconds: Double
    /// Converts stored objects to the served form (events.k8s.io/v1 from core Events).
    var convert: (@Sendable (JSONValue) -> JSONValue)? = nil

    /// Renders one item as a watch line (JSON + newline), or nil to skip it.
    func render(_ item: WatchItem, now: Date) -> [UInt8] {
        let event: JSONValue
        switch item {
        case .event(let t, let obj):
            var o = convert?(obj) ?? obj
            o["apiVersion"] = .string(type.apiVersion(version))
            let shown = asTable ? TableConverter.table(type, version: version, objects: [o], resourceVersion: nil, now: now) : o
            event = ["type": .string(t.rawValue), "object": shown]
        case .bookmark(let rv):
            event = ["type": "BOOKMARK", "object": ["kind": .string(type.kind), "apiVersion": .string(type.apiVersion(version)), "metadata": ["resourceVersion": .string(String(rv))]]]
        case .expired:
            event = ["type": "ERROR", "object": ["kind": "Status", "apiVersion": "v1", "metadata": .emptyObject, "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410]]
        }
        var line = JSONWire.serialize(event)
        line.append(0x0A)
        return line
    }
}

/// Routes API requests to the store: discovery, OpenAPI, and every verb on
/// every served resource, including status and scale subresources and Table output.
public struct APIHandler: Sendable {
    public let store: ObjectStore
    public var serverAddress: String
    /// The pod runner's data folder, when pods run: `pods/{name}/log` reads their output there.
    public var podDataDirectory: String?
    /// Answers some requests 429, as an API server under load does (tests of client back-off).
    public var throttle: Throttle?

    public init(store: ObjectStore, serverAddress: String) {
        self.store = store
        self.serverAddress = serverAddress
    }

    /// `GET pods/{name}/log`: the container's output, `tailLines` and `limitBytes` as the API server reads them.
    func podLog(namespace: String, name: String, query: [String: String]) throws -> SimResponse {
        let pod = try store.get(store.resourceType(group: "", version: "v1", plural: "pods")!, namespace: namespace, name: name)
        let containers = pod[path: ["spec", "containers"]]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        let container = query["container"] ?? containers.first ?? ""
        guard containers.contains(container) else {
            throw SimError(400, "BadRequest", "container \(container) is not valid for pod \(name)")
        }
        guard let dir = podDataDirectory, let uid = pod[path: ["metadata", "uid"]]?.stringValue,
              let data = FileManager.default.contents(atPath: PodRunner.podDirectory(dir, namespace: namespace, name: name, uid: uid) + "/\(container).log") else {
            return .text(status: 200, body: [])
        }
        var bytes = Array(data)
        if let tail = query["tailLines"].flatMap(Int.init), tail >= 0 {
            var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            if lines.last?.isEmpty == true { lines.removeLast() }
            bytes = Array(lines.suffix(tail).joined(separator: [0x0A])) + (lines.isEmpty ? [] : [0x0A])
        }
        if let limit = query["limitBytes"].flatMap(Int.init), limit > 0, bytes.count > limit { bytes = Array(bytes.prefix(limit)) }
        return .text(status: 200, body: bytes)
    }

    static func statusBody(_ e: SimError) -> SimResponse {
        var body = (try? JSONValue(encoding: e.status)) ?? .emptyObject
        body["metadata"] = .emptyObject
        return .json(status: e.status.code ?? 500, body: body)
    }

    public func handle(_ req: SimRequest, as who: Identity = .anonymousAdmin) -> SimResponse {
        if !who.superuser, let a = RequestAttributes.of(req, registry: store.registry) {
            let rbac = RBACAuthorizer(store: store)
            if !rbac.allows(who, a) { return Self.statusBody(RBACAuthorizer.forbidden(who, a)) }
            if a.group == "rbac.authorization.k8s.io", var body = try? JSONWire.parse(req.body) {
                // A patch is judged by what it makes, not by its own text.
                if a.verb == "patch", let name = a.name, let type = store.resourceType(group: a.group, version: "v1", plural: a.resource),
                   let current = try? store.get(type, namespace: a.namespace, name: name) {
                    let contentType = (req.header("Content-Type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
                    body = contentType == "application/json-patch+json" ? ((try? Patching.jsonPatch(current, body)) ?? current) : Patching.mergePatch(current, body)
                }
                if let refused = rbac.escalation(who, a, body: body) { return Self.statusBody(refused) }
            }
        }
        if req.query["watch"] != nil, let throttle, throttle.failWatch() {
            return .json(status: 500, body: ["kind": "Status", "apiVersion": "v1", "metadata": .emptyObject, "status": "Failure",
                                             "message": "Internal error occurred: injected watch failure", "reason": "InternalError", "code": 500])
        }
        if let throttle, req.query["watch"] == nil, throttle.refuseNext() {
            return .throttled(retryAfter: throttle.retryAfter, body: ["kind": "Status", "apiVersion": "v1", "metadata": .emptyObject, "status": "Failure",
                                                                      "message": "Too many requests, please try again later.", "reason": "TooManyRequests", "code": 429,
                                                                      "details": ["retryAfterSeconds": .int(Int64(throttle.retryAfter))]])
        }
        do {
            return try route(req)
        } catch let e as SimError {
            return Self.statusBody(e)
        } catch {
            return Self.statusBody(SimError(500, "InternalError", "\(error)"))
        }
    }

    func route(_ req: SimRequest) throws -> SimResponse {
        let seg = req.path.split(separator: "/").map(String.init)
        guard let first = seg.first else {
            return .json(status: 200, body: ["paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"]])
        }
        switch first {
        case "healthz", "readyz", "livez":
            return .json(status: 200, body: "ok")
        case "version":
            return .json(status: 200, body: Discovery.version)
        case "openapi":
            guard seg.count >= 2, seg[1] == "v3" else { throw SimError(404, "NotFound", "the server could not find the requested resource") }
            let registry = store.registry
            if seg.count == 2 { return .json(status: 200, body: Discovery.openAPIIndex(registry)) }
            if seg.count == 4, seg[2] == "api" { return .json(status: 200, body: Discovery.openAPIDocument(registry, group: "", version: seg[3])) }
            if seg.count == 5, seg[2] == "apis", registry.groups.contains(where: { $0.name == seg[3] && $0.versions.contains(seg[4]) }) {
                return .json(status: 200, body: Discovery.openAPIDocument(registry, group: seg[3], version: seg[4]))
            }
            throw SimError(404, "NotFound", "the server could not find the requested resource")
        case "api":
            if seg.count == 1 { return .json(status: 200, body: Discovery.apiVersions(serverAddress: serverAddress)) }
            guard seg[1] == "v1" else { throw SimError(404, "NotFound", "the server could not find the requested resource") }
            if seg.count == 2 { return .json(status: 200, body: Discovery.resourceList(store.registry, group: "", version: "v1")) }
            return try resource(req, group: "", version: "v1", rest: Array(seg[2...]))
        case "apis":
            let registry = store.registry
            if seg.count == 1 { return .json(status: 200, body: Discovery.groupList(registry)) }
            guard let g = registry.groups.first(where: { $0.name == seg[1] }) else {
                throw SimError(404, "NotFound", "the server could not find the requested resource")
            }
            if seg.count == 2 { return .json(status: 200, body: Discovery.group(g.name, g.versions)) }
            guard g.versions.contains(seg[2]) else { throw SimError(404, "NotFound", "the server could not find the requested resource") }
            if seg.count == 3 { return .json(status: 200, body: Discovery.resourceList(registry, group: g.name, version: seg[2])) }
            return try resource(req, group: g.name, version: seg[2], rest: Array(seg[3...]))
        default:
            throw SimError(404, "NotFound", "the server could not find the requested resource")
        }
    }

    func wantsTable(_ req: SimRequest) -> Bool {
        (req.header("Accept") ?? "").contains("as=Table")
    }

    func parseBody(_ req: SimRequest) throws -> JSONValue {
        let contentType = (req.header("Content-Type") ?? "application/json").lowercased()
        if contentType.contains("protobuf") {
            throw SimError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml")
        }
        if contentType.contains("yaml") && !contentType.contains("apply-patch") {
            throw SimError(415, "UnsupportedMediaType", "KubeSim accepts JSON bodies only; send application/json")
        }
        if contentType.contains("apply-patch") {
            throw SimError(415, "UnsupportedMediaType", "server-side apply is not supported by KubeSim; use client-side apply (the default) or a merge patch")
        }
        do {
            return try JSONWire.parse(req.body)
        } catch {
            throw SimError.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    /// Sets the apiVersion an object is shown with (CRDs may serve several versions).
    func present(_ obj: JSONValue, _ type: ResourceType, _ version: String) -> JSONValue {
        var o = obj
        o["apiVersion"] = .string(type.apiVersion(version))
        return o
    }

    func resource(_ req: SimRequest, group: String, version: String, rest: [String]) throws -> SimResponse {
        var rest = rest
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces", rest[2] != "status", rest[2] != "finalize" {
            namespace = rest[1]
            rest = Array(rest[2...])
        }
        guard let type = store.resourceType(group: group, version: version, plural: rest[0]) else {
            throw SimError(404, "NotFound", "the server could not find the requested resource")
        }
        if type.key == EventConversion.v1Key {
            return try eventsV1(req, type: type, namespace: namespace, rest: rest, version: version)
        }
        if namespace != nil && !type.namespaced { throw SimError(404, "NotFound", "the server could not find the requested resource") }
        let name = rest.count > 1 ? rest[1] : nil
        let subresource = rest.count > 2 ? rest[2] : nil
        if rest.count > 3 { throw SimError(404, "NotFound", "the server could not find the requested resource") }
        if subresource == "log", type.group == "", type.plural == "pods", req.method == "GET", let name {
            return try podLog(namespace: namespace ?? "default", name: name, query: req.query)
        }
        if let subresource {
            guard (subresource == "status" && type.hasStatus) || (subresource == "scale" && type.hasScale) else {
                throw SimError(404, "NotFound", "the server could not find the requested resource")
            }
        }
        let dryRun = req.query["dryRun"] != nil
        let strict = req.query["fieldValidation"] == "Strict"
        let now = store.now()
        switch (req.method, name) {
        case ("GET", nil):
            let filter = try makeFilter(req, namespace: namespace)
            if let w = req.query["watch"], w == "true" || w == "1" {
                let sub = try store.watch(type, filter: filter, resourceVersion: req.query["resourceVersion"], bookmarks: req.query["allowWatchBookmarks"] == "true")
                let timeout = Double(req.query["timeoutSeconds"] ?? "") ?? Double(Int.random(in: 1800...3600))
                return .watch(WatchResponse(subscription: sub, type: type, version: version, asTable: wantsTable(req), timeoutSeconds: timeout))
            }
            let result = try store.list(type, filter: filter, limit: req.query["limit"].flatMap(Int.init), continueToken: req.query["continue"])
            let items = result.items.map { present($0, type, version) }
            if wantsTable(req) {
                return .json(status: 200, body: TableConverter.table(type, version: version, objects: items, resourceVersion: String(result.resourceVersion), continueToken: result.continueToken, now: now))
            }
            var meta: JSONValue = ["resourceVersion": .string(String(result.resourceVersion))]
            if let c = result.continueToken { meta["continue"] = .string(c) }
            if let r = result.remaining { meta["remainingItemCount"] = .int(Int64(r)) }
            return .json(status: 200, body: ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion(version)), "metadata": meta, "items": .array(items)])
        case ("GET", let name?):
            let obj = try store.get(type, namespace: namespace, name: name)
            if subresource == "scale" { return .json(status: 200, body: scale(obj)) }
            if wantsTable(req) {
                return .json(status: 200, body: TableConverter.table(type, version: version, objects: [present(obj, type, version)], resourceVersion: obj.resourceVersion, now: now))
            }
            return .json(status: 200, body: present(obj, type, version))
        case ("POST", nil):
            let created = try store.create(type, namespace: namespace, try parseBody(req), dryRun: dryRun, strict: strict)
            return .json(status: 201, body: present(created, type, version))
        case ("PUT", let name?):
            var body = try parseBody(req)
            if subresource == "scale" {
                let replicas = body[path: ["spec", "replicas"]] ?? .int(0)
                body = try store.patch(type, namespace: namespace, name: name, patch: ["spec": ["replicas": replicas]], contentType: "application/merge-patch+json", dryRun: dryRun)
                return .json(status: 200, body: scale(body))
            }
            let updated = try store.update(type, namespace: namespace, name: name, body, subresource: subresource, dryRun: dryRun, strict: strict)
            return .json(status: 200, body: present(updated, type, version))
        case ("PATCH", let name?):
            let contentType = (req.header("Content-Type") ?? "").split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
            let body = try parseBody(req)
            if subresource == "scale" {
                let current = scale(try store.get(type, namespace: namespace, name: name))
                let patched: JSONValue
                switch contentType {
                case "application/json-patch+json":
                    do { patched = try Patching.jsonPatch(current, body) } catch { throw SimError(422, "Invalid", "\(error)") }
                default: patched = Patching.mergePatch(current, body)
                }
                let obj = try store.patch(type, namespace: namespace, name: name, patch: ["spec": ["replicas": patched[path: ["spec", "replicas"]] ?? .int(0)]], contentType: "application/merge-patch+json", dryRun: dryRun)
                return .json(status: 200, body: scale(obj))
            }
            let patched = try store.patch(type, namespace: namespace, name: name, patch: body, contentType: contentType, subresource: subresource, dryRun: dryRun, strict: strict)
            return .json(status: 200, body: present(patched, type, version))
        case ("DELETE", let name?):
            // Always read (and here parse) the DeleteOptions body.
            let options = req.body.isEmpty ? JSONValue.null : ((try? JSONWire.parse(req.body)) ?? .null)
            var opts = options
            if let p = req.query["propagationPolicy"] { opts["propagationPolicy"] = .string(p) }
            let result = try store.delete(type, namespace: namespace, name: name, options: opts, dryRun: dryRun)
            return .json(status: 200, body: present(result, type, version))
        case ("DELETE", nil):
            let filter = try makeFilter(req, namespace: namespace)
            let result = try store.list(type, filter: filter, limit: nil, continueToken: nil)
            for item in result.items {
                _ = try? store.delete(type, namespace: item.namespace, name: item.name ?? "", dryRun: dryRun)
            }
            return .json(status: 200, body: ["kind": "Status", "apiVersion": "v1", "metadata": .emptyObject, "status": "Success"])
        default:
            throw SimError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    /// events.k8s.io/v1: served from core Event storage with conversion both ways.
    func eventsV1(_ req: SimRequest, type: ResourceType, namespace: String?, rest: [String], version: String) throws -> SimResponse {
        guard let core = store.resourceType(group: "", version: "v1", plural: "events") else { throw SimError(500, "InternalError", "core events missing") }
        let name = rest.count > 1 ? rest[1] : nil
        let dryRun = req.query["dryRun"] != nil
        func out(_ o: JSONValue) -> JSONValue { EventConversion.toV1(o) }
        switch (req.method, name) {
        case ("GET", nil):
            let filter = try makeFilter(req, namespace: namespace)
            if let w = req.query["watch"], w == "true" || w == "1" {
                let sub = try store.watch(core, filter: filter, resourceVersion: req.query["resourceVersion"], bookmarks: req.query["allowWatchBookmarks"] == "true")
                return .watch(WatchResponse(subscription: sub, type: type, version: version, asTable: wantsTable(req), timeoutSeconds: Double(req.query["timeoutSeconds"] ?? "") ?? 1800, convert: EventConversion.toV1))
            }
            let result = try store.list(core, filter: filter, limit: req.query["limit"].flatMap(Int.init), continueToken: req.query["continue"])
            let items = result.items.map(out)
            if wantsTable(req) {
                return .json(status: 200, body: TableConverter.table(type, version: version, objects: items, resourceVersion: String(result.resourceVersion), continueToken: result.continueToken, now: store.now()))
            }
            var meta: JSONValue = ["resourceVersion": .string(String(result.resourceVersion))]
            if let c = result.continueToken { meta["continue"] = .string(c) }
            return .json(status: 200, body: ["kind": "EventList", "apiVersion": "events.k8s.io/v1", "metadata": meta, "items": .array(items)])
        case ("GET", let name?):
            return .json(status: 200, body: out(try store.get(core, namespace: namespace, name: name)))
        case ("POST", nil):
            return .json(status: 201, body: out(try store.create(core, namespace: namespace, EventConversion.toCore(try parseBody(req)), dryRun: dryRun)))
        case ("PUT", let name?):
            return .json(status: 200, body: out(try store.update(core, namespace: namespace, name: name, EventConversion.toCore(try parseBody(req)), dryRun: dryRun)))
        case ("PATCH", let name?):
            let current = out(try store.get(core, namespace: namespace, name: name))
            let contentType = (req.header("Content-Type") ?? "").split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
            let body = try parseBody(req)
            let patched: JSONValue
            do {
                switch contentType {
                case "application/json-patch+json": patched = try Patching.jsonPatch(current, body)
                case "application/strategic-merge-patch+json": patched = try Patching.strategicMerge(current, body)
                default: patched = Patching.mergePatch(current, body)
                }
            } catch {
                throw SimError(422, "Invalid", "\(error)")
            }
            return .json(status: 200, body: out(try store.update(core, namespace: namespace, name: name, EventConversion.toCore(patched), dryRun: dryRun)))
        case ("DELETE", let name?):
            return .json(status: 200, body: out(try store.delete(core, namespace: namespace, name: name, dryRun: dryRun)))
        default:
            throw SimError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    func makeFilter(_ req: SimRequest, namespace: String?) throws -> ObjectFilter {
        var filter = ObjectFilter(namespace: namespace)
        do {
            if let l = req.query["labelSelector"], !l.isEmpty { filter.labels = try LabelSelector(parsing: l) }
            if let f = req.query["fieldSelector"], !f.isEmpty { filter.fields = try FieldSelector(parsing: f) }
        } catch {
            throw SimError.badRequest("\(error)")
        }
        return filter
    }

    /// An autoscaling/v1 Scale view of a Deployment or StatefulSet.
    func scale(_ obj: JSONValue) -> JSONValue {
        var selector = ""
        if let labels = obj[path: ["spec", "selector", "matchLabels"]]?.objectValue {
            selector = labels.keys.sorted().map { "\($0)=\(labels[$0]?.stringValue ?? "")" }.joined(separator: ",")
        }
        return [
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": [
                "name": obj["metadata"]?["name"] ?? .null, "namespace": obj["metadata"]?["namespace"] ?? .null,
                "uid": obj["metadata"]?["uid"] ?? .null, "resourceVersion": obj["metadata"]?["resourceVersion"] ?? .null,
                "creationTimestamp": obj["metadata"]?["creationTimestamp"] ?? .null,
            ],
            "spec": ["replicas": obj[path: ["spec", "replicas"]] ?? .int(1)],
            "status": ["replicas": obj[path: ["status", "replicas"]] ?? .int(0), "selector": .string(selector)],
        ]
    }
}

/// Every `every`-th request (watches aside) is answered 429 with `Retry-After: retryAfter`.
public final class Throttle: Sendable {
    public let every: Int
    public let retryAfter: Int
    private let counts = Mutex((seen: 0, refused: 0))
    private let watchFailures = Mutex(0)

    /// The next `n` watch requests are answered 500 (tests of a watch that keeps failing).
    public func failWatches(_ n: Int) { watchFailures.withLock { $0 = n } }

    func failWatch() -> Bool {
        watchFailures.withLock { n in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
    }

    /// `every` 0: no 429s (only injected watch failures).
    public init(every: Int, retryAfter: Int = 1) {
        self.every = max(every, 0)
        self.retryAfter = retryAfter
    }

    func refuseNext() -> Bool {
        guard every > 0 else { return false }
        return counts.withLock { c in
            c.seen += 1
            guard c.seen % every == 0 else { return false }
            c.refused += 1
            return true
        }
    }

    /// How many requests were answered 429.
    public var refused: Int { counts.withLock { $0.refused } }
}
