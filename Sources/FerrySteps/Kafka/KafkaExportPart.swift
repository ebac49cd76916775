import Foundation

extension KafkaExport {
    static let packagePath = "kafka/offsets.json"

    /// The export part of the consumer groups' offsets: `kafka/offsets.json`.
    static func part(bootstrap: String, security: KafkaSecurity, groups: [String]?, packageRoot: String) -> ExportPart {
        ExportPart(id: "kafka", label: "offsets") {
            let client = try KafkaClient(bootstrap: bootstrap, security: security)
            let file: KafkaOffsetsFile
            do {
                file = try await run(client, groups: groups)
                await client.close()
            } catch {
                await client.close()
                throw error
            }
            try FileManager.default.createDirectory(atPath: packageRoot + "/kafka", withIntermediateDirectories: true)
            try ManifestBuilder.writeJSON(file, to: packageRoot + "/" + packagePath)
            let sum = try ManifestBuilder.sha256(of: packageRoot + "/" + packagePath)
            return .init(record: { m in
                m.kafkaOffsets = packagePath
                m.sha256[packagePath] = sum
            }, note: "\(file.groups.count) groups")
        }
    }

    /// How many groups the package's offsets file holds (0 when it has none).
    static func groupCount(packageRoot: String) -> Int {
        guard let data = FileManager.default.contents(atPath: packageRoot + "/" + packagePath),
              let file = try? JSONDecoder().decode(KafkaOffsetsFile.self, from: data) else { return 0 }
        return file.groups.count
    }
}
