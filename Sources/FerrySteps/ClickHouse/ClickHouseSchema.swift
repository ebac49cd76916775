import FerryProtocol
import Foundation

/// `clickhouse-schema`: each source table's CREATE TABLE read through `remote()`, its engine
/// rewritten (``EngineRewrite``), and the table created on the target — `ON CLUSTER` the
/// target's cluster, so every replica gets it. Everything is checked before the first
/// statement runs: engines Ferry cannot move, a Distributed table whose local table differs
/// from it, a Replicated engine on a target without ZooKeeper or without the macros it names,
/// a ZooKeeper path other replicas already use, a target table with other columns.
struct ClickHouseSchema {
    let source: ClickHouseSource
    let options: EngineRewrite.Options
    var say: @Sendable (String) -> Void = { print($0) }

    var target: ClickHouseClient { source.target }

    /// One table's plan: the statements side by side, and whether the target already has it.
    struct Plan {
        var table: ClickHouseSource.Table
        var statement: String
        var exists: Bool
        var targetEngine: String { EngineRewrite.engineName(statement) }
    }

    func run(_ patterns: [String]) async throws -> ClickHouseSchemaResult {
        var plans = try await StepError.unchanged { try await plan(patterns) }
        // Local tables before the Distributed tables that point at them.
        plans.sort { ($0.table.engine == "Distributed" ? 1 : 0, $0.table.fullName) < ($1.table.engine == "Distributed" ? 1 : 0, $1.table.fullName) }
        var report: [ClickHouseSchemaResult.Table] = []
        for db in Set(plans.filter { !$0.exists }.map(\.table.database)).sorted() {
            try await target.query("CREATE DATABASE IF NOT EXISTS `\(db)`\(onCluster)")
        }
        for p in plans {
            say("\(p.table.fullName): \(p.exists ? "kept (the target has it with the same columns)" : "creating")\n  source: \(p.table.create)\n  target: \(p.statement)")
            if !p.exists {
                try await target.query(Self.ifNotExists(Self.onCluster(p.statement, options.cluster)))
            }
            report.append(.init(table: p.table.fullName, sourceEngine: p.table.engine, targetEngine: p.targetEngine, action: p.exists ? "kept" : "created",
                                source: p.table.create, target: p.statement))
        }
        return ClickHouseSchemaResult(tables: report, cluster: options.cluster).compacted()
    }

    /// Every table's statement, checked; nothing changed yet.
    func plan(_ patterns: [String]) async throws -> [Plan] {
        let tables = try await source.tables(patterns)
        var plans: [Plan] = []
        for t in tables {
            switch EngineRewrite.rewrite(t.create, database: t.database, table: t.name, options: options) {
            case .failure(let e): throw e
            case .success(let s): plans.append(Plan(table: t, statement: s, exists: try await exists(t)))
            }
        }
        try await checkDistributed(plans.map(\.table))
        try await checkTarget(plans)
        return plans
    }

    var onCluster: String { options.cluster.map { " ON CLUSTER `\($0)`" } ?? "" }

    /// `CREATE TABLE x.y ON CLUSTER c (…)`: the clause before the column list. Pure.
    static func onCluster(_ statement: String, _ cluster: String?) -> String {
        guard let cluster, let open = statement.firstIndex(of: "(") else { return statement }
        return statement[..<open].trimmingCharacters(in: .whitespaces) + " ON CLUSTER `\(cluster)` " + statement[open...]
    }

    /// A run cut off half-way (or a replica that already has it) creates what is missing only.
    static func ifNotExists(_ statement: String) -> String {
        statement.hasPrefix("CREATE TABLE IF NOT EXISTS ") ? statement : statement.replacingOccurrences(of: "CREATE TABLE ", with: "CREATE TABLE IF NOT EXISTS ", options: .anchored)
    }

    /// Whether the target has the table; refused when it has it with other columns.
    func exists(_ t: ClickHouseSource.Table) async throws -> Bool {
        let out = try await target.query("SELECT name, type FROM system.columns WHERE database = '\(ClickHouseText.escape(t.database))' AND table = '\(ClickHouseText.escape(t.name))' FORMAT TabSeparated")
        let theirs = Set(out.split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: " ") })
        guard !theirs.isEmpty else { return false }
        let ours = try await source.columns(t.database, t.name)
        guard ours == theirs else {
            let missing = ours.subtracting(theirs).sorted(), extra = theirs.subtracting(ours).sorted()
            throw StepError.beforeChange(.configuration("\(t.fullName) is on the target with other columns (the source has \(missing.prefix(3).joined(separator: ", ")) the target does not\(extra.isEmpty ? "" : "; the target has \(extra.prefix(3).joined(separator: ", "))")): "
                + "drop it on the target or make it match. Nothing was changed"))
        }
        // The same partitions, or a partition dropped to copy it would not be the one copied.
        let key = try await target.query("SELECT partition_key FROM system.tables WHERE database = '\(ClickHouseText.escape(t.database))' AND name = '\(ClickHouseText.escape(t.name))' FORMAT TabSeparated")
        if t.engine != "Distributed", TabSeparated.unescape(key.trimmingCharacters(in: .whitespacesAndNewlines)) != t.partitionKey {
            throw StepError.beforeChange(.configuration("\(t.fullName) is on the target partitioned by \(key.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "nothing" : key.trimmingCharacters(in: .whitespacesAndNewlines)), on the source by \(t.partitionKey): "
                + "drop it on the target or make it match. Nothing was changed"))
        }
        return true
    }

    /// A Distributed table's columns must be its local table's (else reads through it fail or mislead).
    func checkDistributed(_ tables: [ClickHouseSource.Table]) async throws {
        for t in tables where t.engine == "Distributed" {
            guard let e = t.create.range(of: " ENGINE = Distributed"), let (inside, _) = EngineRewrite.balanced(t.create[e.upperBound...]) else { continue }
            let args = EngineRewrite.split(inside).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'`\" ")) }
            guard args.count >= 3 else { continue }
            let (db, local) = (args[1].isEmpty || args[1] == "currentDatabase()" ? t.database : args[1], args[2])
            let dist = try await source.columns(t.database, t.name), own = try await source.columns(db, local)
            guard dist == own else {
                throw StepError.beforeChange(.configuration("\(t.fullName) is Distributed over \(db).\(local), but their columns differ on the source (\(dist.symmetricDifference(own).sorted().prefix(4).joined(separator: ", "))): "
                    + "make them agree before copying. Nothing was changed"))
            }
        }
    }

    /// The target can hold what the plans make: ZooKeeper and the macros for Replicated engines,
    /// the cluster for ON CLUSTER, and ZooKeeper paths no one else's replicas use.
    func checkTarget(_ plans: [Plan]) async throws {
        if let cluster = options.cluster {
            let n = try await target.query("SELECT count() FROM system.clusters WHERE cluster = '\(ClickHouseText.escape(cluster))' FORMAT TabSeparated")
            guard Int(n.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0 else {
                throw StepError.beforeChange(.configuration("the target has no cluster \(cluster) in its remote_servers (spec.clickhouse.copy.distributed.cluster). Nothing was changed"))
            }
        }
        let replicated = plans.filter { !$0.exists && $0.targetEngine.hasPrefix("Replicated") }
        guard !replicated.isEmpty else { return }
        do {
            _ = try await target.query("SELECT count() FROM system.zookeeper WHERE path = '/' FORMAT TabSeparated")
        } catch {
            throw StepError.beforeChange(.configuration("the target has no ZooKeeper configured, and \(replicated[0].table.fullName) would be \(replicated[0].targetEngine): "
                + "configure <zookeeper> on the target, or map the engines to themselves (spec.clickhouse.copy.engineMap). Nothing was changed"))
        }
        let macros = try await target.query("SELECT macro, substitution FROM system.macros FORMAT TabSeparated").split(separator: "\n").reduce(into: [String: String]()) { m, line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            if f.count == 2 { m[String(f[0])] = String(f[1]) }
        }
        for p in replicated {
            guard let e = p.statement.range(of: " ENGINE = "), let (inside, _) = EngineRewrite.balanced(p.statement[e.upperBound...].drop { $0 != "(" }) else { continue }
            let args = EngineRewrite.split(inside).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
            guard args.count >= 2 else { continue }
            var resolved = [args[0], args[1]]
            for i in resolved.indices {
                for name in Self.macros(in: resolved[i]) {
                    guard let value = macros[name] else {
                        throw StepError.beforeChange(.configuration("\(p.table.fullName) would be \(p.targetEngine) with {\(name)}, but the target defines no such macro (<macros> in its config): "
                            + "define it, or change spec.clickhouse.copy.engineMap. Nothing was changed"))
                    }
                    resolved[i] = resolved[i].replacingOccurrences(of: "{\(name)}", with: value)
                }
            }
            // Replicas already registered at that path would make the new table one of them (a DROP PARTITION there would reach them).
            if let others = try? await target.query("SELECT name FROM system.zookeeper WHERE path = '\(ClickHouseText.escape(resolved[0]))/replicas' FORMAT TabSeparated"),
               !others.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw StepError.beforeChange(.configuration("\(p.table.fullName): ZooKeeper path \(resolved[0]) already has replicas (\(others.split(separator: "\n").prefix(3).joined(separator: ", "))) "
                    + "while the target has no such table; the new table would join them, and dropping a partition to copy it would drop theirs. "
                    + "Give it a path of its own (spec.clickhouse.copy.engineMap[].zookeeperPath). Nothing was changed"))
            }
        }
    }

    /// `{shard}` and `{replica}` in `/clickhouse/tables/{shard}/x`. Pure.
    static func macros(in s: String) -> [String] {
        var out: [String] = [], rest = Substring(s)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }
}

extension ClickHouseSchemaArguments {
    public func run(say: @escaping @Sendable (String) -> Void = { print($0) }) async throws -> ClickHouseSchemaResult {
        guard !tables.isEmpty else { throw StepError.configuration("--table names no table (spec.clickhouse.copy.tables)") }
        if let c = cluster, !ClickHouseNames.isIdentifier(c) { throw StepError.configuration("--cluster \"\(c)\" must be a cluster name (spec.clickhouse.copy.distributed.cluster)") }
        let options: EngineRewrite.Options
        switch EngineRewrite.Options.parse(engineMap, cluster: cluster, shardingKeyDefault: shardingKeyDefault) {
        case .failure(let e): throw e
        case .success(let o): options = o
        }
        let source = try await ClickHouseCopyArguments.source(source, sourceCredentialsDir: sourceCredentialsDir, url: url, credentialsDir: credentialsDir)
        try await source.check()
        return try await ClickHouseSchema(source: source, options: options, say: say).run(tables)
    }
}
