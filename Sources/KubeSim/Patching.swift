import Foundation
import KubeClient

/// The three patch formats the API server accepts.
public enum Patching {
    /// A patch that could not be applied; becomes a 422 (or 409 for a failed JSON-patch `test`).
    public struct PatchError: Error, CustomStringConvertible, Sendable {
        public let description: String
        public let isTestFailure: Bool
        init(_ s: String, test: Bool = false) {
            description = s
            isTestFailure = test
        }
    }

    // MARK: JSON merge patch (RFC 7386)

    /// Objects merge recursively, `null` deletes a key, anything else replaces.
    public static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var result: [String: JSONValue] = target.objectValue ?? [:]
        for (k, v) in p {
            if case .null = v {
                result.removeValue(forKey: k)
            } else {
                result[k] = mergePatch(result[k] ?? .null, v)
            }
        }
        return .object(result)
    }

    // MARK: JSON patch (RFC 6902)

    public static func jsonPatch(_ target: JSONValue, _ operations: JSONValue) throws -> JSONValue {
        guard case .array(let ops) = operations else { throw PatchError("a JSON patch must be a list of operations") }
        var doc = target
        for (i, op) in ops.enumerated() {
            guard let name = op["op"]?.stringValue else { throw PatchError("operation \(i): missing \"op\"") }
            guard let pathText = op["path"]?.stringValue else { throw PatchError("operation \(i): missing \"path\"") }
            let path = try pointer(pathText)
            switch name {
            case "add":
                guard let value = op["value"] else { throw PatchError("operation \(i): add needs \"value\"") }
                doc = try add(doc, path[...], value)
            case "remove":
                doc = try remove(doc, path[...])
            case "replace":
                guard let value = op["value"] else { throw PatchError("operation \(i): replace needs \"value\"") }
                _ = try get(doc, path[...])
                doc = try remove(doc, path[...])
                doc = try add(doc, path[...], value)
            case "move":
                guard let fromText = op["from"]?.stringValue else { throw PatchError("operation \(i): move needs \"from\"") }
                let from = try pointer(fromText)
                let value = try get(doc, from[...])
                doc = try remove(doc, from[...])
                doc = try add(doc, path[...], value)
            case "copy":
                guard let fromText = op["from"]?.stringValue else { throw PatchError("operation \(i): copy needs \"from\"") }
                doc = try add(doc, path[...], try get(doc, try pointer(fromText)[...]))
            case "test":
                let actual = try get(doc, path[...])
                guard actual == (op["value"] ?? .null) else {
                    throw PatchError("test operation \(i) failed at \(pathText)", test: true)
                }
            default:
                throw PatchError("operation \(i): unknown op \"\(name)\"")
            }
        }
        return doc
    }

    static func pointer(_ s: String) throws -> [String] {
        if s.isEmpty { return [] }
        guard s.hasPrefix("/") else { throw PatchError("path \"\(s)\" must start with /") }
        return s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func get(_ doc: JSONValue, _ path: ArraySlice<String>) throws -> JSONValue {
        guard let head = path.first else { return doc }
        switch doc {
        case .object(let o):
            guard let child = o[head] else { throw PatchError("path segment \"\(head)\" does not exist") }
            return try get(child, path.dropFirst())
        case .array(let a):
            guard let i = Int(head), a.indices.contains(i) else { throw PatchError("index \"\(head)\" is out of range") }
            return try get(a[i], path.dropFirst())
        default:
            throw PatchError("cannot descend into a scalar at \"\(head)\"")
        }
    }

    static func add(_ doc: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue) throws -> JSONValue {
        guard let head = path.first else { return value }
        let rest = path.dropFirst()
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[head] = value
            } else {
                guard let child = o[head] else { throw PatchError("path segment \"\(head)\" does not exist") }
                o[head] = try add(child, rest, value)
            }
            return .object(o)
        case .array(var a):
            if rest.isEmpty {
                if head == "-" {
                    a.append(value)
                } else {
                    guard let i = Int(head), i >= 0, i <= a.count else { throw PatchError("index \"\(head)\" is out of range") }
                    a.insert(value, at: i)
                }
            } else {
                guard let i = Int(head), a.indices.contains(i) else { throw PatchError("index \"\(head)\" is out of range") }
                a[i] = try add(a[i], rest, value)
            }
            return .array(a)
        default:
            throw PatchError("cannot add below a scalar at \"\(head)\"")
        }
    }

    static func remove(_ doc: JSONValue, _ path: ArraySlice<String>) throws -> JSONValue {
        guard let head = path.first else { throw PatchError("cannot remove the whole document") }
        let rest = path.dropFirst()
        switch doc {
        case .object(var o):
            guard let child = o[head] else { throw PatchError("path segment \"\(head)\" does not exist") }
            if rest.isEmpty { o.removeValue(forKey: head) } else { o[head] = try remove(child, rest) }
            return .object(o)
        case .array(var a):
            guard let i = Int(head), a.indices.contains(i) else { throw PatchError("index \"\(head)\" is out of range") }
            if rest.isEmpty { a.remove(at: i) } else { a[i] = try remove(a[i], rest) }
            return .array(a)
        default:
            throw PatchError("cannot remove below a scalar at \"\(head)\"")
        }
    }

    // MARK: Strategic merge patch

    /// Merge keys of the lists that built-in kinds merge by key rather than replace.
    static let mergeKeys: [String: String] = [
        "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
        "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
        "ports": "containerPort", "imagePullSecrets": "name", "conditions": "type",
        "hostAliases": "ip", "tolerations": "key", "ownerReferences": "uid",
    ]

    /// Lists merged as sets of scalars.
    static let setLists: Set<String> = ["finalizers"]

    /// Kubernetes strategic merge: like a merge patch, but lists with a merge
    /// key merge element by element (`$patch: delete` removes one), scalar-set
    /// lists union, and the directives kubectl sends (`$setElementOrder/…`,
    /// `$deleteFromPrimitiveList/…`, `$retainKeys`, `$patch: replace`) are honoured.
    public static func strategicMerge(_ target: JSONValue, _ patch: JSONValue) throws -> JSONValue {
        guard case .object(var p) = patch else { return patch }
        if p["$patch"]?.stringValue == "replace" {
            p.removeValue(forKey: "$patch")
            return .object(p)
        }
        if p["$patch"]?.stringValue == "delete" { return .null }
        var result: [String: JSONValue] = target.objectValue ?? [:]
        var retainKeys: [String]?
        if let keys = p.removeValue(forKey: "$retainKeys")?.arrayValue {
            retainKeys = keys.compactMap(\.stringValue)
        }
        var orders: [String: [JSONValue]] = [:]
        for (k, v) in p where k.hasPrefix("$setElementOrder/") {
            orders[String(k.dropFirst("$setElementOrder/".count))] = v.arrayValue ?? []
            p.removeValue(forKey: k)
        }
        for (k, v) in p where k.hasPrefix("$deleteFromPrimitiveList/") {
            let field = String(k.dropFirst("$deleteFromPrimitiveList/".count))
            let remove = Set(v.arrayValue ?? [])
            if let list = result[field]?.arrayValue { result[field] = .array(list.filter { !remove.contains($0) }) }
            p.removeValue(forKey: k)
        }
        for (k, v) in p {
            if case .null = v {
                result.removeValue(forKey: k)
                continue
            }
            if case .array(let patchList) = v {
                if let mergeKey = mergeKeys[k], patchList.allSatisfy({ $0.objectValue != nil }) {
                    result[k] = try mergeList(result[k]?.arrayValue ?? [], patchList, key: mergeKey)
                } else if setLists.contains(k) {
                    var seen = Set<JSONValue>()
                    var merged: [JSONValue] = []
                    for item in (result[k]?.arrayValue ?? []) + patchList where seen.insert(item).inserted { merged.append(item) }
                    result[k] = .array(merged)
                } else {
                    result[k] = v
                }
                continue
            }
            if case .object = v, let existing = result[k], case .object = existing {
                let merged = try strategicMerge(existing, v)
                if case .null = merged { result.removeValue(forKey: k) } else { result[k] = merged }
            } else if case .object = v {
                let merged = try strategicMerge(.emptyObject, v)
                if case .null = merged { result.removeValue(forKey: k) } else { result[k] = merged }
            } else {
                result[k] = v
            }
        }
        for (field, order) in orders {
            guard let list = result[field]?.arrayValue, let mergeKey = mergeKeys[field] else { continue }
            let rank = Dictionary(order.enumerated().compactMap { i, v in v[mergeKey].map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
            result[field] = .array(list.enumerated().sorted { a, b in
                (rank[a.element[mergeKey] ?? .null] ?? Int.max, a.offset) < (rank[b.element[mergeKey] ?? .null] ?? Int.max, b.offset)
            }.map(\.element))
        }
        if let retainKeys {
            let keep = Set(retainKeys)
            for k in result.keys where !keep.contains(k) && p[k] == nil { result.removeValue(forKey: k) }
        }
        return .object(result)
    }

    static func mergeList(_ current: [JSONValue], _ patch: [JSONValue], key: String) throws -> JSONValue {
        var result = current
        for item in patch {
            guard let keyValue = item[key] else {
                result.append(item)
                continue
            }
            let index = result.firstIndex { $0[key] == keyValue }
            if item["$patch"]?.stringValue == "delete" {
                if let index { result.remove(at: index) }
                continue
            }
            if let index {
                result[index] = try strategicMerge(result[index], item)
            } else {
                var clean = item
                if case .object(var o) = clean {
                    o.removeValue(forKey: "$patch")
                    clean = .object(o)
                }
                result.append(clean)
            }
        }
        return .array(result)
    }
}
