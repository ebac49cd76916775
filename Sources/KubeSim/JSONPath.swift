import Foundation
import KubeClient

/// The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[*].b`,
/// `.a['x.y']`, and filters `.a[?(@.type=="Ready")].status`, optionally
/// wrapped in `{}`.
public struct JSONPath: Sendable, Hashable {
    enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
        case all
        case filter(path: [String], value: String, equal: Bool)
    }
    let steps: [Step]

    public init(_ text: String) throws {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("{") && s.hasSuffix("}") { s = String(s.dropFirst().dropLast()) }
        if s.hasPrefix("$") { s.removeFirst() }
        var steps: [Step] = []
        var i = s.startIndex
        func fail(_ why: String) -> Error { Patching.PatchError("invalid JSONPath \"\(text)\": \(why)") }
        while i < s.endIndex {
            let c = s[i]
            if c == "." {
                i = s.index(after: i)
                var name = ""
                while i < s.endIndex, s[i] != ".", s[i] != "[" {
                    name.append(s[i])
                    i = s.index(after: i)
                }
                if !name.isEmpty { steps.append(name == "*" ? .all : .key(name)) }
            } else if c == "[" {
                guard let close = Self.closingBracket(s, from: i) else { throw fail("unclosed [") }
                let inner = String(s[s.index(after: i)..<close]).trimmingCharacters(in: .whitespaces)
                i = s.index(after: close)
                if inner == "*" {
                    steps.append(.all)
                } else if let n = Int(inner) {
                    steps.append(.index(n))
                } else if (inner.hasPrefix("'") && inner.hasSuffix("'")) || (inner.hasPrefix("\"") && inner.hasSuffix("\"")) {
                    steps.append(.key(String(inner.dropFirst().dropLast())))
                } else if inner.hasPrefix("?(") && inner.hasSuffix(")") {
                    let expr = inner.dropFirst(2).dropLast()
                    let equal = !expr.contains("!=")
                    let parts = expr.components(separatedBy: equal ? "==" : "!=")
                    guard parts.count == 2 else { throw fail("unsupported filter \(inner)") }
                    var lhs = parts[0].trimmingCharacters(in: .whitespaces)
                    guard lhs.hasPrefix("@.") else { throw fail("filter must start with @.") }
                    lhs.removeFirst(2)
                    var rhs = parts[1].trimmingCharacters(in: .whitespaces)
                    if (rhs.hasPrefix("\"") && rhs.hasSuffix("\"")) || (rhs.hasPrefix("'") && rhs.hasSuffix("'")) {
                        rhs = String(rhs.dropFirst().dropLast())
                    }
                    steps.append(.filter(path: lhs.split(separator: ".").map(String.init), value: rhs, equal: equal))
                } else {
                    throw fail("unsupported subscript [\(inner)]")
                }
            } else {
                // A bare leading name: "metadata.name".
                var name = ""
                while i < s.endIndex, s[i] != ".", s[i] != "[" {
                    name.append(s[i])
                    i = s.index(after: i)
                }
                steps.append(.key(name))
            }
        }
        self.steps = steps
    }

    static func closingBracket(_ s: String, from start: String.Index) -> String.Index? {
        var depth = 0
        var quote: Character?
        var i = start
        while i < s.endIndex {
            let c = s[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "[" {
                depth += 1
            } else if c == "]" {
                depth -= 1
                if depth == 0 { return i }
            }
            i = s.index(after: i)
        }
        return nil
    }

    /// Every value the path selects.
    public func evaluate(_ value: JSONValue) -> [JSONValue] {
        var current = [value]
        for step in steps {
            var next: [JSONValue] = []
            for v in current {
                switch step {
                case .key(let k):
                    if let child = v[k] { next.append(child) }
                case .index(let n):
                    if let a = v.arrayValue {
                        let idx = n < 0 ? a.count + n : n
                        if a.indices.contains(idx) { next.append(a[idx]) }
                    }
                case .all:
                    if let a = v.arrayValue { next.append(contentsOf: a) } else if let o = v.objectValue { next.append(contentsOf: o.values) }
                case .filter(let path, let value, let equal):
                    for item in v.arrayValue ?? [] {
                        let actual = item[path: path]
                        let text: String? = actual.flatMap { a in
                            switch a {
                            case .string(let s): return s
                            case .int(let i): return String(i)
                            case .bool(let b): return String(b)
                            case .double(let d): return String(d)
                            default: return nil
                            }
                        }
                        if (text == value) == equal { next.append(item) }
                    }
                }
            }
            current = next
        }
        return current
    }
}
