/// The target's CREATE TABLE from the source's: the engine rewritten (MergeTree family →
/// its Replicated form with a ZooKeeper path and replica macro; Distributed without a sharding
/// key → `rand()`, on the target's cluster), everything else — columns, PARTITION BY, ORDER BY,
/// TTL, SETTINGS — kept as written. An engine it cannot move is refused by name. Pure.
enum EngineRewrite {
    struct Options: Equatable {
        /// Replicated engines: the ZooKeeper path, `{database}` and `{table}` filled in here,
        /// `{shard}` (and any macro) left to the server.
        var zookeeperPath = "/clickhouse/tables/{shard}/{database}/{table}"
        var replica = "{replica}"
        /// Distributed tables: the target's cluster (nil: the source's), and the key for those with none.
        var cluster: String?
        var shardingKeyDefault = "rand()"
    }

    static let mergeTrees: Set<String> = ["MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree", "CollapsingMergeTree",
                                          "VersionedCollapsingMergeTree", "GraphiteMergeTree"]

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
        let engine: String
        if mergeTrees.contains(name) {
            let path = options.zookeeperPath.replacingOccurrences(of: "{database}", with: database).replacingOccurrences(of: "{table}", with: table)
            engine = "Replicated\(name)(" + (["'\(escape(path))'", "'\(escape(options.replica))'"] + args).joined(separator: ", ") + ")"
        } else if name.hasPrefix("Replicated") && mergeTrees.contains(String(name.dropFirst("Replicated".count))) {
            engine = args.isEmpty ? name : "\(name)(\(args.joined(separator: ", ")))"
        } else if name == "Distributed" {
            guard args.count >= 3 else { return .failure(.configuration("\(database).\(table): Distributed needs cluster, database and table")) }
            var a = args
            if let cluster = options.cluster { a[0] = "'\(escape(cluster))'" }
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

    static func escape(_ s: String) -> String { ClickHouseText.escape(s) }
}
