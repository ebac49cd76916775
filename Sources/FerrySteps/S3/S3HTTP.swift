import AsyncHTTPClient
import Foundation
import NIOSSL

/// The HTTP client S3 requests go through, kept for the process's life (a mover or gateway
/// process talks to a few stores at most): for a store with its own CA (`caSecret`), one that
/// trusts those certificates besides the system's. A connection that cannot be made fails at
/// once (``S3Client/send`` tries again where that makes sense; a certificate no wait will fix).
enum S3HTTP {
    private static let clients = Locked<[String: HTTPClient]>([:])

    static func client(caFile: String?) throws -> HTTPClient {
        let key = caFile ?? ""
        if let known = clients.withLock({ $0[key] }) { return known }
        guard let caFile else { return made(key, TLSConfiguration.makeClientConfiguration()) }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(caFile)
        } catch {
            throw StepError.configuration("the CA file \(caFile) is not PEM certificates (\(error)); the caSecret needs a key ca.crt holding them (spec.files[].to.s3.caSecret)")
        }
        guard !certificates.isEmpty else {
            throw StepError.configuration("the CA file \(caFile) holds no certificate; the caSecret needs a key ca.crt holding them (spec.files[].to.s3.caSecret)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(certificates)]
        return made(key, tls)
    }

    private static func made(_ key: String, _ tls: TLSConfiguration) -> HTTPClient {
        clients.withLock { cache in
            if let known = cache[key] { return known }
            // A store that goes silent mid-answer (a stalled body) is given up after 5 minutes, never waited on for good.
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .minutes(5)))
            configuration.connectionPool.retryConnectionEstablishment = false
            // As many connections as the mover's files and parts in flight (the default 8 would queue them).
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            cache[key] = client
            return client
        }
    }
}
