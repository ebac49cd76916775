import Foundation
import KubeClient

/// A parsed label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).
public struct LabelSelector: Sendable, Hashable {
    public enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case notExists(String)
    }
    public var requirements: [Requirement]

    /// Parses the query form; throws a message suitable for a 400 Status.
    public init(parsing text: String) throws {
        requirements = []
        var parts: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        parts.append(current)
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            if let r = try Self.parseSet(part) {
                requirements.append(r)
            } else if let range = part.range(of: "!=") {
                requirements.append(.notEquals(Self.key(part[..<range.lowerBound]), Self.key(part[range.upperBound...])))
            } else if let range = part.range(of: "==") {
                requirements.append(.equals(Self.key(part[..<range.lowerBound]), Self.key(part[range.upperBound...])))
            } else if let range = part.range(of: "=") {
                requirements.append(.equals(Self.key(part[..<range.lowerBound]), Self.key(part[range.upperBound...])))
            } else if part.hasPrefix("!") {
                requirements.append(.notExists(Self.key(part.dropFirst())))
            } else {
                guard !part.contains(" ") else { throw SelectorError("unable to parse requirement: \"\(part)\"") }
                requirements.append(.exists(part))
            }
        }
    }

    struct SelectorError: Error, CustomStringConvertible {
        let description: String
        init(_ s: String) { description = s }
    }

    static func key<S: StringProtocol>(_ s: S) -> String { s.trimmingCharacters(in: .whitespaces) }

    static func parseSet(_ part: String) throws -> Requirement? {
        for (word, notIn) in [(" notin ", true), (" in ", false)] {
            guard let r = part.range(of: word) else { continue }
            let key = Self.key(part[..<r.lowerBound])
            var rest = part[r.upperBound...].trimmingCharacters(in: .whitespaces)
            guard rest.hasPrefix("("), rest.hasSuffix(")") else {
                throw SelectorError("unable to parse requirement: \"\(part)\": set values must be in parentheses")
            }
            rest = String(rest.dropFirst().dropLast())
            let values = Set(rest.split(separator: ",").map { Self.key($0) }.filter { !$0.isEmpty })
            return notIn ? .notIn(key, values) : .isIn(key, values)
        }
        return nil
    }

    /// True when every requirement holds for these labels.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            switch r {
            case .equals(let k, let v): return labels[k] == v
            case .notEquals(let k, let v): return labels[k] != v
            case .isIn(let k, let vs): return labels[k].map { vs.contains($0) } ?? false
            case .notIn(let k, let vs): return labels[k].map { !vs.contains($0) } ?? true
            case .exists(let k): return labels[k] != nil
            case .notExists(let k): return labels[k] == nil
            }
        }
    }

    /// Labels of a JSON object.
    public static func labels(of object: JSONValue) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in object[path: ["metadata", "labels"]]?.objectValue ?? [:] {
            if let s = v.stringValue { out[k] = s }
        }
        return out
    }
}

/// A parsed field selector (`metadata.name=x,status.phase!=Running`).
public struct FieldSelector: Sendable, Hashable {
    public struct Term: Sendable, Hashable {
        public var path: [String]
        public var value: String
        public var negated: Bool
    }
    public var terms: [Term]

    public init(parsing text: String) throws {
        terms = []
        for raw in text.split(separator: ",") {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            var negated = false
            let field: Substring
            let value: Substring
            if let r = part.range(of: "!=") {
                negated = true
                field = part[..<r.lowerBound]
                value = part[r.upperBound...]
            } else if let r = part.range(of: "==") {
                field = part[..<r.lowerBound]
                value = part[r.upperBound...]
            } else if let r = part.range(of: "=") {
                field = part[..<r.lowerBound]
                value = part[r.upperBound...]
            } else {
                throw LabelSelector.SelectorError("invalid field selector: \"\(part)\": expected field=value")
            }
            terms.append(Term(path: field.split(separator: ".").map(String.init), value: String(value), negated: negated))
        }
    }

    public func matches(_ object: JSONValue) -> Bool {
        terms.allSatisfy { term in
            let actual: String
            switch object[path: term.path] {
            case .string(let s)?: actual = s
            case .int(let i)?: actual = String(i)
            case .bool(let b)?: actual = String(b)
            default: actual = ""
            }
            return (actual == term.value) != term.negated
        }
    }
}

/// Both selectors of a list or watch request.
struct ObjectFilter: Sendable {
    var namespace: String?
    var labels: LabelSelector?
    var fields: FieldSelector?

    func matches(_ object: JSONValue) -> Bool {
        if let namespace, object.namespace != namespace { return false }
        if let labels, !labels.matches(LabelSelector.labels(of: object)) { return false }
        if let fields, !fields.matches(object) { return false }
        return true
    }
}
