import KubeClient

/// Adds and removes finalizers with a merge patch guarded by the object's
/// resourceVersion, so a concurrent change surfaces as a Conflict (and the
/// reconcile is retried on fresh data) instead of being overwritten.
public enum Finalizers {
    public static func has(_ object: JSONValue, _ name: String) -> Bool {
        (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).contains(.string(name))
    }

    /// Adds `name` unless present; returns the updated object.
    public static func add(_ name: String, to object: JSONValue, resource: ResourceDescriptor, client: KubeClient) async throws -> JSONValue {
        if has(object, name) { return object }
        if object[path: ["metadata", "deletionTimestamp"]] != nil { return object }
        var list = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        list.append(.string(name))
        return try await patch(list, object, resource, client)
    }

    /// Removes `name` if present; returns the updated object (or its last state if it is now gone).
    public static func remove(_ name: String, from object: JSONValue, resource: ResourceDescriptor, client: KubeClient) async throws -> JSONValue {
        guard has(object, name) else { return object }
        let list = (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).filter { $0 != .string(name) }
        return try await patch(list, object, resource, client)
    }

    static func patch(_ list: [JSONValue], _ object: JSONValue, _ resource: ResourceDescriptor, _ client: KubeClient) async throws -> JSONValue {
        guard let name = object.name else { throw KubeClientError.invalidArgument("object has no name") }
        let body: JSONValue = ["metadata": ["finalizers": list.isEmpty ? .null : .array(list), "resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? .null]]
        return try await client.patch(resource, name: name, namespace: object.namespace, .merge(body))
    }
}
