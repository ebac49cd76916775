import KubeClient

/// Legacy discovery documents and the OpenAPI v3 index kubectl reads.
enum Discovery {
    static func apiVersions(serverAddress: String) -> JSONValue {
        ["kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
    }

    static func verbs(_ r: ResourceType) -> JSONValue {
        ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }

    static func resourceList(_ registry: ResourceRegistry, group: String, version: String) -> JSONValue {
        var resources: [JSONValue] = []
        for r in registry.resources(group: group, version: version) {
            var entry: JSONValue = [
                "name": .string(r.plural), "singularName": .string(r.singular), "namespaced": .bool(r.namespaced),
                "kind": .string(r.kind), "verbs": verbs(r),
            ]
            if !r.shortNames.isEmpty { entry["shortNames"] = .array(r.shortNames.map { .string($0) }) }
            if !r.categories.isEmpty { entry["categories"] = .array(r.categories.map { .string($0) }) }
            resources.append(entry)
            if r.hasStatus {
                resources.append(["name": .string("\(r.plural)/status"), "singularName": "", "namespaced": .bool(r.namespaced), "kind": .string(r.kind), "verbs": ["get", "patch", "update"]])
            }
            if r.hasScale {
                resources.append(["name": .string("\(r.plural)/scale"), "singularName": "", "namespaced": .bool(r.namespaced), "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources)]
    }

    static func group(_ name: String, _ versions: [String]) -> JSONValue {
        let vs: [JSONValue] = versions.map { ["groupVersion": .string("\(name)/\($0)"), "version": .string($0)] }
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name), "versions": .array(vs), "preferredVersion": vs[0]]
    }

    static func groupList(_ registry: ResourceRegistry) -> JSONValue {
        var groups: [JSONValue] = []
        for g in registry.groups {
            var entry = group(g.name, g.versions)
            entry["kind"] = nil
            entry["apiVersion"] = nil
            groups.append(entry)
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    /// A stable short hash of what a group-version serves (changes when CRDs change it).
    static func hash(_ registry: ResourceRegistry, group: String, version: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for r in registry.resources(group: group, version: version) {
            for b in "\(r.plural)|\(r.kind)|\(r.namespaced)|\(r.hasStatus);".utf8 {
                h ^= UInt64(b)
                h = h &* 0x100_0000_01b3
            }
        }
        return String(h, radix: 16, uppercase: true)
    }

    static func openAPIIndex(_ registry: ResourceRegistry) -> JSONValue {
        var paths: [String: JSONValue] = ["api/v1": ["serverRelativeURL": .string("/openapi/v3/api/v1?hash=\(hash(registry, group: "", version: "v1"))")]]
        for g in registry.groups {
            for v in g.versions {
                paths["apis/\(g.name)/\(v)"] = ["serverRelativeURL": .string("/openapi/v3/apis/\(g.name)/\(v)?hash=\(hash(registry, group: g.name, version: v))")]
            }
        }
        return ["paths": .object(paths)]
    }

    /// A minimal OpenAPI v3 document: for each kind, write operations that
    /// declare the `fieldValidation` query parameter and carry the
    /// `x-kubernetes-group-version-kind` extension, which is what kubectl checks
    /// before sending `fieldValidation=Strict` (and skipping client-side schemas).
    static func openAPIDocument(_ registry: ResourceRegistry, group: String, version: String) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        let parameters: JSONValue = [
            ["name": "fieldValidation", "in": "query", "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.", "schema": ["type": "string", "uniqueItems": true]],
            ["name": "dryRun", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
            ["name": "fieldManager", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
        ]
        let prefix = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        for r in registry.resources(group: group, version: version) {
            let gvk: JSONValue = ["group": .string(group), "version": .string(version), "kind": .string(r.kind)]
            let collection = r.namespaced ? "\(prefix)/namespaces/{namespace}/\(r.plural)" : "\(prefix)/\(r.plural)"
            func op(_ action: String) -> JSONValue {
                [
                    "x-kubernetes-action": .string(action), "x-kubernetes-group-version-kind": gvk,
                    "parameters": parameters, "responses": ["200": ["description": "OK"]],
                ]
            }
            paths[collection] = ["post": op("post"), "get": ["x-kubernetes-action": "list", "x-kubernetes-group-version-kind": gvk, "responses": ["200": ["description": "OK"]]]]
            paths["\(collection)/{name}"] = ["put": op("put"), "patch": op("patch"), "get": ["x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk, "responses": ["200": ["description": "OK"]]]]
            if r.hasStatus {
                paths["\(collection)/{name}/status"] = ["put": op("put"), "patch": op("patch")]
            }
        }
        return [
            "openapi": "3.0.0", "info": ["title": "KubeSim", "version": "v1.32.0"],
            "paths": .object(paths), "components": ["schemas": .emptyObject],
        ]
    }

    static let version: JSONValue = [
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim", "gitCommit": "kubesim", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "swift", "compiler": "swiftc", "platform": "linux/amd64",
    ]
}
