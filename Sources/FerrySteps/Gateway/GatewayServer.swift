import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The gateway's HTTP/1.1 server (SwiftNIO, keep-alive). A request's signature is checked on its
/// head, before any body is read (an unsigned upload costs no memory; `Expect: 100-continue` is
/// answered then); a signed one is read whole (up to 1 GiB; larger uploads are multipart), handed
/// to ``GatewayService``, and answered. A second port serves `/metrics` and `/healthz`.
final class GatewayServer: Sendable {
    let service: GatewayService
    let channel: Channel
    let metricsChannel: Channel?

    /// The largest body taken in one request.
    static let largestBody = 1 << 30

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

    static func bind(host: String, port: Int, check: @escaping @Sendable (GatewayRequest) -> GatewayResponse? = { _ in nil },
                     handle: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) async throws -> Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(check: check, handle: handle))
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

        let check: @Sendable (GatewayRequest) -> GatewayResponse?
        let handle: @Sendable (GatewayRequest) async -> GatewayResponse
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        var tooLarge = false
        /// Refused on its head: the rest of the request is dropped and the connection closed.
        var refused = false

        init(check: @escaping @Sendable (GatewayRequest) -> GatewayResponse?, handle: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) {
            self.check = check
            self.handle = handle
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = context.channel.allocator.buffer(capacity: 0)
                tooLarge = false
                refused = false
                let (path, query) = Self.split(h.uri)
                if let refusal = check(GatewayRequest(method: h.method.rawValue, path: path, query: query, headers: h.headers.map { ($0.name.lowercased(), $0.value) }, body: ByteBuffer())) {
                    refused = true
                    respond(context, refusal, head: h.method == .HEAD, keepAlive: false)
                } else if h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
                }
            case .body(var chunk):
                if refused { return }
                if body.readableBytes + chunk.readableBytes > GatewayServer.largestBody { tooLarge = true } else { body.writeBuffer(&chunk) }
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
                let handle = self.handle, tooLarge = self.tooLarge
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                Task {
                    let response = tooLarge
                        ? GatewayResponse(status: 413, body: ByteBuffer(string: "<Error><Code>EntityTooLarge</Code><Message>use a multipart upload above 1 GiB</Message></Error>"))
                        : await handle(request)
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.respond(context, response, head: request.method == "HEAD", keepAlive: keepAlive && !tooLarge)
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
            if !head && r.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(r.body))), promise: nil) }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
        }

        static func split(_ uri: String) -> (String, String) {
            guard let q = uri.firstIndex(of: "?") else { return (uri, "") }
            return (String(uri[..<q]), String(uri[uri.index(after: q)...]))
        }
    }
}
