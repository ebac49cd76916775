import Foundation
import NIOCore
import NIOPosix

/// One TCP connection to one broker: size-prefixed frames, requests matched
/// to responses by correlation id, a timeout per request.
final class KafkaConnection: @unchecked Sendable {
    let broker: String
    private let channel: Channel
    private let handler: ResponseHandler
    private let lock = NSLock()
    private var nextCorrelation: Int32 = 1
    static let clientId = "ferry"

    private init(broker: String, channel: Channel, handler: ResponseHandler) {
        self.broker = broker
        self.channel = channel
        self.handler = handler
    }

    static func connect(host: String, port: Int, timeout: TimeAmount, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> KafkaConnection {
        let handler = ResponseHandler()
        let broker = "\(host):\(port)"
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: port).get()
            return KafkaConnection(broker: broker, channel: channel, handler: handler)
        } catch {
            throw StepError.target("Kafka broker \(broker) is not reachable: \(error)")
        }
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
            if error is StepError { throw error }
            throw StepError.target("Kafka broker \(broker): \(api) failed: \(error)")
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
            for p in all { p.fail(ChannelError.ioOnClosedChannel) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}
