import Foundation
import KubeClient

/// One printer column of a resource's Table output.
public struct PrinterColumn: Sendable, Hashable {
    public var name: String
    public var type: String
    public var jsonPath: String
    public var description: String
    public var priority: Int
    public var format: String
}

/// Everything the server knows about one kind of resource.
public struct ResourceType: Sendable {
    public var group: String
    /// Served versions; the first is the preferred one.
    public var versions: [String]
    public var plural: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var categories: [String]
    public var hasStatus: Bool
    public var hasScale: Bool
    public var printerColumns: [String: [PrinterColumn]]
    /// Built-in kinds accept strategic-merge patches; custom resources do not.
    public var isCustom: Bool
    /// A CRD's openAPIV3Schema per version (defaults, pruning, validation).
    public var schemas: [String: JSONValue] = [:]

    /// Storage key: group and plural.
    public var key: String { "\(group)/\(plural)" }
    public var listKind: String { kind + "List" }

    func apiVersion(_ version: String) -> String { group.isEmpty ? version : "\(group)/\(version)" }

    static func builtin(_ group: String, _ version: String, _ plural: String, _ kind: String, namespaced: Bool = true, short: [String] = [], status: Bool = false, scale: Bool = false) -> ResourceType {
        ResourceType(
            group: group, versions: [version], plural: plural, singular: kind.lowercased(), kind: kind,
            namespaced: namespaced, shortNames: short, categories: ["all"], hasStatus: status, hasScale: scale,
            printerColumns: [:], isCustom: false)
    }

    static let builtins: [ResourceType] = [
        builtin("", "v1", "namespaces", "Namespace", namespaced: false, short: ["ns"], status: true),
        builtin("", "v1", "pods", "Pod", short: ["po"], status: true),
        builtin("", "v1", "configmaps", "ConfigMap", short: ["cm"]),
        builtin("", "v1", "secrets", "Secret"),
        builtin("", "v1", "services", "Service", short: ["svc"], status: true),
        builtin("", "v1", "serviceaccounts", "ServiceAccount", short: ["sa"]),
        builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short: ["pvc"], status: true),
        builtin("", "v1", "events", "Event", short: ["ev"]),
        builtin("events.k8s.io", "v1", "events", "Event", short: ["ev"]),
        builtin("apps", "v1", "deployments", "Deployment", short: ["deploy"], status: true, scale: true),
        builtin("apps", "v1", "statefulsets", "StatefulSet", short: ["sts"], status: true, scale: true),
        builtin("batch", "v1", "jobs", "Job", status: true),
        builtin("coordination.k8s.io", "v1", "leases", "Lease"),
        builtin("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced: false),
        builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced: false),
        builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced: false, short: ["crd", "crds"], status: true),
    ]

    /// Reads a CustomResourceDefinition object; throws causes for a 422.
    static func fromCRD(_ crd: JSONValue) throws -> ResourceType {
        var causes: [APIStatus.Cause] = []
        let spec = crd["spec"] ?? .null
        let group = spec["group"]?.stringValue ?? ""
        let names = spec["names"] ?? .null
        let plural = names["plural"]?.stringValue ?? ""
        let kind = names["kind"]?.stringValue ?? ""
        if group.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.group")) }
        if plural.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.names.plural")) }
        if kind.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.names.kind")) }
        if let name = crd.name, !group.isEmpty, !plural.isEmpty, name != "\(plural).\(group)" {
            causes.append(.init(reason: "FieldValueInvalid", message: "must be spec.names.plural+\".\"+spec.group", field: "metadata.name"))
        }
        let scope = spec["scope"]?.stringValue ?? ""
        if scope != "Namespaced" && scope != "Cluster" {
            causes.append(.init(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\"", field: "spec.scope"))
        }
        var versions: [String] = []
        var hasStatus = false
        var hasScale = false
        var columns: [String: [PrinterColumn]] = [:]
        var schemas: [String: JSONValue] = [:]
        for (i, v) in (spec["versions"]?.arrayValue ?? []).enumerated() {
            guard let name = v["name"]?.stringValue else {
                causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.versions[\(i)].name"))
                continue
            }
            if v["served"]?.boolValue == false { continue }
            if v["storage"]?.boolValue == true { versions.insert(name, at: 0) } else { versions.append(name) }
            if v[path: ["subresources", "status"]] != nil { hasStatus = true }
            if let schema = v[path: ["schema", "openAPIV3Schema"]] { schemas[name] = schema }
            if v[path: ["subresources", "scale"]] != nil { hasScale = true }
            columns[name] = (v["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { c in
                guard let n = c["name"]?.stringValue, let path = c["jsonPath"]?.stringValue else { return nil }
                return PrinterColumn(
                    name: n, type: c["type"]?.stringValue ?? "string", jsonPath: path,
                    description: c["description"]?.stringValue ?? "", priority: Int(c["priority"]?.intValue ?? 0),
                    format: c["format"]?.stringValue ?? "")
            }
        }
        if versions.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "must have at least one served version", field: "spec.versions")) }
        if !causes.isEmpty { throw InvalidObject(causes: causes) }
        return ResourceType(
            group: group, versions: versions, plural: plural,
            singular: names["singular"]?.stringValue ?? kind.lowercased(), kind: kind,
            namespaced: scope == "Namespaced",
            shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            hasStatus: hasStatus, hasScale: hasScale, printerColumns: columns, isCustom: true, schemas: schemas)
    }
}

/// A validation failure with field causes (→ 422 Invalid).
struct InvalidObject: Error {
    var causes: [APIStatus.Cause]
}

/// The set of served resources: built-ins plus registered CRDs.
struct ResourceRegistry: Sendable {
    private(set) var byKey: [String: ResourceType] = [:]

    init() {
        for r in ResourceType.builtins { byKey[r.key] = r }
    }

    mutating func register(_ r: ResourceType) { byKey[r.key] = r }
    mutating func unregister(key: String) { byKey.removeValue(forKey: key) }

    /// The resource served at group/version/plural.
    func find(group: String, version: String, plural: String) -> ResourceType? {
        guard let r = byKey["\(group)/\(plural)"], r.versions.contains(version) else { return nil }
        return r
    }

    /// Groups and their versions, core group excluded, sorted.
    var groups: [(name: String, versions: [String])] {
        var g: [String: [String]] = [:]
        for r in byKey.values where !r.group.isEmpty {
            var vs = g[r.group] ?? []
            for v in r.versions where !vs.contains(v) { vs.append(v) }
            g[r.group] = vs
        }
        return g.keys.sorted().map { ($0, g[$0]!) }
    }

    func resources(group: String, version: String) -> [ResourceType] {
        byKey.values.filter { $0.group == group && $0.versions.contains(version) }.sorted { $0.plural < $1.plural }
    }
}
