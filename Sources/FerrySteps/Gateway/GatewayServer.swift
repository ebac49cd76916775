import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The gateway's HTTP/1.1 server (SwiftNIO, keep-alive). A request's signature is checked on its
/// head, before any body is read (an unsigned upload costs no memory; `Expect: 100-continue` is
/// answered then); a signed one is read whole (up to 1 GiB; larger uploads are multipart), handed
/// to ``GatewayService``, and answered: an object larger than 1 MiB is streamed, never held.
/// A second port serves `/metrics` and `/healthz`.
final class GatewayServer: Sendable {
    let service: GatewayService
    let channel: Channel
    let metricsChannel: Channel?

    /// The largest body taken in one request.
    static let largestBody = 1 << 30

    /// The request bodies held at once, across connections. Past it an upload is asked to come
    /// back later (503 SlowDown, which the SDKs retry), so many large PUTs at once cannot
    /// exhaust the pod's memory.
    final class BodyBudget: Sendable {
        let limit: Int
        private let used = Locked(0)
        init(limit: Int) { self.limit = limit }
        func take(_ n: Int) -> Bool { used.withLock { if $0 + n > limit { return false }; $0 += n; return true } }
        func give(_ n: Int) { used.withLock { $0 -= n } }
        var held: Int { used.withLock { $0 } }
    }

    var port: Int { channel.localAddress?.port ?? 0 }
    var metricsPort: Int? { metricsChannel?.localAddress?.port }

    init(service: GatewayService, host: String, port: Int, metricsPort: Int?) async throws {
        self.service = service
        channel = try await Self.bind(host: host, port: port, check: { head in
            guard case .failure(let refusal) = service.authorize(head) else { return nil }
            return service.refuse(refusal.status, refusal.code, refusal.message, kind: "auth")
        }) { request in await service.handle(request) }
        if let metricsPort {
            metricsChannel = try await Self.bind(host: host, port: metricsPort) { request in
                switch request.path {
                case "/metrics": return GatewayResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: ByteBuffer(string: service.metrics.text()))
                case "/healthz": return GatewayResponse(status: 200, body: ByteBuffer(string: "ok\n"))
                default: return GatewayResponse(status: 404)
                }
            }
        } else {
            metricsChannel = nil
        }
    }

    static func bind(host: String, port: Int, budget: BodyBudget = BodyBudget(limit: 2 * largestBody), check: @escaping @Sendable (GatewayRequest) -> GatewayResponse? = { _ in nil },
                     handle: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) async throws -> Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    // A connection with nothing read or written for 15 minutes (a client that stopped reading a body) is closed.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .minutes(15)))
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(budget: budget, check: check, handle: handle))
                }
            }
            .bind(host: host, port: port).get()
    }

    func close() async {
        try? await channel.close()
        try? await metricsChannel?.close()
    }

    /// Collects one request, answers it, and keeps the connection when the client asked to.
    final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let budget: BodyBudget
        let check: @Sendable (GatewayRequest) -> GatewayResponse?
        let handle: @Sendable (GatewayRequest) async -> GatewayResponse
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        /// The body's bytes taken from the budget (given back once the request is answered).
        var reserved = 0
        /// Why the body was dropped as it came (413 too large, 503 no room): answered at its end.
        var dropped: GatewayResponse?
        /// Refused on its head: the rest of the request is dropped and the connection closed.
        var refused = false

        init(budget: BodyBudget, check: @escaping @Sendable (GatewayRequest) -> GatewayResponse?, handle: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) {
            self.budget = budget
            self.check = check
            self.handle = handle
        }

        static let tooLarge = GatewayResponse(status: 413, body: ByteBuffer(string: "<Error><Code>EntityTooLarge</Code><Message>use a multipart upload above 1 GiB</Message></Error>"))
        static let noRoom = GatewayResponse(status: 503, body: ByteBuffer(string: "<Error><Code>SlowDown</Code><Message>the gateway holds as many uploads as it may; send again later</Message></Error>"))

        /// The body being streamed, if any: stopped when the client goes (its store read with it).
        var streaming: Task<Void, Never>?

        func handlerRemoved(context: ChannelHandlerContext) {
            budget.give(reserved)
            reserved = 0
        }

        func channelInactive(context: ChannelHandlerContext) {
            streaming?.cancel()
            streaming = nil
            context.fireChannelInactive()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
        }

        /// Room for `n` more bytes of this request's body, or the answer it gets instead.
        func room(_ n: Int) -> GatewayResponse? {
            if reserved + n > GatewayServer.largestBody { return Self.tooLarge }
            guard budget.take(n) else { return Self.noRoom }
            reserved += n
            return nil
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = context.channel.allocator.buffer(capacity: 0)
                dropped = nil
                refused = false
                let (path, query) = Self.split(h.uri)
                let declared = h.headers.first(name: "content-length").flatMap(Int.init) ?? 0
                if let refusal = check(GatewayRequest(method: h.method.rawValue, path: path, query: query, headers: h.headers.map { ($0.name.lowercased(), $0.value) }, body: ByteBuffer()))
                    ?? (declared > 0 ? room(declared) : nil) {
                    // Refused on its head (a bad signature, a body too large or without room): never read.
                    refused = true
                    respond(context, refusal, head: h.method == .HEAD, keepAlive: false)
                } else if h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
                }
            case .body(var chunk):
                if refused || dropped != nil { return }
                // A body longer than its Content-Length said, or one sent in chunks, takes room as it comes.
                let more = body.readableBytes + chunk.readableBytes - reserved
                if more > 0, let refusal = room(more) {
                    dropped = refusal
                    body.clear()
                    return
                }
                body.writeBuffer(&chunk)
            case .end:
                if refused {
                    head = nil
                    return
                }
                guard let h = head else { return }
                head = nil
                let keepAlive = h.isKeepAlive
                let (path, query) = Self.split(h.uri)
                let request = GatewayRequest(method: h.method.rawValue, path: path, query: query, headers: h.headers.map { ($0.name.lowercased(), $0.value) }, body: body)
                let handle = self.handle, dropped = self.dropped, budget = self.budget, held = reserved
                // The body's room now goes with the request, given back once it is answered.
                reserved = 0
                body = ByteBuffer()
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                Task {
                    let response: GatewayResponse
                    if let dropped { response = dropped } else { response = await handle(request) }
                    budget.give(held)
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.respond(context, response, head: request.method == "HEAD", keepAlive: keepAlive && dropped == nil)
                    }
                }
            }
        }

        func respond(_ context: ChannelHandlerContext, _ r: GatewayResponse, head: Bool, keepAlive: Bool) {
            var headers = HTTPHeaders(r.headers)
            if !headers.contains(name: "Content-Length") { headers.add(name: "Content-Length", value: String(r.body.readableBytes)) }
            headers.add(name: "x-amz-request-id", value: String(UInt64.random(in: 0...UInt64.max), radix: 16))
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: r.status), headers: headers))), promise: nil)
            if let stream = r.stream, !head {
                self.stream(context, stream, keepAlive: keepAlive)
                return
            }
            if !head && r.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(r.body))), promise: nil) }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
        }

        /// A body written piece by piece, each once the last is on the wire (a slow client holds
        /// one piece in memory, not the object). Cut short, the connection is closed: the client
        /// sees fewer bytes than the Content-Length said, never a body that looks whole.
        func stream(_ context: ChannelHandlerContext, _ stream: @escaping BodyStream, keepAlive: Bool) {
            context.flush()
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            streaming = Task {
                do {
                    try await stream { piece in
                        try await loop.flatSubmit {
                            let (handler, context) = bound.value
                            return context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(piece))))
                        }.get()
                    }
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.streaming = nil
                        let done = context.writeAndFlush(handler.wrapOutboundOut(.end(nil)))
                        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
                    }
                } catch {
                    loop.execute {
                        bound.value.0.streaming = nil
                        bound.value.1.close(promise: nil)
                    }
                }
            }
        }

        static func split(_ uri: String) -> (String, String) {
            guard let q = uri.firstIndex(of: "?") else { return (uri, "") }
            return (String(uri[..<q]), String(uri[uri.index(after: q)...]))
        }
    }
}
