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

    /// A user and password: from the environment, else from a mounted Secret's folder, which must
    /// then hold both keys (a Secret with `user`/`pass` is an error naming what it has, never a
    /// silent login as `defaultUser` with no password). With neither, `defaultUser` and no password
    /// (a local run).
    public static func login(userEnv: String, passwordEnv: String, directory: String?, defaultUser: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (user: String, password: String) {
        if let directory {
            let missing = ["username", "password"].filter { environment[$0 == "username" ? userEnv : passwordEnv] == nil && read(directory + "/" + $0) == nil }
            if !missing.isEmpty { throw StepError.configuration(missingKeys(missing, in: directory)) }
        }
        return (value(env: userEnv, file: "username", directory: directory, default: defaultUser, environment: environment),
                value(env: passwordEnv, file: "password", directory: directory, default: "", environment: environment))
    }

    /// "the credentials Secret mounted at D has keys a, b but needs username and password".
    public static func missingKeys(_ missing: [String], in directory: String) -> String {
        let keys = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix("..") && !$0.hasPrefix(".") }.sorted()
        return "the credentials Secret mounted at \(directory) has \(keys.isEmpty ? "no keys" : "keys " + keys.joined(separator: ", ")) but needs \(missing.joined(separator: " and ")); fix the Secret's keys"
    }

    /// A file's contents without the trailing newline; nil when it cannot be read.
    public static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var s = String(decoding: data, as: UTF8.self)
        while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
        return s
    }
}
