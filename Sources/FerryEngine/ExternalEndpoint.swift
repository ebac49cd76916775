import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// `mysql-external`: pointing the application's config (`spec.mysql.external.configRef`) at the
/// external database. Pure: the driver reads the object and applies the patch.
public enum ExternalEndpoint {
    /// On the ConfigMap or Secret: JSON of key → the value Ferry replaced (a Secret's only as its
    /// length), so a second run, or a person undoing it, still knows what was there.
    public static let previousAnnotation = "ferry.dev/previous-values"

    /// What validate found at the external database; nil until validate has succeeded.
    public static func check(ofValidate result: JSONValue?) -> ExternalMySQLCheck? {
        try? result?["external"]?.decode(as: ExternalMySQLCheck.self)
    }

    /// The merge patch to write (nil: nothing to write) and the step's result.
    public struct Write: Equatable, Sendable {
        public var patch: JSONValue?
        public var result: MySQLExternalResult
    }

    /// How a value is shown: a ConfigMap's with any URL password masked, a Secret's only by its length.
    public static func shown(_ value: String, secret: Bool) -> String {
        secret ? "(a secret value of \(value.utf8.count) bytes)" : maskingPasswords(value)
    }

    /// `scheme://user:password@host` → `scheme://user:***@host`. Pure.
    public static func maskingPasswords(_ value: String) -> String {
        guard let scheme = value.range(of: "://"), let at = value[scheme.upperBound...].firstIndex(of: "@") else { return value }
        let userinfo = value[scheme.upperBound..<at]
        guard !userinfo.contains("/"), let colon = userinfo.firstIndex(of: ":") else { return value }
        return String(value[..<value.index(after: colon)]) + "***" + String(value[at...])
    }

    /// What to write into `ref` for `check`'s endpoint, given the key's current value and the
    /// object's annotations and resourceVersion (the patch holds it: a concurrent writer makes it
    /// fail, never lose an entry). A value this step wrote on an earlier run is reported as
    /// written, with the value it replaced then. The annotation keeps the value from before Ferry
    /// first wrote the key, whatever wrote after.
    public static func plan(ref: ConfigRefSpec, check: ExternalMySQLCheck, current: String?, annotations: [String: String], resourceVersion: String? = nil) -> Write? {
        guard let (host, port) = check.hostAndPort else { return nil }
        let secret = ref.kind == "Secret"
        let new = ref.value(host: host, port: port)
        let named = "\(ref.kind) \(ref.name) key \(ref.key)"
        var remembered = annotations[previousAnnotation].flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        let shownNew = shown(new, secret: secret)
        if current == new {
            if let before = remembered[ref.key] {
                return Write(patch: nil, result: .init(endpoint: check.endpoint, configRef: named, previous: before, value: shownNew))
            }
            return Write(patch: nil, result: .init(endpoint: check.endpoint, configRef: named, value: shownNew, unchanged: true))
        }
        let before = current.map { shown($0, secret: secret) } ?? "(absent)"
        if remembered[ref.key] == nil { remembered[ref.key] = before }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let annotation = String(decoding: (try? encoder.encode(remembered)) ?? Data("{}".utf8), as: UTF8.self)
        let data: JSONValue = .string(secret ? Data(new.utf8).base64EncodedString() : new)
        var patch: JSONValue = ["metadata": ["annotations": [previousAnnotation: .string(annotation)]], "data": [ref.key: data]]
        if let resourceVersion { patch["metadata"]?["resourceVersion"] = .string(resourceVersion) }
        return Write(patch: patch, result: .init(endpoint: check.endpoint, configRef: named, previous: before, value: shownNew))
    }
}
