import Crypto
import Foundation
import KubeClient
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Who may call the API when authentication is on.
public struct Authenticator: Sendable {
    /// Bearer tokens and the user each stands for.
    public var tokens: [String: String]
    /// When false, every request is allowed (plain-HTTP sandbox).
    public var required: Bool
    /// Signs the service-account tokens the pod runner hands to pods.
    public var serviceAccounts: ServiceAccountTokens?

    public init(tokens: [String: String] = [:], required: Bool = false, serviceAccounts: ServiceAccountTokens? = nil) {
        self.tokens = tokens
        self.required = required
        self.serviceAccounts = serviceAccounts
    }

    /// The user for a request: from a verified client certificate, else a bearer token.
    func user(authorization: String?, certificateUser: String?) -> String? {
        identity(authorization: authorization, certificateUser: certificateUser)?.user
    }

    /// Who a request comes from. The admin certificate and static tokens are superusers (as
    /// system:masters); a service account's token is subject to RBAC.
    func identity(authorization: String?, certificateUser: String?) -> Identity? {
        if let certificateUser { return Identity(user: certificateUser, groups: ["system:masters", "system:authenticated"], superuser: true) }
        if let auth = authorization, auth.hasPrefix("Bearer ") {
            let token = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            if let user = tokens[token] { return Identity(user: user, groups: ["system:masters", "system:authenticated"], superuser: true) }
            if let user = serviceAccounts?.user(for: token) { return .serviceAccount(user) }
            return nil
        }
        return required ? nil : .anonymousAdmin
    }
}

/// Tokens for `system:serviceaccount:<namespace>:<name>`, signed with a key
/// made at server start (HMAC-SHA256), so a pod's token names its account.
public struct ServiceAccountTokens: Sendable {
    let key: SymmetricKey

    public init() { key = SymmetricKey(size: .bits256) }

    public func token(namespace: String, name: String) -> String {
        let subject = "\(namespace):\(name)"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(subject.utf8), using: key)
        return "kubesim-sa." + Data(subject.utf8).base64EncodedString() + "." + Data(mac).base64EncodedString()
    }

    func user(for token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "kubesim-sa", let subject = Data(base64Encoded: String(parts[1])), let mac = Data(base64Encoded: String(parts[2])),
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: subject, using: key) else { return nil }
        return "system:serviceaccount:" + String(decoding: subject, as: UTF8.self)
    }
}

/// The HTTP(S) front of KubeSim on swift-nio: keep-alive connections,
/// whole-body responses, and chunked watch streams that end at their
/// timeoutSeconds, when the client goes away, or when the server stops.
final class HTTPServer: Sendable {
    let handler: APIHandler
    let authenticator: Authenticator
    let tlsContext: NIOSSLContext?
    let logger: Logger
    let serverChannel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    let runTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    var port: Int { serverChannel.channel.localAddress?.port ?? 0 }

    static func bind(host: String, port: Int, tls: NIOSSLContext?) async throws -> NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    init(handler: APIHandler, authenticator: Authenticator, tlsContext: NIOSSLContext?, logger: Logger, serverChannel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>) {
        self.handler = handler
        self.authenticator = authenticator
        self.tlsContext = tlsContext
        self.logger = logger
        self.serverChannel = serverChannel
    }

    func start() {
        let task = Task {
            await withDiscardingTaskGroup { group in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                } catch {
                    logger.debug("accept loop ended: \(error)")
                }
            }
        }
        runTask.withLockedValue { $0 = task }
    }

    func stop() async {
        try? await serverChannel.channel.close()
        let open = connections.withLockedValue { Array($0.values) }
        for c in open { try? await c.close() }
        let task = runTask.withLockedValue { $0 }
        await task?.value
    }

    func certificateUser(_ channel: any Channel) async -> String? {
        guard tlsContext != nil else { return nil }
        let der: [UInt8]? = try? await channel.pipeline.handler(type: NIOSSLHandler.self).flatMapThrowing { handler in
            try handler.peerCertificate?.toDERBytes()
        }.get()
        guard let der else { return nil }
        return CertificateAuthority.commonName(derBytes: der)
    }

    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        let id = ObjectIdentifier(channel)
        connections.withLockedValue { $0[id] = channel }
        defer { _ = connections.withLockedValue { $0.removeValue(forKey: id) } }
        var certUser: String??
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body = []
                    case .body(let buffer):
                        body.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        guard let h = head else { continue }
                        if certUser == nil { certUser = .some(await certificateUser(channel)) }
                        let keepAlive = try await respond(h, body, certUser: certUser ?? nil, channel: channel, outbound: outbound)
                        head = nil
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            logger.trace("connection ended: \(error)")
        }
    }

    /// Handles one request; returns whether the connection stays open.
    func respond(_ head: HTTPRequestHead, _ body: [UInt8], certUser: String?, channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        let keepAlive = head.isKeepAlive
        let headers = head.headers.map { ($0.name, $0.value) }
        let request = SimRequest(method: head.method.rawValue, uri: head.uri, headers: headers, body: body)
        let response: SimResponse
        if let who = authenticator.identity(authorization: request.header("Authorization"), certificateUser: certUser) {
            response = handler.handle(request, as: who)
        } else {
            response = APIHandler.statusBody(SimError(401, "Unauthorized", "Unauthorized"))
        }
        switch response {
        case .json(let status, let value):
            let bytes = JSONWire.serialize(value)
            var h = HTTPHeaders()
            h.add(name: "Content-Type", value: "application/json")
            h.add(name: "Content-Length", value: String(bytes.count))
            h.add(name: "Cache-Control", value: "no-cache, private")
            if !keepAlive { h.add(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: h)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
            try await outbound.write(.end(nil))
            return keepAlive
        case .throttled(let retryAfter, let value):
            let bytes = JSONWire.serialize(value)
            var h = HTTPHeaders()
            h.add(name: "Content-Type", value: "application/json")
            h.add(name: "Content-Length", value: String(bytes.count))
            h.add(name: "Retry-After", value: String(retryAfter))
            if !keepAlive { h.add(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .tooManyRequests, headers: h)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
            try await outbound.write(.end(nil))
            return keepAlive
        case .text(let status, let bytes):
            var h = HTTPHeaders()
            h.add(name: "Content-Type", value: "text/plain")
            h.add(name: "Content-Length", value: String(bytes.count))
            if !keepAlive { h.add(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: h)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
            try await outbound.write(.end(nil))
            return keepAlive
        case .watch(let watch):
            var h = HTTPHeaders()
            h.add(name: "Content-Type", value: "application/json")
            h.add(name: "Transfer-Encoding", value: "chunked")
            h.add(name: "Cache-Control", value: "no-cache, private")
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok, headers: h)))
            let store = handler.store
            let sub = watch.subscription
            channel.closeFuture.whenComplete { _ in store.unwatch(sub) }
            let timer = Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, watch.timeoutSeconds) * 1_000_000_000))
                store.unwatch(sub)
            }
            defer {
                timer.cancel()
                store.unwatch(sub)
            }
            for await item in sub.stream {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: watch.render(item, now: store.now())))))
                if case .expired = item { break }
            }
            try await outbound.write(.end(nil))
            return keepAlive
        }
    }
}
