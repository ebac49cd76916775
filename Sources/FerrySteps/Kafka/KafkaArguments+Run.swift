import FerryProtocol
import Foundation
import KubeClient

extension KafkaArguments {
    /// Sets the offsets saved in the package (or earliest, latest, by time) with `security`
    /// (built from these arguments and the mounted Secret), then reads them back (``KafkaOffsetsRestore``).
    public func run(security: KafkaSecurity, memberWait: Double = 30, dryRun: Bool = false) async throws -> KafkaResult {
        guard let m = KafkaOffsetsRestore.Mode(rawValue: mode) else {
            throw StepError.configuration("--mode \(mode) must be one of package, earliest, latest, timestamp (spec.kafka.mode)")
        }
        var ms: Int64?
        if let timestamp {
            guard let date = Timestamps.parse(timestamp) else { throw StepError.configuration("--timestamp \(timestamp) is not RFC 3339 (spec.kafka.timestamp), e.g. 2026-11-20T10:00:00Z") }
            ms = Int64(date.timeIntervalSince1970 * 1000)
        }
        let pkg = try BackupPackage.open(package)
        guard let rel = pkg.manifest?.kafkaOffsets else { throw StepError.badPackage("the package has no saved Kafka offsets (manifest.json: kafkaOffsets)") }
        let path = try pkg.resolve(rel)
        guard let data = FileManager.default.contents(atPath: path), let file = try? JSONDecoder().decode(KafkaOffsetsFile.self, from: data) else {
            throw StepError.badPackage("\(path) is not a Kafka offsets file; export it again")
        }
        let client = try KafkaClient(bootstrap: bootstrap, security: security)
        defer { Task { await client.close() } }
        return try await KafkaOffsetsRestore(client: client, file: file, options: .init(
            groups: groups.isEmpty ? nil : groups, mode: m, timestamp: ms, memberWait: memberWait, dryRun: dryRun)).run()
    }
}
