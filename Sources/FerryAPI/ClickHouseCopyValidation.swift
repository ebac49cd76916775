import FerryProtocol
import Foundation

/// What is wrong with `spec.clickhouse.copy`, field by field, before anything runs. Pure.
extension ClickHouseCopySpec {
    public func problems() -> [ValidationError] {
        var errors: [ValidationError] = []
        func fail(_ field: String, _ message: String) { errors.append(ValidationError("spec.clickhouse.copy." + field, message)) }
        if source.shards.isEmpty || source.shards.contains(where: \.isEmpty) { fail("source.shards", "needs at least one shard, each with at least one host:port") }
        for (i, shard) in source.shards.enumerated() {
            for (j, r) in shard.enumerated() {
                let parts = r.split(separator: ":", omittingEmptySubsequences: false)
                let hostOK = parts.count == 2 && !parts[0].isEmpty && parts[0].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }
                if !hostOK || Int(parts.last ?? "").map({ !(1...65_535).contains($0) }) ?? true {
                    fail("source.shards[\(i)][\(j)]", "\"\(r)\" must be host:port, the source's native port (9000) as the target server reaches it")
                }
            }
        }
        let all = source.shards.flatMap { $0 }
        if let twice = Dictionary(grouping: all, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            fail("source.shards", "names \(twice) twice: its rows would be read twice; name each server once, the replicas of a shard in one list")
        }
        if source.credentialsSecret.isEmpty { fail("source.credentialsSecret", "is empty; name a Secret with username and password of a user that may read the tables on the source") }
        if tables.isEmpty { fail("tables", "lists no table; name them as db.table, or db.* for all of a database's") }
        for (i, t) in tables.enumerated() where Self.tablePattern(t) == nil {
            fail("tables[\(i)]", "\"\(t)\" must be db.table or a pattern db.* / db.prefix_* (letters, digits, _; * only in the table part)")
        }
        if Set(tables).count != tables.count { fail("tables", "names a table twice") }
        if let c = concurrency {
            for p in c.problems(field: "concurrency") { errors.append(ValidationError("spec.clickhouse.copy." + p.field, p.message)) }
        }
        if let split {
            MigrationSpec.checkRange(split.minRows, 1...Int.max, "spec.clickhouse.copy.split.minRows", &errors)
            MigrationSpec.checkRange(split.pieces, 2...256, "spec.clickhouse.copy.split.pieces", &errors)
            if split.by.isEmpty || !split.by.allSatisfy(Self.isIdentifier) { fail("split.by", "must name columns (letters, digits, _)") }
        }
        if let v = verify, Self.verifyColumns(v) == nil {
            fail("verify", "\"\(v)\" is not count, distinct (the sorting key) or distinct(column, …)")
        }
        MigrationSpec.checkRange(rounds, 1...20, "spec.clickhouse.copy.rounds", &errors)
        var seen: Set<String> = []
        for (i, m) in (engineMap ?? []).enumerated() {
            let field = "engineMap[\(i)]"
            if !Self.mergeTrees.contains(m.from) {
                fail("\(field).from", "\"\(m.from)\" is not a MergeTree-family engine; one of \(Self.mergeTrees.sorted().joined(separator: ", "))")
            } else if m.to != m.from && m.to != "Replicated" + m.from {
                fail("\(field).to", "\"\(m.to)\" must be \(m.from) or Replicated\(m.from): an engine keeps its kind, only replication is added")
            }
            if !seen.insert(m.from).inserted { fail("\(field).from", "\(m.from) is mapped twice") }
            if let p = m.zookeeperPath, !p.hasPrefix("/") || p.contains(where: { "'\\@".contains($0) }) || p.hasSuffix("/") {
                fail("\(field).zookeeperPath", "\"\(p)\" must be an absolute ZooKeeper path without quotes or trailing /, e.g. /clickhouse/tables/{shard}/{database}/{table}")
            }
            if let r = m.replica, r.isEmpty || r.contains(where: { "'\\@".contains($0) }) { fail("\(field).replica", "must be a replica name or macro such as {replica}") }
            if m.to == m.from && (m.zookeeperPath != nil || m.replica != nil) { fail("\(field).zookeeperPath", "applies only to a Replicated target engine") }
        }
        if let d = distributed {
            if let c = d.cluster, c.isEmpty || !Self.isIdentifier(c) { fail("distributed.cluster", "\"\(c)\" must be a cluster name from the target's remote_servers (letters, digits, _)") }
            if let k = d.shardingKeyDefault, k.isEmpty || k.contains(";") || k.contains("'") { fail("distributed.shardingKeyDefault", "must be an expression such as rand()") }
        }
        if let inc = incremental {
            MigrationSpec.checkRange(inc.lastPartitions, 1...10_000, "spec.clickhouse.copy.incremental.lastPartitions", &errors)
            if let e = inc.every, Self.seconds(e).map({ $0 < 1 || $0 > 86_400 }) ?? true {
                fail("incremental.every", "\"\(e)\" must be a duration between 1s and 24h, e.g. 30s, 5m, 1h")
            }
        }
        return errors
    }

    static let mergeTrees = ClickHouseNames.mergeTrees
    static func isIdentifier(_ s: some StringProtocol) -> Bool { ClickHouseNames.isIdentifier(s) }
    static func tablePattern(_ s: String) -> (database: String, table: String)? { ClickHouseNames.tablePattern(s) }
    static func verifyColumns(_ s: String) -> [String]? { ClickHouseNames.verifyColumns(s) }

    /// `30s`, `5m`, `1h`, `90` (seconds) as seconds; nil when unreadable.
    public static func seconds(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
        if let last = t.last, let unit = units[last] { return Int(t.dropLast()).map { $0 * unit } }
        return Int(t)
    }

    /// The engine map as `ferry clickhouse schema --engine-map` takes it.
    public var engineMapArguments: [String] {
        (engineMap ?? []).map { m in
            m.to == m.from ? "\(m.from)=\(m.to)" : "\(m.from)=\(m.to)@\(m.zookeeperPath ?? Self.defaultZooKeeperPath)@\(m.replica ?? "{replica}")"
        }
    }

    public static let defaultZooKeeperPath = "/clickhouse/tables/{shard}/{database}/{table}"

    /// Whether some table is created with a Replicated engine (the target needs ZooKeeper).
    public var replicates: Bool { (engineMap ?? []).contains { $0.to != $0.from } }
}
