import Foundation
import ProcessSpawn

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
            let token = String(decoding: data, as: UTF8.self).trimmedWhitespace
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
        var env = ProcessInfo.processInfo.environment
        for e in exec.env ?? [] { env[e.name] = e.value }
        env["KUBERNETES_EXEC_INFO"] =
            "{\"apiVersion\":\"\(apiVersion)\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}"
        let result: ProcessSpawn.Output
        do {
            result = try await ProcessSpawn.run(exec.command, exec.args ?? [], environment: env, timeout: 60)
        } catch {
            throw KubeConfigError.execFailed(command: exec.command, detail: "cannot start (named in \(configFile) users.user.exec.command): \(error)")
        }
        let out = result.stdout
        guard result.status == 0 else {
            let msg = String(decoding: result.stderr, as: UTF8.self).trimmedWhitespace
            throw KubeConfigError.execFailed(command: exec.command, detail: "exited with status \(result.status): \(msg)")
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

/// RFC 3339 timestamps as Kubernetes writes them. Hand-written on the C
/// calendar functions (no ICU), which keeps the controller's memory small.
public enum Timestamps {
    static func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// `2026-11-21T10:00:00Z`
    public static func format(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
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

    /// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int32? {
            guard from + len <= b.count else { return nil }
            var v: Int32 = 0
            for i in from..<(from + len) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int32(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116 || b[10] == 32, b[13] == 58, b[16] == 58,
            let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let om = num(i + 4, 2) {
            offset = Int(oh) * 3600 + Int(om) * 60
            if b[i] == 45 { offset = -offset }
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch) - Double(offset) + fraction)
    }
}
