import Foundation

/// The gateway's counters, served as Prometheus text on its metrics port.
final class GatewayMetrics: Sendable {
    private let counters = Locked<[String: Int64]>([:])

    func add(_ name: String, _ value: Int64 = 1, kind: String? = nil) {
        let key = kind.map { "\(name){kind=\"\($0)\"}" } ?? name
        counters.withLock { $0[key, default: 0] += value }
    }

    func value(_ name: String, kind: String? = nil) -> Int64 {
        counters.withLock { $0[kind.map { "\(name){kind=\"\($0)\"}" } ?? name] ?? 0 }
    }

    static let help: [String: String] = [
        "ferry_gateway_target_hits_total": "GET and HEAD requests served from the target",
        "ferry_gateway_source_hits_total": "GET and HEAD requests served from the source (a miss on the target)",
        "ferry_gateway_misses_total": "GET and HEAD requests for a key on neither side (or deleted)",
        "ferry_gateway_backfilled_bytes_total": "bytes copied to the target after a source hit",
        "ferry_gateway_backfilled_objects_total": "objects copied to the target after a source hit",
        "ferry_gateway_writes_total": "PUT, multipart completions and DELETE applied to the target",
        "ferry_gateway_errors_total": "requests refused or failed, by kind",
    ]

    /// The text exposition format.
    func text() -> String {
        let all = counters.withLock { $0 }
        var out = ""
        for (name, help) in Self.help.sorted(by: { $0.key < $1.key }) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
            let series = all.filter { $0.key == name || $0.key.hasPrefix(name + "{") }
            if series.isEmpty { out += "\(name) 0\n" }
            for (k, v) in series.sorted(by: { $0.key < $1.key }) { out += "\(k) \(v)\n" }
        }
        return out
    }
}
