import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// A Kubernetes API client: typed and untyped access to any resource, with
/// the verbs controllers need, the status subresource, and watch streams.
///
/// It does not own its `HTTPClient`: create one per process, pass it to every
/// `KubeClient`, and shut it down when the process ends. TLS settings travel
/// with each request, so clients for different clusters share one pool.
public final class KubeClient: Sendable {
    /// The value that makes `list` and `watch` span every namespace.
    public static let allNamespaces = "*all*"

    public let config: ClientConfig
    let http: HTTPClient
    let credentials: CredentialProvider
    let logger: Logger
    /// Deadline for ordinary (non-watch) requests.
    public let requestTimeout: TimeAmount
    /// Client-side rate limit (nil: none), as client-go's QPS and Burst.
    public let rateLimiter: RateLimiter?
    /// A watch stream that brings no byte for this long is taken for dead and closed (the
    /// watcher reconnects from its last version): a silently dropped connection is noticed.
    public let watchIdleTimeout: Double
    /// How often a 429 (or 503 with Retry-After) is waited out before it is an error.
    public let maxThrottledRetries = 5

    public init(config: ClientConfig, httpClient: HTTPClient, logger: Logger = Logger(label: "kube-client"), requestTimeout: TimeAmount = .seconds(30),
                rateLimiter: RateLimiter? = nil, watchIdleTimeout: Double = 30) {
        self.config = config
        self.http = httpClient
        self.credentials = CredentialProvider(method: config.auth)
        self.logger = logger
        self.requestTimeout = requestTimeout
        self.rateLimiter = rateLimiter
        self.watchIdleTimeout = watchIdleTimeout
    }

    /// The client's default namespace.
    public var namespace: String { config.namespace }

    // MARK: - Transport

    struct RawResponse {
        var status: Int
        var body: [UInt8]
    }

    func makeRequest(method: HTTPMethod, path: String, query: [(String, String)], body: [UInt8]?, contentType: String?, accept: String?) async throws -> HTTPClientRequest {
        var url = config.server + path
        if !query.isEmpty { url += "?" + PathEscaping.query(query) }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.tlsConfiguration = config.tls
        request.headers.add(name: "Accept", value: accept ?? "application/json")
        request.headers.add(name: "User-Agent", value: "ferry/kube-client")
        if let auth = try await credentials.authorization() {
            request.headers.add(name: "Authorization", value: auth)
        }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    func urlString(_ path: String, _ query: [(String, String)]) -> String {
        config.server + path + (query.isEmpty ? "" : "?" + PathEscaping.query(query))
    }

    /// Sends one request and returns the full body; non-2xx answers throw ``KubeAPIError``.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil, contentType: String? = nil, accept: String? = nil) async throws -> RawResponse {
        let bodyBytes = body.map { JSONWire.serialize($0) }
        var attempt = 0
        var throttled = 0
        while true {
            attempt += 1
            try await rateLimiter?.acquire()
            let request = try await makeRequest(method: method, path: path, query: query, body: bodyBytes, contentType: contentType, accept: accept)
            let response: HTTPClientResponse
            let bytes: [UInt8]
            do {
                response = try await http.execute(request, timeout: requestTimeout)
                var buffer = try await response.body.collect(upTo: 512 * 1024 * 1024)
                bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            } catch let error as CancellationError {
                throw error
            } catch where attempt == 1 && Self.isStalePooledConnection(error) {
                // A kept-alive connection the server had already closed (it restarted, or idled
                // it out): the request never reached a live server, so send it once more on a new one.
                continue
            } catch {
                throw KubeClientError.transport(method: method.rawValue, url: urlString(path, query), detail: "\(error)")
            }
            let code = Int(response.status.code)
            Self.countRequest(method.rawValue, path: path, code: code)
            if code == 401 && attempt == 1 && credentials.canRefresh {
                await credentials.invalidate()
                continue
            }
            // Too many requests (or a 503 that says when to come back): wait as told, then again.
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            if (code == 429 || (code == 503 && retryAfter != nil)) && throttled < maxThrottledRetries {
                throttled += 1
                let delay = min(max(retryAfter ?? Double(throttled), 0.05), 60)
                logger.info("API server asked to slow down", metadata: ["status": "\(code)", "retryAfter": "\(delay)", "path": "\(path)"])
                try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
                attempt = 0
                continue
            }
            guard (200..<300).contains(code) else {
                throw KubeAPIError(status: APIStatus.from(body: bytes, httpStatus: code))
            }
            return RawResponse(status: code, body: bytes)
        }
    }

    /// `ferry_api_requests_total{verb, resource, code}`: how hard the controller works the API server.
    static func countRequest(_ verb: String, path: String, code: Int) {
        Counter(label: "ferry_api_requests_total", dimensions: [("verb", verb), ("resource", resourceName(path)), ("code", String(code))]).increment()
    }

    /// `pods`, `migrations`, `pods/log`… from a request path (`/api/v1/namespaces/ns/pods/name/log`).
    static func resourceName(_ path: String) -> String {
        var parts = path.split(separator: "/").map(String.init)
        if parts.first == "api" { parts.removeFirst(2) } else if parts.first == "apis" { parts.removeFirst(min(3, parts.count)) } else { return parts.first ?? "" }
        if parts.first == "namespaces" && parts.count >= 3 { parts.removeFirst(2) }
        guard let plural = parts.first else { return "namespaces" }
        return parts.count >= 3 ? "\(plural)/\(parts[2])" : plural
    }

    /// Whether a transport error means a pooled connection was dead before the request got an answer.
    public static func isStalePooledConnection(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .remoteConnectionClosed { return true }
        if let e = error as? ChannelError, e == .ioOnClosedChannel || e == .alreadyClosed { return true }
        // The peer reset a kept-alive connection (a restarted server): the request never got an answer.
        if let e = error as? IOError, e.errnoCode == ECONNRESET || e.errnoCode == EPIPE { return true }
        return false
    }

    func parse(_ bytes: [UInt8], what: String) throws -> JSONValue {
        do {
            return try JSONWire.parse(bytes)
        } catch {
            throw KubeClientError.decoding(what: what, detail: "\(error)")
        }
    }

    func resolvedNamespace(_ resource: ResourceDescriptor, _ namespace: String?) -> String? {
        guard resource.namespaced else { return nil }
        if namespace == KubeClient.allNamespaces { return nil }
        return namespace ?? config.namespace
    }

    static func objectName(_ object: JSONValue) throws -> String {
        guard let name = object.name, !name.isEmpty else {
            throw KubeClientError.invalidArgument("object has no metadata.name")
        }
        return name
    }

    // MARK: - Untyped verbs

    /// The last `tailLines` lines of a pod's container output (`GET pods/{name}/log`).
    public func podLog(name: String, namespace: String? = nil, container: String? = nil, tailLines: Int = 10, limitBytes: Int = 16_384) async throws -> String {
        let path = ResourceDescriptor.pods.path(namespace: resolvedNamespace(.pods, namespace), name: name, subresource: "log")
        var query = [("tailLines", String(tailLines)), ("limitBytes", String(limitBytes))]
        if let container { query.append(("container", container)) }
        return String(decoding: try await send(.GET, path, query: query, accept: "text/plain").body, as: UTF8.self)
    }

    /// GET one object. `namespace` nil means the client's default namespace.
    public func get(_ resource: ResourceDescriptor, name: String, namespace: String? = nil, subresource: String? = nil) async throws -> JSONValue {
        let path = resource.path(namespace: resolvedNamespace(resource, namespace), name: name, subresource: subresource)
        return try parse(try await send(.GET, path).body, what: "\(resource) \(name)")
    }

    /// One page of a list. Pass ``allNamespaces`` to list across namespaces.
    public func list(_ resource: ResourceDescriptor, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> ObjectList<JSONValue> {
        let path = resource.path(namespace: resolvedNamespace(resource, namespace))
        let value = try parse(try await send(.GET, path, query: options.queryItems).body, what: "\(resource) list")
        return ObjectList(
            items: value["items"]?.arrayValue ?? [],
            resourceVersion: value[path: ["metadata", "resourceVersion"]]?.stringValue ?? "",
            continueToken: value[path: ["metadata", "continue"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every page of a list, following continue tokens. The resourceVersion is the first page's.
    public func listAll(_ resource: ResourceDescriptor, namespace: String? = nil, options: ListOptions = ListOptions(), pageSize: Int = 500) async throws -> ObjectList<JSONValue> {
        var opts = options
        opts.limit = pageSize
        var all: [JSONValue] = []
        var rv: String?
        while true {
            let page = try await list(resource, namespace: namespace, options: opts)
            all.append(contentsOf: page.items)
            if rv == nil { rv = page.resourceVersion }
            guard let token = page.continueToken else { break }
            opts.continueToken = token
        }
        return ObjectList(items: all, resourceVersion: rv ?? "", continueToken: nil)
    }

    /// POST a new object; the namespace comes from its metadata, else the argument, else the default.
    public func create(_ resource: ResourceDescriptor, _ object: JSONValue, namespace: String? = nil) async throws -> JSONValue {
        let ns = resolvedNamespace(resource, object.namespace ?? namespace)
        let path = resource.path(namespace: ns)
        var body = object
        if body["apiVersion"] == nil { body["apiVersion"] = .string(resource.apiVersion) }
        if body["kind"] == nil { body["kind"] = .string(resource.kind) }
        return try parse(try await send(.POST, path, body: body).body, what: "created \(resource)")
    }

    /// PUT an object. A stale `metadata.resourceVersion` throws ``KubeAPIError/conflict(_:)``.
    public func replace(_ resource: ResourceDescriptor, _ object: JSONValue, namespace: String? = nil, subresource: String? = nil) async throws -> JSONValue {
        let name = try Self.objectName(object)
        let path = resource.path(namespace: resolvedNamespace(resource, object.namespace ?? namespace), name: name, subresource: subresource)
        return try parse(try await send(.PUT, path, body: object).body, what: "replaced \(resource) \(name)")
    }

    /// PATCH an object (merge, JSON or strategic merge).
    public func patch(_ resource: ResourceDescriptor, name: String, namespace: String? = nil, _ patch: Patch, subresource: String? = nil) async throws -> JSONValue {
        let path = resource.path(namespace: resolvedNamespace(resource, namespace), name: name, subresource: subresource)
        return try parse(try await send(.PATCH, path, body: patch.body, contentType: patch.contentType).body, what: "patched \(resource) \(name)")
    }

    /// DELETE an object. Returns the object as the server answered (with a
    /// deletionTimestamp when finalizers hold it) or the Status.
    @discardableResult
    public func delete(_ resource: ResourceDescriptor, name: String, namespace: String? = nil, options: DeleteOptions = DeleteOptions()) async throws -> JSONValue {
        let path = resource.path(namespace: resolvedNamespace(resource, namespace), name: name)
        return try parse(try await send(.DELETE, path, body: options.body).body, what: "deleted \(resource) \(name)")
    }

    // MARK: - Status subresource

    public func getStatus(_ resource: ResourceDescriptor, name: String, namespace: String? = nil) async throws -> JSONValue {
        try await get(resource, name: name, namespace: namespace, subresource: "status")
    }

    public func replaceStatus(_ resource: ResourceDescriptor, _ object: JSONValue, namespace: String? = nil) async throws -> JSONValue {
        try await replace(resource, object, namespace: namespace, subresource: "status")
    }

    public func patchStatus(_ resource: ResourceDescriptor, name: String, namespace: String? = nil, _ patch: Patch) async throws -> JSONValue {
        try await self.patch(resource, name: name, namespace: namespace, patch, subresource: "status")
    }

    // MARK: - Typed verbs

    public func get<T: KubeResource>(_ type: T.Type, name: String, namespace: String? = nil) async throws -> T {
        try await get(T.resource, name: name, namespace: namespace).decode(as: T.self)
    }

    public func list<T: KubeResource>(_ type: T.Type, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> ObjectList<T> {
        let page = try await list(T.resource, namespace: namespace, options: options)
        return ObjectList(items: try page.items.map { try $0.decode(as: T.self) }, resourceVersion: page.resourceVersion, continueToken: page.continueToken)
    }

    public func create<T: KubeResource>(_ object: T, namespace: String? = nil) async throws -> T {
        try await create(T.resource, try JSONValue(encoding: object), namespace: namespace).decode(as: T.self)
    }

    public func replace<T: KubeResource>(_ object: T, namespace: String? = nil) async throws -> T {
        try await replace(T.resource, try JSONValue(encoding: object), namespace: namespace).decode(as: T.self)
    }

    public func patch<T: KubeResource>(_ type: T.Type, name: String, namespace: String? = nil, _ patch: Patch) async throws -> T {
        try await self.patch(T.resource, name: name, namespace: namespace, patch).decode(as: T.self)
    }

    public func replaceStatus<T: KubeResource>(_ object: T, namespace: String? = nil) async throws -> T {
        try await replaceStatus(T.resource, try JSONValue(encoding: object), namespace: namespace).decode(as: T.self)
    }

    public func patchStatus<T: KubeResource>(_ type: T.Type, name: String, namespace: String? = nil, _ patch: Patch) async throws -> T {
        try await patchStatus(T.resource, name: name, namespace: namespace, patch).decode(as: T.self)
    }

    @discardableResult
    public func delete<T: KubeResource>(_ type: T.Type, name: String, namespace: String? = nil, options: DeleteOptions = DeleteOptions()) async throws -> JSONValue {
        try await delete(T.resource, name: name, namespace: namespace, options: options)
    }

    // MARK: - Watch

    /// One watch request: events until the server closes the stream (its
    /// timeout) or the consumer stops. An ERROR event or HTTP error ends the
    /// stream with ``KubeAPIError`` (410 → `.gone`). For a watch that
    /// reconnects, resumes and relists, use ``Watcher``.
    public func watch(_ resource: ResourceDescriptor, namespace: String? = nil, options: WatchOptions = WatchOptions()) -> AsyncThrowingStream<WatchEvent, any Error> {
        let path = resource.path(namespace: resolvedNamespace(resource, namespace))
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, any Error>.makeStream(bufferingPolicy: .unbounded)
        let lastByte = LastActivity()
        let idle = watchIdleTimeout
        let task = Task {
            do {
                try await rateLimiter?.acquire()
                var response: HTTPClientResponse
                do {
                    let request = try await makeRequest(method: .GET, path: path, query: options.queryItems, body: nil, contentType: nil, accept: nil)
                    response = try await http.execute(request, timeout: .seconds(Int64(options.timeoutSeconds) + 30))
                } catch where Self.isStalePooledConnection(error) {
                    // As for requests: a kept-alive connection the server had closed; once more on a new one.
                    let request = try await makeRequest(method: .GET, path: path, query: options.queryItems, body: nil, contentType: nil, accept: nil)
                    response = try await http.execute(request, timeout: .seconds(Int64(options.timeoutSeconds) + 30))
                }
                lastByte.touch()
                let code = Int(response.status.code)
                Self.countRequest("WATCH", path: path, code: code)
                guard code == 200 else {
                    // Error bodies may span lines: read the whole body before parsing.
                    var buffer = try await response.body.collect(upTo: 1024 * 1024)
                    if code == 401 { await credentials.invalidate() }
                    throw KubeAPIError(status: APIStatus.from(body: buffer.readBytes(length: buffer.readableBytes) ?? [], httpStatus: code))
                }
                var splitter = LineSplitter()
                for try await chunk in response.body {
                    lastByte.touch()
                    for line in splitter.append(chunk.readableBytesView) {
                        let event = try WatchEvent.parse(line: line)
                        if event.type == .error {
                            let status = APIStatus.from(body: JSONWire.serialize(event.object), httpStatus: Int(event.object["code"]?.intValue ?? 500))
                            throw KubeAPIError(status: status)
                        }
                        continuation.yield(event)
                    }
                }
                if let rest = splitter.finish() {
                    continuation.yield(try WatchEvent.parse(line: rest))
                }
                continuation.finish()
            } catch let error as KubeAPIError {
                continuation.finish(throwing: error)
            } catch let error as KubeClientError {
                continuation.finish(throwing: error)
            } catch is CancellationError {
                continuation.finish()
            } catch {
                if Task.isCancelled {
                    continuation.finish()
                } else {
                    continuation.finish(throwing: KubeClientError.transport(method: "GET", url: self.urlString(path, options.queryItems), detail: "\(error)"))
                }
            }
        }
        // The watchdog: no byte for `idle` seconds (bookmarks included) ends the stream with an error.
        let watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(min(idle / 4, 5) * 1_000_000_000))
                if lastByte.idleSeconds > idle {
                    task.cancel()
                    continuation.finish(throwing: KubeClientError.transport(method: "GET", url: self.urlString(path, options.queryItems), detail: "the watch brought nothing for \(Int(idle)) s; the connection is taken for dead"))
                    return
                }
            }
        }
        continuation.onTermination = { _ in
            task.cancel()
            watchdog.cancel()
        }
        return stream
    }
}

extension JSONValue {
    /// Decodes a typed value from this JSON (through its serialised form).
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(JSONWire.serialize(self)))
        } catch {
            throw KubeClientError.decoding(what: String(describing: T.self), detail: "\(error)")
        }
    }

    /// Encodes a typed value into JSON.
    public init<T: Encodable>(encoding value: T) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONWire.parse(Array(data))
    }
}

/// When a watch stream last brought a byte.
final class LastActivity: Sendable {
    private let at = Mutex(Date())
    func touch() { at.withLock { $0 = Date() } }
    var idleSeconds: Double { Date().timeIntervalSince(at.withLock { $0 }) }
}
