/// Failures that are not API Status errors: transport, decoding, usage.
public enum KubeClientError: Error, Sendable, CustomStringConvertible {
    /// The request never got an HTTP answer.
    case transport(method: String, url: String, detail: String)
    /// The answer could not be decoded.
    case decoding(what: String, detail: String)
    /// The caller passed something unusable (e.g. an object without a name).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .transport(let method, let url, let detail): return "\(method) \(url): \(detail)"
        case .decoding(let what, let detail): return "cannot decode \(what): \(detail)"
        case .invalidArgument(let s): return s
        }
    }
}
