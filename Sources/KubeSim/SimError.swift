import KubeClient

/// An API failure inside KubeSim; becomes a `v1 Status` response.
public struct SimError: Error, Sendable, CustomStringConvertible {
    public let status: APIStatus

    public init(_ code: Int, _ reason: String, _ message: String, details: APIStatus.Details? = nil) {
        status = APIStatus(code: code, reason: reason, message: message, details: details)
    }

    public var description: String { status.description }

    static func notFound(_ type: ResourceType?, _ name: String, resource: String? = nil) -> SimError {
        let res = resource ?? type.map { $0.group.isEmpty ? $0.plural : "\($0.plural).\($0.group)" } ?? "resource"
        return SimError(404, "NotFound", "\(res) \"\(name)\" not found", details: .init(name: name, group: type?.group, kind: type?.plural))
    }
    static func alreadyExists(_ type: ResourceType, _ name: String) -> SimError {
        SimError(409, "AlreadyExists", "\(type.group.isEmpty ? type.plural : "\(type.plural).\(type.group)") \"\(name)\" already exists", details: .init(name: name, group: type.group, kind: type.plural))
    }
    static func conflict(_ type: ResourceType, _ name: String, _ why: String = "the object has been modified; please apply your changes to the latest version and try again") -> SimError {
        SimError(409, "Conflict", "Operation cannot be fulfilled on \(type.group.isEmpty ? type.plural : "\(type.plural).\(type.group)") \"\(name)\": \(why)", details: .init(name: name, group: type.group, kind: type.plural))
    }
    static func invalid(_ type: ResourceType, _ name: String, _ causes: [APIStatus.Cause]) -> SimError {
        let text = causes.map { "\($0.field ?? ""): \($0.message ?? "")" }.joined(separator: ", ")
        return SimError(422, "Invalid", "\(type.kind).\(type.group) \"\(name)\" is invalid: \(text)", details: .init(name: name, group: type.group, kind: type.kind, causes: causes))
    }
    static func badRequest(_ message: String) -> SimError { SimError(400, "BadRequest", message) }
    static func methodNotAllowed(_ message: String) -> SimError { SimError(405, "MethodNotAllowed", message) }
    static let gone = SimError(410, "Expired", "too old resource version")
}
