/// Standard object metadata (the subset controllers use).
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int64?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var finalizers: [String]?
    public var ownerReferences: [OwnerReference]?

    public init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

/// A pointer from a dependent object to its owner.
public struct OwnerReference: Codable, Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil, blockOwnerDeletion: Bool? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// A typed Kubernetes object: Codable, with metadata, and knowing where it lives.
public protocol KubeResource: Codable, Sendable {
    static var resource: ResourceDescriptor { get }
    var metadata: ObjectMeta { get set }
}

/// A ConfigMap, typed.
public struct ConfigMap: KubeResource, Hashable {
    public static let resource = ResourceDescriptor.configMaps
    public var apiVersion: String = "v1"
    public var kind: String = "ConfigMap"
    public var metadata: ObjectMeta
    public var data: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

/// A Secret, typed. `data` values are base64 on the wire.
public struct Secret: KubeResource, Hashable {
    public static let resource = ResourceDescriptor.secrets
    public var apiVersion: String = "v1"
    public var kind: String = "Secret"
    public var metadata: ObjectMeta
    public var type: String?
    public var data: [String: String]?
    public var stringData: [String: String]?

    public init(metadata: ObjectMeta, type: String? = nil, data: [String: String]? = nil, stringData: [String: String]? = nil) {
        self.metadata = metadata
        self.type = type
        self.data = data
        self.stringData = stringData
    }
}

/// One page of a list: its items, the collection's resourceVersion and the continue token.
public struct ObjectList<Item: Sendable>: Sendable {
    public var items: [Item]
    public var resourceVersion: String
    public var continueToken: String?

    public init(items: [Item], resourceVersion: String, continueToken: String?) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

extension JSONValue {
    /// `metadata.name` of an object.
    public var name: String? { self[path: ["metadata", "name"]]?.stringValue }
    /// `metadata.namespace` of an object.
    public var namespace: String? { self[path: ["metadata", "namespace"]]?.stringValue }
    /// `metadata.resourceVersion` of an object.
    public var resourceVersion: String? { self[path: ["metadata", "resourceVersion"]]?.stringValue }
    /// `metadata.uid` of an object.
    public var uid: String? { self[path: ["metadata", "uid"]]?.stringValue }
}
