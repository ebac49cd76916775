import Foundation
import KubeClient

/// Turns objects into `meta.k8s.io/v1 Table`s, as kubectl asks for with
/// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`: Name, the CRD's
/// additionalPrinterColumns (or a built-in kind's usual columns), Age.
enum TableConverter {
    struct Column: Sendable {
        var definition: JSONValue
        var cell: @Sendable (JSONValue, Date) -> JSONValue
    }

    static func definition(_ name: String, _ type: String, _ description: String = "", priority: Int = 0, format: String = "") -> JSONValue {
        ["name": .string(name), "type": .string(type), "format": .string(format), "description": .string(description), "priority": .int(Int64(priority))]
    }

    static let nameColumn = Column(
        definition: definition("Name", "string", "Name must be unique within a namespace.", format: "name"),
        cell: { o, _ in .string(o.name ?? "") })

    static let ageColumn = Column(
        definition: definition("Age", "string", "CreationTimestamp is a timestamp representing the server time when this object was created."),
        cell: { o, now in age(o[path: ["metadata", "creationTimestamp"]]?.stringValue, now: now) })

    static func age(_ timestamp: String?, now: Date) -> JSONValue {
        guard let ts = timestamp, let date = Timestamps.parse(ts) else { return "<unknown>" }
        return .string(humanDuration(now.timeIntervalSince(date)))
    }

    /// kubectl's HumanDuration: 5s, 3m20s, 2h, 4d5h, 2y.
    static func humanDuration(_ interval: TimeInterval) -> String {
        let seconds = Int(interval.rounded(.down))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let days = hours / 24
            return days % 365 == 0 ? "\(days / 365)y" : "\(days / 365)y\(days % 365)d"
        }
        return "\(hours / 24 / 365)y"
    }

    static func int(_ v: JSONValue?) -> Int64 { v?.intValue ?? 0 }

    /// Columns for a resource at a version.
    static func columns(_ type: ResourceType, version: String) -> [Column] {
        if type.isCustom {
            let custom = (type.printerColumns[version] ?? []).map { c -> Column in
                let path = try? JSONPath(c.jsonPath)
                return Column(
                    definition: definition(c.name, c.type == "date" ? "string" : c.type, c.description, priority: c.priority, format: c.format),
                    cell: { o, now in
                        guard let value = path?.evaluate(o).first else { return .null }
                        switch c.type {
                        case "date": return age(value.stringValue, now: now)
                        case "integer": return value.intValue.map { .int($0) } ?? .null
                        case "number": return value.doubleValue.map { .double($0) } ?? .null
                        case "boolean": return value.boolValue.map { .bool($0) } ?? .null
                        default:
                            if let s = value.stringValue { return .string(s) }
                            return .string(JSONWire.string(value))
                        }
                    })
            }
            let hasAge = custom.contains { $0.definition["name"]?.stringValue == "Age" }
            return [nameColumn] + custom + (hasAge ? [] : [ageColumn])
        }
        switch type.key {
        case "/pods":
            return [
                nameColumn,
                Column(definition: definition("Ready", "string"), cell: { o, _ in
                    let statuses = o[path: ["status", "containerStatuses"]]?.arrayValue ?? []
                    let total = max(statuses.count, o[path: ["spec", "containers"]]?.arrayValue?.count ?? 0)
                    let ready = statuses.filter { $0["ready"]?.boolValue == true }.count
                    return .string("\(ready)/\(total)")
                }),
                Column(definition: definition("Status", "string"), cell: { o, _ in
                    if o[path: ["metadata", "deletionTimestamp"]] != nil { return "Terminating" }
                    for s in o[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
                        if let r = s[path: ["state", "waiting", "reason"]]?.stringValue { return .string(r) }
                        if let r = s[path: ["state", "terminated", "reason"]]?.stringValue { return .string(r) }
                    }
                    return .string(o[path: ["status", "phase"]]?.stringValue ?? "Pending")
                }),
                Column(definition: definition("Restarts", "string"), cell: { o, _ in
                    .string(String((o[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reduce(0) { $0 + int($1["restartCount"]) }))
                }),
                ageColumn,
            ]
        case "apps/deployments", "apps/statefulsets":
            var cols = [
                nameColumn,
                Column(definition: definition("Ready", "string"), cell: { o, _ in
                    .string("\(int(o[path: ["status", "readyReplicas"]]))/\(o[path: ["spec", "replicas"]]?.intValue ?? 1)")
                }),
            ]
            if type.plural == "deployments" {
                cols.append(Column(definition: definition("Up-to-date", "integer"), cell: { o, _ in .int(int(o[path: ["status", "updatedReplicas"]])) }))
                cols.append(Column(definition: definition("Available", "integer"), cell: { o, _ in .int(int(o[path: ["status", "availableReplicas"]])) }))
            }
            return cols + [ageColumn]
        case "batch/jobs":
            return [
                nameColumn,
                Column(definition: definition("Status", "string"), cell: { o, _ in
                    for c in o[path: ["status", "conditions"]]?.arrayValue ?? [] where c["status"]?.stringValue == "True" {
                        if c["type"]?.stringValue == "Complete" { return "Complete" }
                        if c["type"]?.stringValue == "Failed" { return "Failed" }
                    }
                    return "Running"
                }),
                Column(definition: definition("Completions", "string"), cell: { o, _ in
                    .string("\(int(o[path: ["status", "succeeded"]]))/\(o[path: ["spec", "completions"]]?.intValue ?? 1)")
                }),
                ageColumn,
            ]
        case "/configmaps":
            return [nameColumn, Column(definition: definition("Data", "integer"), cell: { o, _ in .int(Int64((o["data"]?.objectValue?.count ?? 0) + (o["binaryData"]?.objectValue?.count ?? 0))) }), ageColumn]
        case "/secrets":
            return [
                nameColumn,
                Column(definition: definition("Type", "string"), cell: { o, _ in .string(o["type"]?.stringValue ?? "Opaque") }),
                Column(definition: definition("Data", "integer"), cell: { o, _ in .int(Int64(o["data"]?.objectValue?.count ?? 0)) }),
                ageColumn,
            ]
        case "/namespaces":
            return [nameColumn, Column(definition: definition("Status", "string"), cell: { o, _ in .string(o[path: ["status", "phase"]]?.stringValue ?? "Active") }), ageColumn]
        case "coordination.k8s.io/leases":
            return [nameColumn, Column(definition: definition("Holder", "string"), cell: { o, _ in .string(o[path: ["spec", "holderIdentity"]]?.stringValue ?? "") }), ageColumn]
        default:
            return [nameColumn, ageColumn]
        }
    }

    static func partialMetadata(_ o: JSONValue) -> JSONValue {
        ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"] ?? .emptyObject]
    }

    /// A Table of `objects`. `includeColumns` false omits the column definitions (later watch events).
    static func table(_ type: ResourceType, version: String, objects: [JSONValue], resourceVersion: String?, continueToken: String? = nil, now: Date) -> JSONValue {
        let cols = columns(type, version: version)
        let rows: [JSONValue] = objects.map { o in
            ["cells": .array(cols.map { $0.cell(o, now) }), "object": partialMetadata(o)]
        }
        var meta: JSONValue = .emptyObject
        if let resourceVersion { meta["resourceVersion"] = .string(resourceVersion) }
        if let continueToken { meta["continue"] = .string(continueToken) }
        return [
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": .array(cols.map(\.definition)), "rows": .array(rows),
        ]
    }
}
