import Foundation
import KubeClient

/// Kind-specific server behaviour: CRDs register their resource and report
/// Established; namespaces report their phase.
enum Hooks {
    static let crdKey = "apiextensions.k8s.io/customresourcedefinitions"
    static let namespaceKey = "/namespaces"

    static func beforeCreate(_ type: ResourceType, _ obj: inout JSONValue, _ s: inout ObjectStore.State) throws {
        switch type.key {
        case crdKey:
            try establish(&obj, &s, type: type)
        case namespaceKey:
            obj["status"] = ["phase": "Active"]
        case "/secrets":
            foldStringData(&obj)
        case "/services":
            assignClusterIP(&obj, s)
        default:
            break
        }
    }

    /// A Service's cluster IP, as the API server assigns it: a loopback address of its own
    /// (127.3.x.y), where ``ServiceProxy`` forwards to a ready pod the selector picks.
    static func assignClusterIP(_ obj: inout JSONValue, _ s: ObjectStore.State) {
        let given = obj[path: ["spec", "clusterIP"]]?.stringValue ?? ""
        guard given.isEmpty, obj[path: ["spec", "type"]]?.stringValue ?? "ClusterIP" != "ExternalName" else { return }
        let taken = Set((s.objects["/services"] ?? [:]).values.compactMap { $0[path: ["spec", "clusterIP"]]?.stringValue })
        var n = 1
        while taken.contains("127.3.\(n >> 8).\(n & 255)") || n & 255 == 0 { n += 1 }
        var spec = obj["spec"] ?? [:]
        spec["clusterIP"] = .string("127.3.\(n >> 8).\(n & 255)")
        spec["clusterIPs"] = [spec["clusterIP"]!]
        obj["spec"] = spec
    }

    /// Secrets: `stringData` is write-only; the server folds it into base64 `data`.
    static func foldStringData(_ obj: inout JSONValue) {
        guard let stringData = obj["stringData"]?.objectValue else { return }
        var data = obj["data"]?.objectValue ?? [:]
        for (k, v) in stringData {
            data[k] = .string(Data((v.stringValue ?? "").utf8).base64EncodedString())
        }
        obj["data"] = .object(data)
        obj["stringData"] = nil
    }

    static func beforeUpdate(_ type: ResourceType, _ old: JSONValue, _ new: inout JSONValue, _ s: inout ObjectStore.State) throws {
        if type.key == crdKey, old["spec"] != new["spec"] {
            try establish(&new, &s, type: type)
        }
        if type.key == "/secrets" { foldStringData(&new) }
        if type.key == "/services", let ip = old[path: ["spec", "clusterIP"]] {
            // Immutable once assigned, as in a cluster.
            var spec = new["spec"] ?? [:]
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
            new["spec"] = spec
        }
    }

    static func afterDelete(_ type: ResourceType, _ obj: JSONValue, _ s: inout ObjectStore.State, store: ObjectStore) {
        guard type.key == crdKey, let crd = try? ResourceType.fromCRD(obj) else { return }
        // Removing a CRD removes its objects and stops serving the resource.
        for (objectKey, o) in s.objects[crd.key] ?? [:] {
            _ = ObjectStore.commit(&s, crd, objectKey, o, .deleted)
        }
        s.objects.removeValue(forKey: crd.key)
        s.registry.unregister(key: crd.key)
    }

    /// Registers the CRD's resource and sets acceptedNames and the
    /// NamesAccepted / Established conditions, as the real API server does.
    static func establish(_ obj: inout JSONValue, _ s: inout ObjectStore.State, type: ResourceType) throws {
        let resource: ResourceType
        do {
            resource = try ResourceType.fromCRD(obj)
        } catch let e as InvalidObject {
            throw SimError.invalid(type, obj.name ?? "", e.causes)
        }
        if let existing = s.registry.byKey[resource.key], existing.isCustom == false {
            throw SimError.invalid(type, obj.name ?? "", [.init(reason: "FieldValueInvalid", message: "conflicts with a built-in resource", field: "spec.names.plural")])
        }
        s.registry.register(resource)
        let stamp = obj[path: ["metadata", "creationTimestamp"]] ?? .string("")
        var names = obj[path: ["spec", "names"]] ?? .emptyObject
        if names["singular"] == nil { names["singular"] = .string(resource.singular) }
        if names["listKind"] == nil { names["listKind"] = .string(resource.listKind) }
        obj["status"] = [
            "acceptedNames": names,
            "storedVersions": .array([.string(resource.versions[0])]),
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": stamp],
                ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": stamp],
            ],
        ]
    }
}
