/// A `v1 Status` object: what the API server answers on failure.
public struct APIStatus: Codable, Sendable, Hashable, CustomStringConvertible {
    public struct Cause: Codable, Sendable, Hashable {
        public var reason: String?
        public var message: String?
        public var field: String?
        public init(reason: String? = nil, message: String? = nil, field: String? = nil) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }
    public struct Details: Codable, Sendable, Hashable {
        public var name: String?
        public var group: String?
        public var kind: String?
        public var uid: String?
        public var causes: [Cause]?
        public var retryAfterSeconds: Int?
        public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [Cause]? = nil) {
            self.name = name
            self.group = group
            self.kind = kind
            self.causes = causes
        }
    }

    public var kind: String? = "Status"
    public var apiVersion: String? = "v1"
    public var status: String?
    public var message: String?
    public var reason: String?
    public var details: Details?
    public var code: Int?

    public init(code: Int, reason: String, message: String, details: Details? = nil) {
        self.status = "Failure"
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public var description: String {
        var s = "\(code.map(String.init) ?? "?") \(reason ?? "Unknown"): \(message ?? "")"
        if let causes = details?.causes, !causes.isEmpty {
            s += " [" + causes.map { "\($0.field ?? "?"): \($0.message ?? $0.reason ?? "")" }.joined(separator: "; ") + "]"
        }
        return s
    }

    /// Parses a Status from a response body, or synthesises one from the HTTP code.
    public static func from(body: [UInt8], httpStatus: Int) -> APIStatus {
        if let value = try? JSONWire.parse(body), value["kind"]?.stringValue == "Status" {
            var s = APIStatus(
                code: Int(value["code"]?.intValue ?? Int64(httpStatus)),
                reason: value["reason"]?.stringValue ?? "",
                message: value["message"]?.stringValue ?? "")
            s.status = value["status"]?.stringValue
            if let d = value["details"] {
                var details = Details(
                    name: d["name"]?.stringValue, group: d["group"]?.stringValue, kind: d["kind"]?.stringValue)
                details.causes = d["causes"]?.arrayValue?.map {
                    Cause(reason: $0["reason"]?.stringValue, message: $0["message"]?.stringValue, field: $0["field"]?.stringValue)
                }
                s.details = details
            }
            return s
        }
        let text = String(decoding: body.prefix(512), as: UTF8.self)
        return APIStatus(code: httpStatus, reason: defaultReason(httpStatus), message: text.isEmpty ? "HTTP \(httpStatus)" : text)
    }

    static func defaultReason(_ code: Int) -> String {
        switch code {
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        default: return code >= 500 ? "InternalError" : "BadRequest"
        }
    }
}

/// A failure reported by the API server, typed by its reason.
public enum KubeAPIError: Error, Sendable, CustomStringConvertible {
    case notFound(APIStatus)
    case alreadyExists(APIStatus)
    /// A write with a stale resourceVersion, or a concurrent change.
    case conflict(APIStatus)
    /// The requested resourceVersion is too old (HTTP 410 or a watch ERROR with code 410).
    case gone(APIStatus)
    case forbidden(APIStatus)
    case unauthorized(APIStatus)
    /// Validation failed; `causes` name the fields.
    case invalid(APIStatus)
    case unsupportedMediaType(APIStatus)
    /// Anything else, with the raw Status.
    case other(APIStatus)

    /// Classifies a Status by reason first, then HTTP code.
    public init(status: APIStatus) {
        switch (status.reason ?? "", status.code ?? 0) {
        case ("NotFound", _), (_, 404): self = .notFound(status)
        case ("AlreadyExists", _): self = .alreadyExists(status)
        case ("Conflict", _), (_, 409): self = .conflict(status)
        case ("Expired", _), ("Gone", _), (_, 410): self = .gone(status)
        case ("Forbidden", _), (_, 403): self = .forbidden(status)
        case ("Unauthorized", _), (_, 401): self = .unauthorized(status)
        case ("Invalid", _), (_, 422): self = .invalid(status)
        case ("UnsupportedMediaType", _), (_, 415): self = .unsupportedMediaType(status)
        default: self = .other(status)
        }
    }

    /// The raw Status behind this error.
    public var status: APIStatus {
        switch self {
        case .notFound(let s), .alreadyExists(let s), .conflict(let s), .gone(let s), .forbidden(let s),
            .unauthorized(let s), .invalid(let s), .unsupportedMediaType(let s), .other(let s):
            return s
        }
    }

    /// Field-level causes of an Invalid error.
    public var causes: [APIStatus.Cause] { status.details?.causes ?? [] }

    public var description: String { "Kubernetes API error \(status)" }

    public var isNotFound: Bool { if case .notFound = self { return true } else { return false } }
    public var isConflict: Bool { if case .conflict = self { return true } else { return false } }
    public var isGone: Bool { if case .gone = self { return true } else { return false } }
    public var isAlreadyExists: Bool { if case .alreadyExists = self { return true } else { return false } }
    public var isInvalid: Bool { if case .invalid = self { return true } else { return false } }
}
