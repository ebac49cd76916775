import KubeClient

/// Who is calling: a user, its groups, and whether RBAC applies (KubeSim's
/// admin certificate and static tokens are superusers; service-account tokens
/// are not).
public struct Identity: Sendable, Equatable {
    public var user: String
    public var groups: [String]
    public var superuser: Bool

    public static let anonymousAdmin = Identity(user: "anonymous", groups: ["system:masters"], superuser: true)

    /// `system:serviceaccount:<ns>:<name>` with the groups Kubernetes gives it.
    static func serviceAccount(_ user: String) -> Identity {
        let parts = user.split(separator: ":")
        let ns = parts.count >= 3 ? String(parts[2]) : ""
        return Identity(user: user, groups: ["system:serviceaccounts", "system:serviceaccounts:\(ns)", "system:authenticated"], superuser: false)
    }
}

/// What a request asks to do, in RBAC's terms.
struct RequestAttributes: Equatable {
    var verb: String
    var group: String
    var resource: String
    var subresource: String?
    var namespace: String?
    var name: String?

    var resourceWithSub: String { subresource.map { "\(resource)/\($0)" } ?? resource }

    /// nil for non-resource URLs (discovery, openapi, version, health): every authenticated user may read them.
    static func of(_ req: SimRequest, registry: ResourceRegistry) -> RequestAttributes? {
        let seg = req.path.split(separator: "/").map(String.init)
        var rest: [String]
        var group = ""
        switch seg.first {
        case "api":
            guard seg.count >= 3 else { return nil }
            rest = Array(seg[2...])
        case "apis":
            guard seg.count >= 4 else { return nil }
            group = seg[1]
            rest = Array(seg[3...])
        default:
            return nil
        }
        var namespace: String?
        // /namespaces/{name}/status and /finalize are the Namespace's own subresources, not a namespaced resource.
        if rest.count >= 3, rest[0] == "namespaces", !(rest.count == 3 && (rest[2] == "status" || rest[2] == "finalize")) {
            namespace = rest[1]
            rest = Array(rest[2...])
        }
        guard let resource = rest.first else { return nil }
        let name = rest.count > 1 ? rest[1] : nil
        let sub = rest.count > 2 ? rest[2] : nil
        let watching = req.query["watch"] == "true" || req.query["watch"] == "1"
        let verb: String
        switch req.method {
        // A GET of one object is a get, ?watch or not (it is answered as one).
        case "GET": verb = name != nil ? "get" : (watching ? "watch" : "list")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = name == nil ? "deletecollection" : "delete"
        default: verb = req.method.lowercased()
        }
        return RequestAttributes(verb: verb, group: group, resource: resource, subresource: sub, namespace: namespace, name: name)
    }
}

/// RBAC as the API server evaluates it, over the Roles, ClusterRoles and
/// bindings KubeSim stores: a request is allowed when a binding names the
/// caller and its role has a rule for the verb, group, resource (and name).
/// Creating a Role or a binding needs the permissions it grants (no escalation).
struct RBACAuthorizer {
    let store: ObjectStore

    func type(_ group: String, _ plural: String) -> ResourceType? { store.registry.byKey["\(group)/\(plural)"] }

    func objects(_ plural: String, namespace: String? = nil) -> [JSONValue] {
        guard let t = type("rbac.authorization.k8s.io", plural) else { return [] }
        var filter = ObjectFilter()
        filter.namespace = namespace
        return (try? store.list(t, filter: filter, limit: nil, continueToken: nil).items) ?? []
    }

    func matches(_ subject: JSONValue, _ who: Identity, bindingNamespace: String?) -> Bool {
        switch subject["kind"]?.stringValue {
        case "ServiceAccount":
            let ns = subject["namespace"]?.stringValue ?? bindingNamespace ?? ""
            return who.user == "system:serviceaccount:\(ns):\(subject["name"]?.stringValue ?? "")"
        case "User": return subject["name"]?.stringValue == who.user
        case "Group": return who.groups.contains(subject["name"]?.stringValue ?? "")
        default: return false
        }
    }

    /// The rules granted to `who` in `namespace` (nil: cluster-wide only).
    func rules(for who: Identity, namespace: String?) -> [JSONValue] {
        var out: [JSONValue] = []
        for binding in objects("clusterrolebindings") where (binding["subjects"]?.arrayValue ?? []).contains(where: { matches($0, who, bindingNamespace: nil) }) {
            if let role = binding[path: ["roleRef", "name"]]?.stringValue, let cr = objects("clusterroles").first(where: { $0.name == role }) {
                out += cr["rules"]?.arrayValue ?? []
            }
        }
        if let namespace {
            for binding in objects("rolebindings", namespace: namespace) where (binding["subjects"]?.arrayValue ?? []).contains(where: { matches($0, who, bindingNamespace: namespace) }) {
                guard let role = binding[path: ["roleRef", "name"]]?.stringValue else { continue }
                let roles = binding[path: ["roleRef", "kind"]]?.stringValue == "ClusterRole" ? objects("clusterroles") : objects("roles", namespace: namespace)
                if let r = roles.first(where: { $0.name == role }) { out += r["rules"]?.arrayValue ?? [] }
            }
        }
        return out
    }

    static func rule(_ rule: JSONValue, allows a: RequestAttributes) -> Bool {
        let list = { (key: String) in rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let groups = list("apiGroups"), resources = list("resources"), verbs = list("verbs"), names = list("resourceNames")
        guard groups.contains("*") || groups.contains(a.group) else { return false }
        guard resources.contains("*") || resources.contains(a.resourceWithSub) else { return false }
        guard verbs.contains("*") || verbs.contains(a.verb) else { return false }
        if !names.isEmpty {
            guard let name = a.name, !["list", "watch", "create", "deletecollection"].contains(a.verb) else { return false }
            return names.contains(name)
        }
        return true
    }

    func allows(_ who: Identity, _ a: RequestAttributes) -> Bool {
        if who.superuser { return true }
        return rules(for: who, namespace: a.namespace).contains { Self.rule($0, allows: a) }
    }

    /// The API server's words: `pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "ns"`.
    static func forbidden(_ who: Identity, _ a: RequestAttributes) -> SimError {
        let kind = a.group.isEmpty ? a.resource : "\(a.resource).\(a.group)"
        let object = a.name.map { "\(kind) \"\($0)\"" } ?? kind
        let scope = a.namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        return SimError(403, "Forbidden", "\(object) is forbidden: User \"\(who.user)\" cannot \(a.verb) resource \"\(a.resourceWithSub)\" in API group \"\(a.group)\" \(scope)",
                        details: .init(name: a.name, group: a.group, kind: a.resource))
    }

    /// Creating or changing a Role, ClusterRole or binding: what it grants must already be held.
    func escalation(_ who: Identity, _ a: RequestAttributes, body: JSONValue) -> SimError? {
        guard !who.superuser, a.group == "rbac.authorization.k8s.io", ["create", "update", "patch"].contains(a.verb) else { return nil }
        var granted: [JSONValue]
        var namespace = a.namespace
        switch a.resource {
        case "roles", "clusterroles":
            if allows(who, RequestAttributes(verb: "escalate", group: a.group, resource: a.resource, namespace: a.namespace, name: a.name)) { return nil }
            granted = body["rules"]?.arrayValue ?? []
            if a.resource == "clusterroles" { namespace = nil }
        case "rolebindings", "clusterrolebindings":
            guard let roleName = body[path: ["roleRef", "name"]]?.stringValue else { return nil }
            let kind = body[path: ["roleRef", "kind"]]?.stringValue ?? "Role"
            if allows(who, RequestAttributes(verb: "bind", group: a.group, resource: kind == "ClusterRole" ? "clusterroles" : "roles", namespace: a.namespace, name: roleName)) { return nil }
            let roles = kind == "ClusterRole" ? objects("clusterroles") : objects("roles", namespace: a.namespace)
            granted = roles.first { $0.name == roleName }?["rules"]?.arrayValue ?? []
            if a.resource == "clusterrolebindings" { namespace = nil }
        default:
            return nil
        }
        var missing: [String] = []
        for rule in granted {
            let list = { (key: String) in rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            let names = list("resourceNames")
            for g in list("apiGroups") {
                for r in list("resources") {
                    for v in list("verbs") {
                        let parts = r.split(separator: "/", maxSplits: 1).map(String.init)
                        let probes = names.isEmpty ? [nil] : names.map { Optional($0) }
                        for n in probes where !allows(who, RequestAttributes(verb: v, group: g, resource: parts[0], subresource: parts.count > 1 ? parts[1] : nil, namespace: namespace, name: n)) {
                            missing.append("{APIGroups:[\"\(g)\"], Resources:[\"\(r)\"]\(n.map { ", ResourceNames:[\"\($0)\"]" } ?? ""), Verbs:[\"\(v)\"]}")
                        }
                    }
                }
            }
        }
        guard !missing.isEmpty else { return nil }
        let kind = "\(a.resource).\(a.group)"
        return SimError(403, "Forbidden", "\(kind) \"\(body.name ?? a.name ?? "")\" is forbidden: user \"\(who.user)\" (groups=\(who.groups.map { "\"\($0)\"" })) is attempting to grant RBAC permissions not currently held:\n" + missing.joined(separator: "\n"),
                        details: .init(name: body.name ?? a.name, group: a.group, kind: a.resource))
    }
}
