import KubeClient

/// What the real API server refuses that KubeSim would otherwise store: label
/// keys and values out of format (a value over 63 characters), pods and Jobs
/// without containers. Messages as the API server words them.
enum BuiltinValidation {
    static func causes(_ type: ResourceType, _ obj: JSONValue) -> [APIStatus.Cause] {
        var out: [APIStatus.Cause] = []
        for (key, value) in obj[path: ["metadata", "labels"]]?.objectValue ?? [:] {
            let text = value.stringValue ?? ""
            if let problem = labelValueProblem(text) {
                out.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(text)\": \(problem)", field: "metadata.labels"))
            }
            if let problem = labelKeyProblem(key) {
                out.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(key)\": \(problem)", field: "metadata.labels"))
            }
        }
        switch type.key {
        case "/pods":
            if (obj[path: ["spec", "containers"]]?.arrayValue ?? []).isEmpty {
                out.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.containers"))
            }
        case "batch/jobs":
            if (obj[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []).isEmpty {
                out.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.template.spec.containers"))
            }
        default:
            break
        }
        return out
    }

    static func labelValueProblem(_ v: String) -> String? {
        if v.utf8.count > 63 { return "must be no more than 63 characters" }
        guard !v.isEmpty else { return nil }
        let ok = v.utf8.allSatisfy { isAlnum($0) || $0 == 45 || $0 == 95 || $0 == 46 } && isAlnum(v.utf8.first!) && isAlnum(v.utf8.last!)
        return ok ? nil : "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    }

    static func labelKeyProblem(_ k: String) -> String? {
        let parts = k.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last else { return "a qualified name must consist of alphanumeric characters, '-', '_' or '.'" }
        if parts.count == 2 && (parts[0].isEmpty || parts[0].utf8.count > 253) { return "prefix part must be a DNS-1123 subdomain" }
        if name.isEmpty || name.utf8.count > 63 { return "name part must be no more than 63 characters" }
        return labelValueProblem(String(name)).map { _ in "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" }
    }

    static func isAlnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
}
