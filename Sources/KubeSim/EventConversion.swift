import KubeClient

/// events.k8s.io/v1 and core/v1 Events are two views of the same objects (as
/// in Kubernetes): KubeSim stores the core form and converts at the edge, so
/// an event written through either API shows in `kubectl describe`.
enum EventConversion {
    static let v1Key = "events.k8s.io/events"
    static let coreKey = "/events"

    static func toCore(_ v: JSONValue) -> JSONValue {
        var c = v
        for k in ["regarding", "note", "reportingController", "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"] { c[k] = nil }
        c["apiVersion"] = "v1"
        c["kind"] = "Event"
        if let r = v["regarding"] { c["involvedObject"] = r }
        if let n = v["note"] { c["message"] = n }
        if let rc = v["reportingController"] {
            c["reportingComponent"] = rc
            c["source"] = ["component": rc]
        }
        c["count"] = v[path: ["series", "count"]] ?? v["deprecatedCount"] ?? .int(1)
        if let first = v["deprecatedFirstTimestamp"] { c["firstTimestamp"] = first }
        if let last = v["deprecatedLastTimestamp"] { c["lastTimestamp"] = last }
        return c
    }

    static func toV1(_ c: JSONValue) -> JSONValue {
        var v = c
        for k in ["involvedObject", "message", "reportingComponent", "source", "count", "firstTimestamp", "lastTimestamp"] { v[k] = nil }
        v["apiVersion"] = "events.k8s.io/v1"
        v["kind"] = "Event"
        if let r = c["involvedObject"] { v["regarding"] = r }
        if let m = c["message"] { v["note"] = m }
        if let rc = c["reportingComponent"] ?? c[path: ["source", "component"]] { v["reportingController"] = rc }
        if let n = c["count"] { v["deprecatedCount"] = n }
        if let f = c["firstTimestamp"] { v["deprecatedFirstTimestamp"] = f }
        if let l = c["lastTimestamp"] { v["deprecatedLastTimestamp"] = l }
        return v
    }
}
