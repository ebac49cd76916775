import FerryProtocol
import Foundation

extension GatewayArguments {
    /// Starts the gateway and serves until the process is stopped.
    public func run() async throws {
        let server = try await start()
        print("gateway for bucket \(server.service.bucket) on \(host):\(server.port)\(server.metricsPort.map { ", metrics on :\($0)" } ?? "")")
        try await server.channel.closeFuture.get()
    }

    /// The gateway, listening: its sides resolved, the keys read. Nothing is written until a request comes.
    func start() async throws -> GatewayServer {
        let sides = FileSyncArguments(copies: [], stores: stores, resultFile: "")
        guard let url = S3URL(target) else { throw StepError.configuration("--target \(target) must be s3://STORE@bucket/prefix") }
        let (targetClient, targetPrefix, _) = try sides.bucketClient(url)
        let source: any ObjectSide
        if let s = S3URL(self.source) {
            let (client, prefix, _) = try sides.bucketClient(s)
            source = BucketSide(client: client, prefix: prefix)
        } else {
            var isDir: ObjCBool = false
            guard self.source.hasPrefix("/"), FileManager.default.fileExists(atPath: self.source, isDirectory: &isDir), isDir.boolValue else {
                throw StepError.configuration("--source \(self.source) is neither a folder nor s3://STORE@bucket/prefix")
            }
            source = FolderSide(root: self.source)
        }
        func pair(_ dir: String, _ option: String) throws -> [String: String] {
            guard let a = Credentials.read("\(dir)/AWS_ACCESS_KEY_ID"), !a.isEmpty, let s = Credentials.read("\(dir)/AWS_SECRET_ACCESS_KEY"), !s.isEmpty else {
                throw StepError.configuration("--\(option) \(dir) needs files AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the gateway's Secrets)")
            }
            return [a: s]
        }
        let app = try pair(appKeysDir, "app-keys-dir"), mover = try pair(moverKeysDir, "mover-keys-dir")
        guard Set(app.keys).isDisjoint(with: mover.keys) else { throw StepError.configuration("the application's and the mover's access keys must differ") }
        do { try await targetClient.checkBucket() } catch {
            throw StepError.configuration("the target bucket \(url.bucket) at \(targetClient.location.endpoint): \(error)")
        }
        let service = GatewayService(bucket: bucket ?? url.bucket, target: BucketSide(client: targetClient, prefix: targetPrefix), source: source, appKeys: app, moverKeys: mover)
        let address = hostEnv.flatMap { ProcessInfo.processInfo.environment[$0] }.flatMap { $0.isEmpty ? nil : $0 } ?? host
        return try await GatewayServer(service: service, host: address, port: port, metricsPort: metricsPort < 0 ? nil : metricsPort)
    }
}
