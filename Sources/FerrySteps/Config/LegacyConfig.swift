import FerryProtocol
import Foundation
import KubeClient

/// The old tool's configuration: `conf/latest_config.json` and `conf/options.json`, each JSON
/// written as base64 (plain JSON is taken too). Not sealed: no key. Restored into the config
/// Secret decoded, one key per file, as the sealed config is.
public enum LegacyConfig {
    public static let files = ["latest_config.json", "options.json"]

    /// The package-relative paths of those present.
    public static func present(_ pkg: BackupPackage) -> [String] {
        files.map { "conf/" + $0 }.filter { FileManager.default.fileExists(atPath: pkg.root + "/" + $0) }
    }

    /// Each present file decoded, keyed by its name; a file that is neither base64 JSON nor JSON
    /// is refused by name.
    public static func read(_ pkg: BackupPackage) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for relative in present(pkg) {
            let path = try pkg.resolve(relative)
            guard let raw = FileManager.default.contents(atPath: path) else {
                throw StepError.badPackage(MappedFile.unreadable(path, errno: errno))
            }
            out[String(relative.dropFirst("conf/".count))] = try decode(Array(raw), path: relative)
        }
        return out
    }

    /// JSON as it is, or base64 of JSON decoded. Pure.
    static func decode(_ raw: [UInt8], path: String) throws -> Data {
        if let v = try? JSONWire.parse(raw), v.objectValue != nil || v.arrayValue != nil { return Data(raw) }
        let text = String(decoding: raw, as: UTF8.self).filter { !$0.isWhitespace }
        if let data = Data(base64Encoded: text), let v = try? JSONWire.parse(Array(data)), v.objectValue != nil || v.arrayValue != nil { return data }
        throw StepError.badPackage("\(path) is neither base64-encoded JSON (the old tool's format) nor JSON; export it again, or leave spec.config out")
    }
}
