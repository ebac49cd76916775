import Foundation
import KubeClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Serves `/healthz` (process alive), `/readyz` (caches synced) and
/// `/metrics` (Prometheus text) on a port; a swift-service-lifecycle Service.
public struct HealthServer: Service {
    public let host: String
    public let port: Int
    public let registry: PrometheusCollectorRegistry
    public let ready: @Sendable () -> Bool
    let logger: Logger

    public init(host: String = "0.0.0.0", port: Int, registry: PrometheusCollectorRegistry, logger: Logger = Logger(label: "health"), ready: @escaping @Sendable () -> Bool) {
        self.host = host
        self.port = port
        self.registry = registry
        self.ready = ready
        self.logger = logger
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        logger.info("health and metrics listening", metadata: ["port": "\(server.channel.localAddress?.port ?? port)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { try? await self.serve(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            for try await part in inbound {
                guard case .head(let head) = part else { continue }
                let (status, body, type): (HTTPResponseStatus, [UInt8], String)
                switch head.uri.split(separator: "?").first ?? "" {
                case "/healthz", "/livez": (status, body, type) = (.ok, Array("ok\n".utf8), "text/plain")
                case "/readyz":
                    (status, body, type) = ready() ? (.ok, Array("ok\n".utf8), "text/plain") : (.serviceUnavailable, Array("caches not synced\n".utf8), "text/plain")
                case "/metrics": (status, body, type) = (.ok, registry.emitToBuffer(), "text/plain; version=0.0.4")
                default: (status, body, type) = (.notFound, Array("not found\n".utf8), "text/plain")
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: type)
                headers.add(name: "Content-Length", value: String(body.count))
                try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                try await outbound.write(.end(nil))
            }
        }
    }
}

/// JSON log lines (one object per line) for `ferry controller`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        var fields: [String: String] = ["ts": Timestamps.format(Date()), "level": level.rawValue, "logger": label, "msg": message.description]
        for (k, v) in self.metadata.merging(explicit ?? [:], uniquingKeysWith: { _, b in b }) { fields[k] = "\(v)" }
        var out = "{"
        out += fields.keys.sorted().map { k in "\(Self.quote(k)):\(Self.quote(fields[k]!))" }.joined(separator: ",")
        out += "}\n"
        FileHandle.standardError.write(Data(out.utf8))
    }

    static func quote(_ s: String) -> String {
        var o = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    o += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    o.unicodeScalars.append(c)
                }
            }
        }
        return o + "\""
    }
}
