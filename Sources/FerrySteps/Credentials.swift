import Foundation

/// Where secrets come from: an environment variable, else a file in a mounted
/// Secret's folder (one key per file), else a file named in a config. A
/// trailing newline (`echo pw > file`) is not part of the value.
public enum Credentials {
    public static func value(env: String, file: String, directory: String?, default fallback: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        optional(env: env, file: file, directory: directory, environment: environment) ?? fallback
    }

    public static func optional(env: String, file: String, directory: String?,
                                environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let v = environment[env] { return v }
        guard let directory else { return nil }
        return read(directory + "/" + file)
    }

    /// A file's contents without the trailing newline; nil when it cannot be read.
    public static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var s = String(decoding: data, as: UTF8.self)
        while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
        return s
    }
}
