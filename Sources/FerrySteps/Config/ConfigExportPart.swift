import Foundation

extension ConfigSeal {
    static let packagePath = "config/config.sealed"

    /// The export part of the operations config: each file sealed with `keyBase64` into one bundle.
    static func part(files: [String], keyBase64: String, keySource: String, packageRoot: String) -> ExportPart {
        ExportPart(id: "config", label: "sealed config") {
            let key = try key(fromBase64: keyBase64, source: keySource)
            var contents: [String: Data] = [:]
            for path in files {
                guard let data = FileManager.default.contents(atPath: path) else { throw StepError.configuration("config.files: \(path) is not readable") }
                contents[(path as NSString).lastPathComponent] = data
            }
            try FileManager.default.createDirectory(atPath: packageRoot + "/config", withIntermediateDirectories: true)
            try seal(contents, key: key).write(to: URL(fileURLWithPath: packageRoot + "/" + packagePath), options: .atomic)
            let sum = try ManifestBuilder.sha256(of: packageRoot + "/" + packagePath)
            let names = contents.keys.sorted()
            return .init(record: { m in
                m.config = .init(sealed: packagePath, files: names)
                m.sha256[packagePath] = sum
            }, note: "\(names.count) files")
        }
    }
}
