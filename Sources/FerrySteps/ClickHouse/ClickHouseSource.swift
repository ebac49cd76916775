import FerryProtocol
import Foundation

/// The source ClickHouse servers as the target reaches them: every read goes through
/// `remote()` on the target (so only the target needs a route to the source), one replica per
/// shard, with the source's credentials kept out of the target's query log and out of messages.
struct ClickHouseSource: Sendable {
    let target: ClickHouseClient
    init(target: ClickHouseClient, addresses: String, user: String, password: String) {
        var t = target
        t.masking = [password]
        self.target = t
        self.addresses = addresses
        self.user = user
        self.password = password
    }

    /// As `remote()` takes them: shards separated by `,`, replicas of a shard by `|`.
    let addresses: String
    let user: String
    let password: String

    var shards: Int { addresses.split(separator: ",").count }

    /// One table as every shard of the source holds it.
    struct Table: Sendable, Equatable {
        var database: String
        var name: String
        var engine: String
        var create: String
        var partitionKey: String
        var sortingKey: String
        /// The partition key's type (`Date`, `Tuple(String, UInt32)`): how its values are written in SQL.
        var partitionKeyType = ""
        /// The columns an INSERT fills (not MATERIALIZED or ALIAS), in the source's order: copied by name, never by position.
        var columns: [String] = []
        var qualified: String { "\(ClickHouseText.identifier(database)).\(ClickHouseText.identifier(name))" }
        var fullName: String { "\(database).\(name)" }
        var isMergeTree: Bool { ClickHouseNames.mergeTrees.contains(engine.hasPrefix("Replicated") ? String(engine.dropFirst("Replicated".count)) : engine) }
    }

    /// `remote()` over the source's `db`.`table`, with its credentials.
    func remote(_ db: String, _ table: String, at address: String? = nil) -> String {
        "remote('\(address ?? addresses)', \(ClickHouseText.identifier(db)), \(ClickHouseText.identifier(table)), '\(ClickHouseText.escape(user))', '\(ClickHouseText.escape(password))')"
    }

    /// Every `host:port` named, each once.
    var allAddresses: [String] { addresses.split(separator: ",").flatMap { $0.split(separator: "|") }.map(String.init) }

    /// A server named twice would have its rows read (and counted) twice.
    func refuseRepeatedAddress() throws {
        if let twice = Dictionary(grouping: allAddresses, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw StepError.configuration("the source names \(twice) twice: its rows would be read twice. Name each server once, the replicas of a shard together (spec.clickhouse.copy.source.shards). Nothing was changed")
        }
    }

    /// Replicas are read in the order given (the next only when one is down), and never one that lags.
    static let readSettings = ["load_balancing": "in_order", "fallback_to_stale_replicas_for_distributed_queries": "0"]

    /// A query that names the source's password: kept out of the target's query log, and out of any error.
    @discardableResult
    func query(_ sql: String, settings: [String: String] = [:]) async throws -> String {
        do {
            return try await target.query(sql, settings: settings.merging(["log_queries": "0"].merging(Self.readSettings) { a, _ in a }) { a, _ in a })
        } catch {
            throw StepError.target(ClickHouseText.without(password, in: "reading the source \(addresses) through the target: \(error)"))
        }
    }

    /// Refuses, before anything changes: a server named twice (its rows would be counted and
    /// copied twice), a source that does not answer, and any address that is the target itself
    /// (a DROP PARTITION there would drop what is being copied). Returns the servers' time zones.
    @discardableResult
    func check() async throws -> (source: Set<String>, target: String) {
        let named = allAddresses
        try refuseRepeatedAddress()
        let zones: String
        do {
            zones = try await query("SELECT DISTINCT timezone() FROM \(remote("system", "one")) FORMAT TabSeparated")
        } catch {
            throw StepError.beforeChange(.target("the source \(addresses) does not answer the target (\(error)); check the addresses and the credentials (spec.clickhouse.copy.source). Nothing was changed"))
        }
        // Each address asked, through the target, whether it is running the very query that asks: only the target itself is.
        for address in named {
            let nonce = "ferry-self-\(UUID().uuidString)"
            let sql = "SELECT count() FROM \(remote("system", "processes", at: address)) WHERE query_id = '\(nonce)' FORMAT TabSeparated"
            guard let found = try? await query(sql, settings: ["query_id": nonce, "skip_unavailable_shards": "1"]) else { continue }
            if (Int(found.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0 {
                throw StepError.beforeChange(.configuration("the source address \(address) is the target server itself: copying would drop each partition before reading it. "
                    + "Name the old servers in spec.clickhouse.copy.source.shards. Nothing was changed"))
            }
        }
        let ours = try await target.query("SELECT timezone() FORMAT TabSeparated").trimmingCharacters(in: .whitespacesAndNewlines)
        return (Set(zones.split(separator: "\n").map(String.init)), ours)
    }

    /// The tables the names and patterns select, as the source holds them: each on every shard,
    /// with one definition. A name that matches nothing is refused by name.
    func tables(_ patterns: [String]) async throws -> [Table] {
        try refuseRepeatedAddress()
        let parsed = try patterns.map { p -> (String, String) in
            guard let (db, t) = ClickHouseNames.tablePattern(p) else { throw StepError.configuration("\"\(p)\" is not db.table or db.prefix* (spec.clickhouse.copy.tables)") }
            return (db, t)
        }
        let databases = Set(parsed.map(\.0)).sorted().map { "'\($0)'" }.joined(separator: ", ")
        let out = try await query("SELECT database, name, engine, create_table_query, partition_key, sorting_key FROM \(remote("system", "tables")) "
            + "WHERE database IN (\(databases)) AND NOT is_temporary FORMAT TabSeparated")
        var byName: [String: [[String]]] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) }
            guard f.count == 6 else { continue }
            byName["\(f[0]).\(f[1])", default: []].append(f)
        }
        var chosen: [Table] = [], seen: Set<String> = []
        for (p, (db, t)) in zip(patterns, parsed) {
            let names = byName.keys.filter { $0.hasPrefix(db + ".") && ClickHouseNames.matches(t, String($0.dropFirst(db.count + 1))) }.sorted()
            // A pattern skips the inner tables of materialized views (`.inner.…`), which are filled by their views.
            let matched = names.filter { !t.contains("*") || !$0.dropFirst(db.count + 1).hasPrefix(".") }
            guard !matched.isEmpty else {
                throw StepError.configuration("\(p) matches no table on the source \(addresses) (spec.clickhouse.copy.tables)")
            }
            for name in matched where seen.insert(name).inserted {
                let rows = byName[name] ?? []
                guard rows.count == shards else {
                    throw StepError.configuration("\(name) is on \(rows.count) of the source's \(shards) shards: create it on every shard, or copy from the shards that hold it (spec.clickhouse.copy.source.shards)")
                }
                guard Set(rows.map { $0[3] }).count == 1 else {
                    throw StepError.configuration("\(name) is not the same on every shard of the source (its CREATE TABLE differs): make the shards agree before copying")
                }
                let r = rows[0]
                var table = Table(database: r[0], name: r[1], engine: r[2], create: r[3], partitionKey: r[4].trimmingCharacters(in: .whitespaces), sortingKey: r[5])
                if table.isMergeTree && !table.partitionKey.isEmpty {
                    // any(): one row even when the table is empty.
                    table.partitionKeyType = try await query("SELECT toTypeName(any((\(table.partitionKey)))) FROM \(remote(table.database, table.name)) FORMAT TabSeparated")
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                }
                if table.isMergeTree {
                    table.columns = try await query("DESCRIBE TABLE \(remote(table.database, table.name)) FORMAT TabSeparated").split(separator: "\n").compactMap { line in
                        let f = line.split(separator: "\t", omittingEmptySubsequences: false)
                        return f.count >= 3 && !["MATERIALIZED", "ALIAS"].contains(String(f[2])) ? TabSeparated.unescape(String(f[0])) : nil
                    }
                }
                chosen.append(table)
            }
        }
        return chosen
    }

    /// `name type` of each column of a source table (on every shard that answers; a set: the order is the server's).
    func columns(_ database: String, _ table: String) async throws -> Set<String> {
        let out = try await query("SELECT name, type FROM \(remote("system", "columns")) WHERE database = '\(ClickHouseText.escape(database))' AND table = '\(ClickHouseText.escape(table))' FORMAT TabSeparated")
        return Set(out.split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: " ") })
    }
}
