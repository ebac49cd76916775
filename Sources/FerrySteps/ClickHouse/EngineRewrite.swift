import FerryProtocol
import Foundation

/// The target's CREATE TABLE from the source's: the engine rewritten as `spec.clickhouse.copy
/// .engineMap` says (a MergeTree-family engine → its Replicated form with a ZooKeeper path and
/// replica macro; unmapped engines kept), a Distributed table without a sharding key given one
/// (`rand()`) and the target's cluster; everything else — columns, PARTITION BY, ORDER BY, TTL,
/// SETTINGS — kept as written. An engine it cannot move is refused by name. Pure.
enum EngineRewrite {
    /// Where a mapped engine's replicas meet.
    struct Replication: Equatable, Sendable {
        /// `{database}` and `{table}` filled in here; `{shard}` (and any macro) left to the server.
        var zookeeperPath = "/clickhouse/tables/{shard}/{database}/{table}"
        var replica = "{replica}"
    }

    struct Options: Equatable, Sendable {
        /// Source engine → how it is replicated on the target; engines not named stay as they are.
        var replicate: [String: Replication] = [:]
        /// Distributed tables: the target's cluster (nil: the source's), and the key for those with none.
        var cluster: String?
        var shardingKeyDefault = "rand()"

        /// Every MergeTree engine replicated at the default path (tests, and what most estates want).
        static var replicatedEverywhere: Options {
            Options(replicate: Dictionary(uniqueKeysWithValues: ClickHouseNames.mergeTrees.map { ($0, Replication()) }))
        }

        /// From `--engine-map From=To[@path@replica]`; nil with the reason when one does not read.
        static func parse(_ entries: [String], cluster: String?, shardingKeyDefault: String) -> Result<Options, StepError> {
            var o = Options(cluster: cluster, shardingKeyDefault: shardingKeyDefault)
            for e in entries {
                let kv = e.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, ClickHouseNames.mergeTrees.contains(kv[0]) else {
                    return .failure(.configuration("--engine-map \"\(e)\" must be From=To with a MergeTree-family engine (spec.clickhouse.copy.engineMap)"))
                }
                let target = kv[1].split(separator: "@", omittingEmptySubsequences: false).map(String.init)
                if target[0] == kv[0] { continue }
                guard target[0] == "Replicated" + kv[0], target.count == 3, target[1].hasPrefix("/"), !target[2].isEmpty else {
                    return .failure(.configuration("--engine-map \"\(e)\": the target engine must be \(kv[0]) or Replicated\(kv[0])@zookeeperPath@replica (spec.clickhouse.copy.engineMap)"))
                }
                o.replicate[kv[0]] = Replication(zookeeperPath: target[1], replica: target[2])
            }
            return .success(o)
        }
    }

    /// The engine's name in a CREATE TABLE (`MergeTree` for `ENGINE = MergeTree(…)`), "" when none.
    static func engineName(_ create: String) -> String {
        guard let e = create.range(of: " ENGINE = ") else { return "" }
        return String(create[e.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" })
    }

    /// The rewritten statement, or why it cannot be moved.
    static func rewrite(_ create: String, database: String, table: String, options: Options = Options()) -> Result<String, StepError> {
        guard let e = create.range(of: " ENGINE = ") else {
            return .failure(.configuration("\(database).\(table): its CREATE TABLE names no engine; it cannot be created on the target"))
        }
        let rest = create[e.upperBound...]
        let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
        var after = rest.dropFirst(name.count)
        var args: [String] = []
        if after.first == "(" {
            guard let (inside, remainder) = balanced(after) else {
                return .failure(.configuration("\(database).\(table): cannot read the arguments of engine \(name)"))
            }
            args = split(inside)
            after = remainder
        }
        let head = create[..<e.upperBound]
        let base = name.hasPrefix("Replicated") ? String(name.dropFirst("Replicated".count)) : name
        let engine: String
        if ClickHouseNames.mergeTrees.contains(base) {
            // A Replicated source keeps its own replication unless the map gives one (its first two arguments are path and replica).
            let own = name == base ? args : Array(args.dropFirst(2))
            if let r = options.replicate[base] {
                let path = r.zookeeperPath.replacingOccurrences(of: "{database}", with: database).replacingOccurrences(of: "{table}", with: table)
                engine = "Replicated\(base)(" + (["'\(ClickHouseText.escape(path))'", "'\(ClickHouseText.escape(r.replica))'"] + own).joined(separator: ", ") + ")"
            } else {
                engine = args.isEmpty && !rest.dropFirst(name.count).hasPrefix("(") ? name : "\(name)(\(args.joined(separator: ", ")))"
            }
        } else if name == "Distributed" {
            guard args.count >= 3 else { return .failure(.configuration("\(database).\(table): Distributed needs cluster, database and table")) }
            var a = args
            if let cluster = options.cluster { a[0] = "'\(ClickHouseText.escape(cluster))'" }
            if a.count == 3 { a.append(options.shardingKeyDefault) }
            engine = "Distributed(\(a.joined(separator: ", ")))"
        } else {
            return .failure(.configuration("\(database).\(table) uses engine \(name.isEmpty ? "?" : name), which Ferry does not move: only the MergeTree family and Distributed are copied; leave it out of spec.clickhouse.copy.tables"))
        }
        return .success(String(head) + engine + after)
    }

    /// `(…)` at the start of `s`: what is inside, and what follows. Quotes and nesting respected.
    static func balanced(_ s: Substring) -> (String, Substring)? {
        var depth = 0, quote: Character?, escaped = false
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if let q = quote {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == q { quote = nil }
            } else if c == "'" || c == "`" || c == "\"" {
                quote = c
            } else if c == "(" {
                depth += 1
            } else if c == ")" {
                depth -= 1
                if depth == 0 { return (String(s[s.index(after: s.startIndex)..<i]), s[s.index(after: i)...]) }
            }
            i = s.index(after: i)
        }
        return nil
    }

    /// Top-level comma-separated arguments.
    static func split(_ s: String) -> [String] {
        var out: [String] = [], current = "", depth = 0, quote: Character?, escaped = false
        for c in s {
            if let q = quote {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == q { quote = nil }
                current.append(c)
                continue
            }
            switch c {
            case "'", "`", "\"": quote = c; current.append(c)
            case "(": depth += 1; current.append(c)
            case ")": depth -= 1; current.append(c)
            case "," where depth == 0: out.append(current.trimmingCharacters(in: .whitespaces)); current = ""
            default: current.append(c)
            }
        }
        let last = current.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty { out.append(last) }
        return out
    }
}
