import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// One TCP connection to one broker: size-prefixed frames, requests matched
/// to responses by correlation id, a timeout per request.
final class KafkaConnection: @unchecked Sendable {
    let broker: String
    private let channel: Channel
    private let handler: ResponseHandler
    private let lock = NSLock()
    private var nextCorrelation: Int32 = 1
    static let clientId = "ferry"

    /// TLS without a client certificate: a broker that wants one may close the connection after
    /// the handshake (TLS 1.3 sends its refusal late), so a close then asks for tls.crt/tls.key.
    private let tlsWithoutCertificate: Bool

    private init(broker: String, channel: Channel, handler: ResponseHandler, tlsWithoutCertificate: Bool = false) {
        self.broker = broker
        self.channel = channel
        self.handler = handler
        self.tlsWithoutCertificate = tlsWithoutCertificate
    }

    /// TLS settings made once per client: the context and the name to check certificates against.
    struct TLSSetup: Sendable {
        let context: NIOSSLContext
        let serverName: String?
        let hasClientCertificate: Bool

        init(_ tls: KafkaSecurity.TLS) throws {
            var config = TLSConfiguration.makeClientConfiguration()
            do {
                if let ca = tls.caFile { config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
                if let cert = tls.certFile, let key = tls.keyFile {
                    config.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                    config.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            } catch {
                throw StepError.configuration("the Kafka TLS files (ca.crt, tls.crt, tls.key in spec.kafka.credentialsSecret) are not readable PEM: \(error)")
            }
            if tls.insecureSkipVerify { config.certificateVerification = .none }
            context = try NIOSSLContext(configuration: config)
            serverName = tls.serverName
            hasClientCertificate = tls.certFile != nil && tls.keyFile != nil
        }

        /// SNI and the name checked: the configured one, else the host unless it is an IP address.
        func hostname(for host: String) -> String? {
            if let serverName { return serverName }
            var v4 = in_addr(), v6 = in6_addr()
            if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 { return nil }
            return host
        }
    }

    static func connect(host: String, port: Int, timeout: TimeAmount, tls: TLSSetup? = nil, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> KafkaConnection {
        let handler = ResponseHandler()
        let broker = "\(host):\(port)"
        let handshake = tls.map { _ in HandshakeWaiter() }
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls, let handshake {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.hostname(for: host)))
                            try channel.pipeline.syncOperations.addHandler(handshake)
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw StepError.target("Kafka broker \(broker) is not reachable: \(error)")
        }
        if let handshake {
            let timer = channel.eventLoop.scheduleTask(in: timeout) {
                handshake.fail(StepError.target("TLS handshake with Kafka broker \(broker) did not finish within \(timeout.nanoseconds / 1_000_000_000) s: is it a TLS listener? (spec.kafka.tls)"))
            }
            defer { timer.cancel() }
            do {
                try await handshake.done(on: channel.eventLoop)
            } catch {
                channel.close(promise: nil)
                throw explain(error, broker: broker, during: "the TLS handshake")
            }
        }
        return KafkaConnection(broker: broker, channel: channel, handler: handler, tlsWithoutCertificate: tls.map { !$0.hasClientCertificate } ?? false)
    }

    /// Turns transport errors into messages that say what to check.
    static func explain(_ error: Error, broker: String, during what: String) -> Error {
        if error is StepError { return error }
        let text = "\(error)"
        if error is NIOSSLError || error is BoringSSLError || text.contains("SSL") {
            if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") && text.contains("verify") {
                return StepError.configuration("TLS with Kafka broker \(broker) failed during \(what): its certificate is not trusted or does not name it (\(text)); put the CA that signed it in spec.kafka.credentialsSecret as ca.crt, or set spec.kafka.tls.serverName to the name in the certificate")
            }
            if text.contains("CERTIFICATE_REQUIRED") || text.contains("HANDSHAKE_FAILURE") || text.contains("BAD_CERTIFICATE") || text.contains("UNKNOWN_CA") {
                return StepError.configuration("TLS with Kafka broker \(broker) failed during \(what): the broker refused our client certificate or wants one (\(text)); put tls.crt and tls.key signed by a CA it trusts in spec.kafka.credentialsSecret")
            }
            return StepError.target("TLS with Kafka broker \(broker) failed during \(what): \(text)")
        }
        if let e = error as? ChannelError, e == .ioOnClosedChannel || e == .eof || e == .alreadyClosed {
            return StepError.target("Kafka broker \(broker) closed the connection during \(what): does the listener require SASL (spec.kafka.credentialsSecret) or TLS (spec.kafka.tls)?")
        }
        return StepError.target("Kafka broker \(broker): \(what) failed: \(text)")
    }

    /// Sends one request and returns the response body (after the correlation id).
    func send(apiKey: Int16, version: Int16, api: String, timeout: TimeAmount, body: ByteBuffer) async throws -> KafkaReader {
        let correlation: Int32 = lock.withLock {
            defer { nextCorrelation &+= 1 }
            return nextCorrelation
        }
        var frame = channel.allocator.buffer(capacity: 256)
        frame.writeInteger(Int32(0))  // size, filled in below
        frame.writeInteger(apiKey)
        frame.writeInteger(version)
        frame.writeInteger(correlation)
        KafkaWire.writeNullableString(Self.clientId, to: &frame)
        var body = body
        frame.writeBuffer(&body)
        frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        handler.expect(correlation, promise)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(StepError.target("Kafka broker \(self.broker) did not answer \(api) within \(timeout.nanoseconds / 1_000_000_000) s"))
        }
        channel.writeAndFlush(frame).whenFailure { promise.fail($0) }
        do {
            let response = try await promise.futureResult.get()
            timer.cancel()
            return KafkaReader(buffer: response, api: api)
        } catch {
            timer.cancel()
            if tlsWithoutCertificate, let e = error as? ChannelError, e == .ioOnClosedChannel || e == .eof || e == .alreadyClosed {
                throw StepError.target("Kafka broker \(broker) closed the TLS connection during \(api) without saying why: a broker that requires a client certificate does this; put tls.crt and tls.key signed by a CA it trusts in spec.kafka.credentialsSecret (or check that the listener speaks TLS)")
            }
            throw Self.explain(error, broker: broker, during: api)
        }
    }

    func close() {
        channel.close(promise: nil)
    }

    /// Splits the stream into size-prefixed frames.
    private struct FrameDecoder: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer
        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let size: Int32 = buffer.getInteger(at: buffer.readerIndex), buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 4)
            context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(size))!))
            return .continue
        }
    }

    /// Completes the promise waiting for each correlation id; fails them all if the connection drops.
    private final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private let lock = NSLock()
        private var waiting: [Int32: EventLoopPromise<ByteBuffer>] = [:]
        /// The first error seen (a TLS alert, a reset): what pending requests fail with.
        private var failure: Error?

        func expect(_ correlation: Int32, _ promise: EventLoopPromise<ByteBuffer>) {
            lock.withLock { waiting[correlation] = promise }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var frame = unwrapInboundIn(data)
            guard let correlation: Int32 = frame.readInteger() else { return }
            let promise = lock.withLock { waiting.removeValue(forKey: correlation) }
            promise?.succeed(frame)
        }

        func channelInactive(context: ChannelHandlerContext) {
            let all = lock.withLock { () -> [EventLoopPromise<ByteBuffer>] in
                defer { waiting.removeAll() }
                return Array(waiting.values)
            }
            let error: Error = lock.withLock { failure } ?? ChannelError.ioOnClosedChannel
            for p in all { p.fail(error) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            lock.withLock { if failure == nil { failure = error } }
            context.close(promise: nil)
        }
    }

    /// Completes when the TLS handshake is done; fails with its error.
    private final class HandshakeWaiter: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private let lock = NSLock()
        private var promise: EventLoopPromise<Void>?
        private var outcome: Result<Void, Error>?

        func done(on loop: EventLoop) async throws {
            let p = loop.makePromise(of: Void.self)
            let already = lock.withLock { () -> Result<Void, Error>? in
                if outcome == nil { promise = p }
                return outcome
            }
            if let already { p.completeWith(already) }
            try await p.futureResult.get()
        }

        func fail(_ error: Error) { finish(.failure(error)) }

        private func finish(_ r: Result<Void, Error>) {
            let p = lock.withLock { () -> EventLoopPromise<Void>? in
                guard outcome == nil else { return nil }
                outcome = r
                defer { promise = nil }
                return promise
            }
            p?.completeWith(r)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? TLSUserEvent, case .handshakeCompleted = e { finish(.success(())) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            finish(.failure(error))
            context.fireErrorCaught(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.failure(ChannelError.eof))
            context.fireChannelInactive()
        }
    }
}
