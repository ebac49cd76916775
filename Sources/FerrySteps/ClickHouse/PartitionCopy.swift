import FerryProtocol
import Foundation

/// Copies one live MergeTree table from a source ClickHouse (one or more shards, each read on
/// one of its replicas) into the target, partition by partition, the way big estates are moved:
/// each partition dropped on the target, then `INSERT … SELECT … FROM remote(source) WHERE
/// <partition key> = <partition>` run by the target, `concurrency` at once; then the whole
/// table's count, and per partition only when it differs; a differing partition dropped and
/// copied again, up to `rounds` rounds. Everything about the source is read through `remote()`
/// from the target (its parts, its schema), so only the target needs to reach it. The target's
/// own parts are the checkpoint: a partition already equal is skipped, one cut off mid-copy
/// differs and is copied again, never doubled.
struct PartitionCopy {
    let target: ClickHouseClient
    /// The source as `remote()` takes it: shards separated by `,`, replicas of a shard by `|`
    /// (`host:port`, the native port as the target reaches it).
    let sourceAddresses: String
    let remoteUser: String
    let remotePassword: String
    let database: String
    let table: String
    var concurrency = 2
    var rounds = 3
    /// How partitions are compared; nil: by engine (distinct sorting keys for the Replacing and
    /// Collapsing engines, whose merges change row counts; else row counts).
    var verify: VerifyMode?
    /// Partitions of at least `minRows` rows copied in `pieces` pieces (by `cityHash64(by) % pieces`) at once.
    var split: Split?
    var say: @Sendable (String) -> Void = { print($0) }

    struct Split: Equatable, Sendable {
        var minRows: Int
        var pieces: Int
        /// Column names (checked: letters, digits, _).
        var by: [String]
    }

    enum VerifyMode: Equatable, Sendable {
        /// Rows per partition (from the active parts).
        case count
        /// Distinct values of this expression per partition (`uniqExact`).
        case distinct(String)

        var text: String {
            switch self {
            case .count: "count()"
            case .distinct(let e): "uniqExact(\(e))"
            }
        }
    }

    /// The comparison an engine needs: merges of these engines change row counts, not keys.
    static func verifyMode(engine: String, sortingKey: String) -> VerifyMode {
        let merging = ["Replacing", "Collapsing", "VersionedCollapsing", "Summing", "Aggregating"].contains { engine.contains($0 + "MergeTree") }
        return merging && !sortingKey.isEmpty ? .distinct(sortingKey) : .count
    }

    var qualified: String { "`\(database)`.`\(table)`" }
    var name: String { "\(database).\(table)" }
    var shards: Int { sourceAddresses.split(separator: ",").count }

    /// `remote()` over the source's `db`.`table`, with its credentials.
    func remote(_ db: String, _ table: String) -> String {
        "remote('\(sourceAddresses)', `\(db)`, `\(table)`, '\(ClickHouseText.escape(remoteUser))', '\(ClickHouseText.escape(remotePassword))')"
    }

    /// A query that names the source's password: kept out of the target's query log.
    func onSource(_ sql: String) async throws -> String {
        do {
            return try await target.query(sql, settings: ["log_queries": "0"])
        } catch {
            throw StepError.target(ClickHouseText.without(remotePassword, in: "reading the source \(sourceAddresses) through the target: \(error)"))
        }
    }

    /// Partition → rows, from the active parts (over every shard of the source, or on the target).
    func partitions(onSource: Bool) async throws -> [String: Int] {
        let parts = onSource ? remote("system", "parts") : "system.parts"
        let sql = "SELECT partition, sum(rows) FROM \(parts) WHERE active AND database = '\(database)' AND table = '\(table)' GROUP BY partition FORMAT TabSeparated"
        let out = onSource ? try await self.onSource(sql) : try await target.query(sql)
        var rows: [String: Int] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 2, let n = Int(f[1]) else { continue }
            rows[TabSeparated.unescape(String(f[0])), default: 0] += n
        }
        return rows
    }

    /// Partition → what is compared: rows from the active parts, or distinct keys counted per
    /// partition (over every shard of the source, or on the target).
    func measure(onSource: Bool, key: String, mode: VerifyMode) async throws -> [String: Int] {
        let rows = try await partitions(onSource: onSource)
        guard case .distinct(let expr) = mode else { return rows }
        var out: [String: Int] = [:]
        for p in rows.keys {
            let from = onSource ? remote(database, table) : qualified
            let sql = "SELECT uniqExact(\(expr)) FROM \(from) WHERE \(Self.condition(key: key, partition: p)) FORMAT TabSeparated"
            let text = onSource ? try await self.onSource(sql) : try await target.query(sql)
            out[p] = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        return out
    }

    /// The source's CREATE TABLE, its PARTITION BY expression and how to compare it, the same on every shard.
    func sourceSchema() async throws -> (create: String, partitionKey: String, verify: VerifyMode) {
        let out = try await onSource("SELECT create_table_query, engine, partition_key, sorting_key FROM \(remote("system", "tables")) WHERE database = '\(database)' AND name = '\(table)' FORMAT TabSeparated")
        let rows = out.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) } }.filter { $0.count == 4 }
        guard let first = rows.first else { throw StepError.configuration("the source \(sourceAddresses) has no table \(name) (spec.clickhouse.copy.tables)") }
        guard rows.count == shards else {
            throw StepError.configuration("\(name) is on \(rows.count) of the source's \(shards) shards: create it on every shard, or copy from the shards that hold it (spec.clickhouse.copy.source.shards)")
        }
        guard Set(rows.map { $0[0] }).count == 1 else {
            throw StepError.configuration("\(name) is not the same on every shard of the source (its CREATE TABLE differs): make the shards agree before copying")
        }
        guard first[1].hasSuffix("MergeTree") else {
            throw StepError.configuration("\(name) on the source is a \(first[1]) table: only MergeTree-family tables are copied partition by partition")
        }
        let key = first[2].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else {
            throw StepError.configuration("\(name) has no PARTITION BY on the source: it is copied as one piece by a package restore, not partition by partition")
        }
        return (first[0], key, verify ?? Self.verifyMode(engine: first[1], sortingKey: first[3]))
    }

    /// The PARTITION BY expression of a CREATE TABLE (up to the next clause). Pure.
    static func partitionKey(_ create: String) -> String? {
        guard let start = create.range(of: " PARTITION BY ") else { return nil }
        var rest = String(create[start.upperBound...])
        for clause in [" ORDER BY ", " PRIMARY KEY ", " SAMPLE BY ", " TTL ", " SETTINGS "] {
            if let end = rest.range(of: clause) { rest = String(rest[..<end.lowerBound]) }
        }
        let key = rest.trimmingCharacters(in: .whitespaces)
        return key.isEmpty ? nil : key
    }

    /// The condition that selects one partition: its key equal to the value `system.parts` prints.
    static func condition(key: String, partition: String) -> String { "(\(key)) = \(partition)" }

    /// One piece of work: a whole partition (dropped on the target first), or one piece of a
    /// split partition (dropped once before its pieces).
    struct Work: Sendable {
        var partition: String
        var piece: Int?
        var of: Int
    }

    func copy(_ work: Work, key: String) async throws {
        if work.piece == nil {
            try await target.query("ALTER TABLE \(qualified) DROP PARTITION \(work.partition)")
            Failpoint.hit("clickhouse-copy-after-drop")
        }
        var condition = Self.condition(key: key, partition: work.partition)
        if let piece = work.piece, let split { condition += " AND cityHash64(\(split.by.map { "`\($0)`" }.joined(separator: ", "))) % \(work.of) = \(piece)" }
        _ = try await onSource("INSERT INTO \(qualified) SELECT * FROM \(remote(database, table)) WHERE \(condition)")
    }

    func run() async throws -> ClickHouseCopyResult {
        let started = Date()
        let (create, key, mode) = try await sourceSchema()
        // The table on the target: the source's own definition when it is not there yet.
        let exists = try await target.query("EXISTS TABLE \(qualified) FORMAT TabSeparated").trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        if !exists {
            try await target.query("CREATE DATABASE IF NOT EXISTS `\(database)`")
            try await target.query(create)
        }
        var source = try await measure(onSource: true, key: key, mode: mode)
        var targetRows = try await measure(onSource: false, key: key, mode: mode)
        let pending = source.keys.sorted().filter { targetRows[$0] != source[$0] }
        say("\(name): \(source.count) partitions, \(source.count - pending.count) already on the target, copying \(pending.count), \(concurrency) at once")
        try await copyAll(pending, rows: source, key: key)
        var roundsLog: [String] = []
        var round = 1
        while true {
            // The whole table's count first; per partition only when it differs.
            source = try await measure(onSource: true, key: key, mode: mode)
            targetRows = try await measure(onSource: false, key: key, mode: mode)
            let sourceTotal = source.values.reduce(0, +), targetTotal = targetRows.values.reduce(0, +)
            let differing = Set(source.keys).union(targetRows.keys).sorted().filter { targetRows[$0] != source[$0] }
            if sourceTotal == targetTotal && differing.isEmpty { break }
            round += 1
            guard round <= rounds else {
                throw StepError.target("\(name): \(differing.count) partitions still differ after \(rounds) rounds (\(differing.prefix(5).map { "\($0): source \(source[$0] ?? 0), target \(targetRows[$0] ?? 0)" }.joined(separator: "; "))); "
                    + "is the source still taking writes there? Nothing was doubled; run again to copy them once more")
            }
            for p in differing {
                roundsLog.append("\(p): source \(source[p] ?? 0) rows, target \(targetRows[p] ?? 0); copied again (round \(round))")
            }
            // Gone from the source: dropped on the target; else copied again.
            for p in differing where source[p] == nil { try await target.query("ALTER TABLE \(qualified) DROP PARTITION \(p)") }
            try await copyAll(differing.filter { source[$0] != nil }, rows: source, key: key)
        }
        let rows = mode == .count ? source.values.reduce(0, +) : try await partitions(onSource: true).values.reduce(0, +)
        let seconds = max(0.001, Date().timeIntervalSince(started))
        return ClickHouseCopyResult(table: name, partitions: source.count, copied: pending.count, skipped: source.count - pending.count, rounds: roundsLog, rows: rows,
                                    seconds: (seconds * 1000).rounded() / 1000, rowsPerSecond: Int(Double(rows) / seconds),
                                    verified: "\(mode.text) of the table and of each of \(source.count) partitions equal on both sides")
    }

    /// Copies `partitions`, at most `concurrency` pieces of work at once; a partition of at least
    /// `split.minRows` rows (`rows`) goes in pieces, after it was dropped on the target.
    func copyAll(_ partitions: [String], rows: [String: Int], key: String) async throws {
        var work: [Work] = []
        for p in partitions {
            if let split, split.pieces > 1, (rows[p] ?? 0) >= split.minRows {
                try await target.query("ALTER TABLE \(qualified) DROP PARTITION \(p)")
                Failpoint.hit("clickhouse-copy-after-drop")
                work += (0..<split.pieces).map { Work(partition: p, piece: $0, of: split.pieces) }
            } else {
                work.append(Work(partition: p, piece: nil, of: 1))
            }
        }
        var queue = work[...]
        // Progress (the step's progress line): pieces done, rows copied by the source's counts, rows/s and ETA.
        let total = partitions.reduce(0) { $0 + (rows[$1] ?? 0) }
        let started = Date()
        var copiedRows = 0
        try await withThrowingTaskGroup(of: Work.self) { group in
            func next() -> Bool {
                guard let w = queue.popFirst() else { return false }
                group.addTask {
                    try await self.copy(w, key: key)
                    return w
                }
                return true
            }
            for _ in 0..<max(1, concurrency) where next() {}
            var done = 0
            while let w = try await group.next() {
                done += 1
                copiedRows += (rows[w.partition] ?? 0) / w.of
                let rate = Double(copiedRows) / max(0.001, Date().timeIntervalSince(started))
                let eta = rate > 0 ? Int((Double(max(0, total - copiedRows)) / rate).rounded(.up)) : nil
                say("\(name): partition \(w.partition)\(w.piece.map { " piece \($0 + 1)/\(w.of)" } ?? "") copied; \(done)/\(work.count) done, "
                    + "\(Int(rate)) rows/s\(eta.map { ", ETA \($0) s" } ?? "")")
                _ = next()
            }
        }
    }
}

/// ClickHouse text: single-quoted literals, and a secret kept out of messages. Pure.
enum ClickHouseText {
    static func escape(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") }

    /// `text` with every appearance of `secret` (as written, and escaped) masked.
    static func without(_ secret: String, in text: String) -> String {
        guard !secret.isEmpty else { return text }
        return text.replacingOccurrences(of: escape(secret), with: "***").replacingOccurrences(of: secret, with: "***")
    }
}
