import FerryAPI

/// The Secret a Job step mounts at /credentials/<kind>: the spec field that names it and the
/// keys its step reads. Validate checks the keys before anything is stopped, so `user`/`pass`
/// never turns into root with no password.
struct StepSecret: Equatable, Sendable {
    /// The mount folder's name.
    var kind: String
    /// The spec field that names it, e.g. `spec.mysql.credentialsSecret`.
    var field: String
    var name: String
    /// Keys that must all be there.
    var required: [String] = []
    /// If any of these is there, all must be (a user name and its password).
    var together: [String] = []
    /// Of these, at least one (empty: no such rule).
    var anyOf: [String] = []
    /// A client certificate and its key: both or neither.
    var certificate: (cert: String, key: String)?

    var mount: String { StepPod.credentialsMount(kind) }

    static func == (a: StepSecret, b: StepSecret) -> Bool { (a.kind, a.field, a.name) == (b.kind, b.field, b.name) }

    /// Why the Secret's keys will not do; nil when they will.
    func problem(keys: Set<String>) -> String? {
        if let (a, b) = certificate, keys.contains(a) != keys.contains(b) {
            return "Secret \(name) (\(field)) has \(keys.contains(a) ? "\(a) without \(b)" : "\(b) without \(a)"); a client certificate needs both"
        }
        let needed = required + (together.contains(where: keys.contains) ? together : [])
        let missing = needed.filter { !keys.contains($0) }
        let unusable = !anyOf.isEmpty && !anyOf.contains(where: keys.contains)
        guard !missing.isEmpty || unusable else { return nil }
        let has = keys.isEmpty ? "no keys" : "keys \(keys.sorted().joined(separator: ", "))"
        let want = missing.isEmpty ? "one of \(anyOf.joined(separator: ", "))" : missing.joined(separator: " and ")
        return "Secret \(name) (\(field)) has \(has) but needs \(want); rename or add the keys, then annotate \(FerryNames.rerunAnnotation)=validate"
    }
}
