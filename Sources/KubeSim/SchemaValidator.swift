import Foundation
import KubeClient

/// Structural OpenAPI v3 schemas as CRDs declare them: apply defaults, prune
/// (or, with `strict`, reject) unknown fields, and check types, required
/// fields, enums, ranges, lengths, patterns and date-time formats. Errors are
/// field causes like the real API server's (`spec.mysql.port: Invalid value…`).
public enum SchemaValidator {
    /// Defaults, prunes and validates `value` in place; returns the causes found.
    public static func apply(_ schema: JSONValue, to value: inout JSONValue, strict: Bool, path: String = "") -> [APIStatus.Cause] {
        var causes: [APIStatus.Cause] = []
        walk(schema, &value, path, strict: strict, root: path.isEmpty, &causes)
        return causes
    }

    static func cause(_ field: String, _ reason: String, _ message: String) -> APIStatus.Cause {
        APIStatus.Cause(reason: reason, message: message, field: field.isEmpty ? "<root>" : field)
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func walk(_ schema: JSONValue, _ value: inout JSONValue, _ path: String, strict: Bool, root: Bool, _ causes: inout [APIStatus.Cause]) {
        if case .null = value, schema["nullable"]?.boolValue == true { return }
        // An int-or-string has no type; its other checks apply as JSON Schema says: minimum and
        // maximum to the integer, pattern and lengths to the string.
        let intOrString = schema["x-kubernetes-int-or-string"]?.boolValue == true
        if intOrString {
            switch value {
            case .int, .string: break
            default:
                causes.append(cause(path, "FieldValueTypeInvalid", "Invalid value: \"\(typeName(value))\": must be an integer or a string"))
                return
            }
        }
        if let branches = schema["anyOf"]?.arrayValue, !branches.contains(where: { branch in
            var copy = value
            var found: [APIStatus.Cause] = []
            // A branch constrains; it does not declare the object's fields.
            walk(branch, &copy, path, strict: false, root: false, &found)
            return found.isEmpty
        }) {
            causes.append(cause(path, "FieldValueInvalid", "Invalid value: \(JSONWire.string(value)): \(path) in body must match at least one schema in anyOf"))
            return
        }
        let type = intOrString ? nil : schema["type"]?.stringValue
        if let type {
            let actual = typeName(value)
            let ok = actual == type || (type == "number" && actual == "integer") || (type == "integer" && value.intValue != nil && actual == "number")
            if !ok {
                causes.append(cause(path, "FieldValueTypeInvalid", "Invalid value: \"\(actual)\": \(path.isEmpty ? "body" : path) in body must be of type \(type): \"\(actual)\""))
                return
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            let list = options.map { JSONWire.string($0) }.joined(separator: ", ")
            causes.append(cause(path, "FieldValueNotSupported", "Unsupported value: \(JSONWire.string(value)): supported values: \(list)"))
        }
        switch value {
        case .object(var object):
            let properties = schema["properties"]?.objectValue ?? [:]
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
            let additional = schema["additionalProperties"]
            for (name, propertySchema) in properties where object[name] == nil {
                if let d = propertySchema["default"] { object[name] = d }
            }
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[required] == nil {
                causes.append(cause(join(path, required), "FieldValueRequired", "Required value"))
            }
            for (name, child) in object {
                let childPath = join(path, name)
                if root && (name == "apiVersion" || name == "kind" || name == "metadata") { continue }
                var v = child
                if let propertySchema = properties[name] {
                    walk(propertySchema, &v, childPath, strict: strict, root: false, &causes)
                    object[name] = v
                } else if let additional, case .object = additional {
                    walk(additional, &v, childPath, strict: strict, root: false, &causes)
                    object[name] = v
                } else if preserve || additional?.boolValue == true {
                    continue
                } else if strict {
                    causes.append(cause(childPath, "FieldValueInvalid", "unknown field \"\(childPath)\""))
                } else {
                    object.removeValue(forKey: name)
                }
            }
            value = .object(object)
        case .array(var items):
            if let min = schema["minItems"]?.intValue, items.count < min { causes.append(cause(path, "FieldValueInvalid", "should have at least \(min) items")) }
            if let max = schema["maxItems"]?.intValue, items.count > max { causes.append(cause(path, "TooMany", "must have at most \(max) items")) }
            if let itemSchema = schema["items"] {
                for i in items.indices { walk(itemSchema, &items[i], "\(path)[\(i)]", strict: strict, root: false, &causes) }
            }
            value = .array(items)
        case .string(let s):
            if let min = schema["minLength"]?.intValue, s.count < min { causes.append(cause(path, "FieldValueInvalid", "Invalid value: \"\(s)\": \(path) in body should be at least \(min) chars long")) }
            if let max = schema["maxLength"]?.intValue, s.count > max { causes.append(cause(path, "TooLong", "Too long: may not be longer than \(max)")) }
            if let pattern = schema["pattern"]?.stringValue, let re = try? NSRegularExpression(pattern: pattern), re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil {
                causes.append(cause(path, "FieldValueInvalid", "Invalid value: \"\(s)\": \(path) in body should match '\(pattern)'"))
            }
            if schema["format"]?.stringValue == "date-time", Timestamps.parse(s) == nil {
                causes.append(cause(path, "FieldValueInvalid", "Invalid value: \"\(s)\": \(path) in body must be of type date-time"))
            }
        case .int, .double:
            let d = value.doubleValue ?? 0
            if let min = schema["minimum"]?.doubleValue, d < min { causes.append(cause(path, "FieldValueInvalid", "Invalid value: \(JSONWire.string(value)): \(path) in body should be greater than or equal to \(JSONWire.string(schema["minimum"]!))")) }
            if let max = schema["maximum"]?.doubleValue, d > max { causes.append(cause(path, "FieldValueInvalid", "Invalid value: \(JSONWire.string(value)): \(path) in body should be less than or equal to \(JSONWire.string(schema["maximum"]!))")) }
        default:
            break
        }
    }

    static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
}
