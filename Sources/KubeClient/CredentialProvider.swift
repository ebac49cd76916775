import Foundation

/// Supplies the `Authorization` header for each request, caching what it can:
/// token files are re-read after their refresh interval, exec plugins are run
/// again when their credential's `expirationTimestamp` has passed, and either
/// is refreshed at once after the server answers 401.
public actor CredentialProvider {
    private let method: AuthMethod
    private var cachedToken: String?
    private var cachedUntil: Date = .distantPast
    private let now: @Sendable () -> Date

    public init(method: AuthMethod, now: @escaping @Sendable () -> Date = { Date() }) {
        self.method = method
        self.now = now
    }

    /// The header value to send, or nil for no Authorization header.
    public func authorization() async throws -> String? {
        switch method {
        case .none:
            return nil
        case .token(let t):
            return "Bearer \(t)"
        case .basic(let user, let password):
            return "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .tokenFile(let path, let interval):
            if let cachedToken, now() < cachedUntil { return "Bearer \(cachedToken)" }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubeConfigError.invalidField(file: path, field: "tokenFile", detail: "cannot read the token file")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            cachedToken = token
            cachedUntil = now().addingTimeInterval(interval)
            return "Bearer \(token)"
        case .exec(let exec, let file):
            if let cachedToken, now() < cachedUntil { return "Bearer \(cachedToken)" }
            let credential = try await ExecCredentialRunner.run(exec, configFile: file)
            cachedToken = credential.token
            // Refresh a little before the stated expiry; no expiry means "until a 401".
            cachedUntil = credential.expiration.map { $0.addingTimeInterval(-10) } ?? .distantFuture
            return "Bearer \(credential.token)"
        }
    }

    /// Forgets the cached credential (after a 401), so the next request
    /// re-reads the token file or re-runs the exec plugin.
    public func invalidate() {
        cachedToken = nil
        cachedUntil = .distantPast
    }

    /// Whether a retry after 401 can possibly help.
    public nonisolated var canRefresh: Bool {
        switch method {
        case .tokenFile, .exec: return true
        default: return false
        }
    }
}

/// Runs an exec credential plugin and parses its ExecCredential output.
enum ExecCredentialRunner {
    struct Credential {
        var token: String
        var expiration: Date?
    }

    static func run(_ exec: KubeConfigFile.ExecConfig, configFile: String) async throws -> Credential {
        let apiVersion = exec.apiVersion ?? "client.authentication.k8s.io/v1"
        let process = Process()
        if exec.command.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: exec.command)
            process.arguments = exec.args ?? []
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [exec.command] + (exec.args ?? [])
        }
        var env = ProcessInfo.processInfo.environment
        for e in exec.env ?? [] { env[e.name] = e.value }
        env["KUBERNETES_EXEC_INFO"] =
            "{\"apiVersion\":\"\(apiVersion)\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}"
        process.environment = env
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw KubeConfigError.execFailed(command: exec.command, detail: "cannot start (named in \(configFile) users.user.exec.command): \(error.localizedDescription)")
        }
        let (out, err) = await withCheckedContinuation { (cont: CheckedContinuation<(Data, Data), Never>) in
            Thread.detachNewThread {
                let o = stdout.fileHandleForReading.readDataToEndOfFile()
                let e = stderr.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                cont.resume(returning: (o, e))
            }
        }
        guard process.terminationStatus == 0 else {
            let msg = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw KubeConfigError.execFailed(command: exec.command, detail: "exited with status \(process.terminationStatus): \(msg)")
        }
        let value: JSONValue
        do {
            value = try JSONWire.parse(Array(out))
        } catch {
            throw KubeConfigError.execFailed(command: exec.command, detail: "printed something that is not an ExecCredential JSON: \(error)")
        }
        guard value["kind"]?.stringValue == "ExecCredential" else {
            throw KubeConfigError.execFailed(command: exec.command, detail: "output kind must be ExecCredential")
        }
        if let v = value["apiVersion"]?.stringValue, v != apiVersion {
            throw KubeConfigError.execFailed(command: exec.command, detail: "output apiVersion \(v) does not match the configured \(apiVersion)")
        }
        guard let token = value[path: ["status", "token"]]?.stringValue, !token.isEmpty else {
            throw KubeConfigError.execFailed(command: exec.command, detail: "output has no status.token (client certificates from exec plugins are not supported)")
        }
        var expiration: Date?
        if let ts = value[path: ["status", "expirationTimestamp"]]?.stringValue {
            guard let d = Timestamps.parse(ts) else {
                throw KubeConfigError.execFailed(command: exec.command, detail: "status.expirationTimestamp \"\(ts)\" is not RFC 3339")
            }
            expiration = d
        }
        return Credential(token: token, expiration: expiration)
    }
}

/// RFC 3339 timestamps as Kubernetes writes them.
public enum Timestamps {
    /// `2026-11-21T10:00:00Z`
    public static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    /// MicroTime: `2026-11-21T10:00:00.123456Z` (exactly six fractional digits).
    public static func formatMicro(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        var micros = Int(((date.timeIntervalSince1970 - seconds) * 1_000_000).rounded())
        var whole = Date(timeIntervalSince1970: seconds)
        if micros >= 1_000_000 {
            micros -= 1_000_000
            whole = whole.addingTimeInterval(1)
        }
        var base = format(whole)
        base.removeLast()  // Z
        let frac = String(micros)
        return base + "." + String(repeating: "0", count: 6 - frac.count) + frac + "Z"
    }

    /// Parses RFC 3339 with or without fractional seconds.
    public static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        // Fractions longer than milliseconds: trim to three digits.
        if let dot = s.firstIndex(of: "."), let end = s[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
            let frac = s[s.index(after: dot)..<end]
            let trimmed = s[..<dot] + "." + frac.prefix(3) + s[end...]
            return f.date(from: String(trimmed))
        }
        return nil
    }
}
