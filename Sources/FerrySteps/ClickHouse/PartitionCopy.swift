import FerryProtocol
import Foundation

/// Copies one live MergeTree table from the source servers (``ClickHouseSource``) into the
/// target, partition by partition, the way big estates are moved: each partition dropped on the
/// target, then `INSERT … SELECT … FROM remote(source) WHERE <partition key> = <partition>` run
/// by the target, as many at once as the schedule allows; then the whole table compared, and per
/// partition only when it differs; a differing partition dropped and copied again, up to
/// `rounds` rounds. The target's own parts are the checkpoint: a partition already equal is
/// skipped, one cut off mid-copy differs and is copied again, never doubled.
struct PartitionCopy {
    let source: ClickHouseSource
    let table: ClickHouseSource.Table
    /// Copies allowed at once, asked again whenever one ends (and every few seconds).
    var concurrency: @Sendable () -> Int = { 2 }
    var rounds = 3
    /// How partitions are compared; nil: by engine (distinct sorting keys for the engines whose
    /// merges change row counts; else row counts).
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

        /// From `count`, `distinct` (the sorting key) or `distinct(a, b)`; nil: chosen by engine.
        static func parse(_ s: String?, sortingKey: String) -> VerifyMode? {
            guard let s, let columns = ClickHouseNames.verifyColumns(s) else { return nil }
            if s.trimmingCharacters(in: .whitespaces) == "count" { return .count }
            return .distinct(columns.isEmpty ? sortingKey : columns.map { "`\($0)`" }.joined(separator: ", "))
        }
    }

    /// The comparison an engine needs: merges of these engines change row counts, not keys.
    static func verifyMode(engine: String, sortingKey: String) -> VerifyMode {
        let merging = ["Replacing", "Collapsing", "VersionedCollapsing", "Summing", "Aggregating"].contains { engine.contains($0 + "MergeTree") }
        return merging && !sortingKey.isEmpty ? .distinct(sortingKey) : .count
    }

    var target: ClickHouseClient { source.target }
    var qualified: String { table.qualified }
    var name: String { table.fullName }
    var mode: VerifyMode { verify ?? Self.verifyMode(engine: table.engine, sortingKey: table.sortingKey) }
    var key: String { table.partitionKey }

    /// What this copy cannot move, refused by name before anything changes.
    func check() throws {
        guard table.isMergeTree else {
            throw StepError.configuration("\(name) on the source is a \(table.engine) table: only MergeTree-family tables are copied partition by partition")
        }
        guard !key.isEmpty else {
            throw StepError.configuration("\(name) has no PARTITION BY on the source: it is copied as one piece by a package restore, not partition by partition")
        }
        if case .distinct(let e) = mode, e.isEmpty {
            throw StepError.configuration("\(name) has no sorting key to count distinct values of: verify it by count (spec.clickhouse.copy.verify)")
        }
    }

    /// One partition's active parts: rows, and when they last changed.
    struct Partition: Equatable, Sendable {
        var rows: Int
        var modified: String
    }

    /// Partition → its active parts (over every shard of the source, or on the target).
    func partitions(onSource: Bool) async throws -> [String: Partition] {
        let parts = onSource ? source.remote("system", "parts") : "system.parts"
        let sql = "SELECT partition, sum(rows), max(modification_time) FROM \(parts) WHERE active AND database = '\(ClickHouseText.escape(table.database))' "
            + "AND table = '\(ClickHouseText.escape(table.name))' GROUP BY partition FORMAT TabSeparated"
        let out = onSource ? try await source.query(sql) : try await target.query(sql)
        var found: [String: Partition] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 3, let n = Int(f[1]) else { continue }
            let p = TabSeparated.unescape(String(f[0]))
            let before = found[p]
            found[p] = Partition(rows: (before?.rows ?? 0) + n, modified: max(before?.modified ?? "", String(f[2])))
        }
        return found
    }

    /// Distinct keys of the whole table, or of one partition (over every shard of the source, or on the target).
    func distinct(_ expr: String, partition: String?, onSource: Bool) async throws -> Int {
        let from = onSource ? source.remote(table.database, table.name) : qualified
        let sql = "SELECT uniqExact(\(expr)) FROM \(from)\(partition.map { " WHERE \(Self.condition(key: key, literal: literal($0)))" } ?? "") FORMAT TabSeparated"
        let text = onSource ? try await source.query(sql) : try await target.query(sql)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// What the two sides hold: the source's partitions, and the partitions that differ (row
    /// counts, or distinct keys: the whole table first, per partition only when it differs; `only`: just these).
    func compare(only: [String]? = nil) async throws -> (source: [String: Partition], differing: [String], measure: [String: (Int, Int)]) {
        let src = try await partitions(onSource: true), dst = try await partitions(onSource: false)
        let names = only ?? Set(src.keys).union(dst.keys).sorted()
        var measure: [String: (Int, Int)] = [:]
        switch mode {
        case .count:
            for p in names { measure[p] = (src[p]?.rows ?? 0, dst[p]?.rows ?? 0) }
        case .distinct(let e):
            let missing = names.filter { (src[$0] == nil) != (dst[$0] == nil) }
            // The whole table by (partition, key) pairs: keys that recur across partitions cannot hide a partition that differs.
            let pairs = "(\(key)), \(e)"
            if only == nil, missing.isEmpty, try await distinct(pairs, partition: nil, onSource: true) == distinct(pairs, partition: nil, onSource: false) {
                return (src, [], [:])
            }
            for p in names {
                measure[p] = (src[p] == nil ? 0 : try await distinct(e, partition: p, onSource: true), dst[p] == nil ? 0 : try await distinct(e, partition: p, onSource: false))
            }
        }
        return (src, names.filter { measure[$0].map { $0.0 != $0.1 } ?? false }, measure)
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

    /// A partition as `system.parts` prints it, written as SQL: tuples come quoted already,
    /// numbers stand as they are, and a single date, time, enum or string value (printed bare) is quoted. Pure.
    static func literal(_ partition: String, type: String) -> String {
        if type.hasPrefix("Tuple(") { return partition }
        let numeric = ["Int", "UInt", "Float", "Decimal"].contains { type.hasPrefix($0) }
        if numeric, !partition.isEmpty, partition.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "." }) { return partition }
        return "'\(ClickHouseText.escape(partition))'"
    }

    func literal(_ partition: String) -> String { Self.literal(partition, type: table.partitionKeyType) }

    /// The condition that selects one partition: its key equal to the value `system.parts` prints.
    static func condition(key: String, literal: String) -> String { "(\(key)) = \(literal)" }

    /// One piece of work: a whole partition (dropped on the target first), or one piece of a
    /// split partition (dropped once before its pieces).
    struct Work: Sendable {
        var partition: String
        var piece: Int?
        var of: Int
    }

    func drop(_ partition: String) async throws {
        try await target.query("ALTER TABLE \(qualified) DROP PARTITION \(literal(partition))")
        Failpoint.hit("clickhouse-copy-after-drop")
    }

    func copy(_ work: Work) async throws {
        if work.piece == nil { try await drop(work.partition) }
        var condition = Self.condition(key: key, literal: literal(work.partition))
        // toString of the tuple: a NULL in a split column still lands in exactly one piece.
        if let piece = work.piece, let split { condition += " AND cityHash64(toString(tuple(\(split.by.map(ClickHouseText.identifier).joined(separator: ", "))))) % \(work.of) = \(piece)" }
        // Columns by name, never by position. A Replicated target takes a block it saw before as a retry and skips it:
        // DROP PARTITION forgets its partition's blocks, but a copied-again piece must land whatever the server version does.
        // The query id names the work, so a later run can stop an INSERT a killed run left running on the server.
        let columns = table.columns.isEmpty ? "*" : table.columns.map(ClickHouseText.identifier).joined(separator: ", ")
        let into = table.columns.isEmpty ? qualified : "\(qualified) (\(columns))"
        try await source.query("INSERT INTO \(into) SELECT \(columns) FROM \(source.remote(table.database, table.name)) WHERE \(condition)",
                               settings: ["insert_deduplicate": "0", "query_id": queryID(work)])
    }

    /// `ferry-copy-<table>-<partition>-<piece>`: the same work gets the same id in every run.
    func queryID(_ work: Work) -> String {
        "\(queryPrefix)\(Self.hash(work.partition))-\(work.piece.map(String.init) ?? "all")"
    }

    var queryPrefix: String { "ferry-copy-\(Self.hash(name))-" }

    static func hash(_ s: String) -> String {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return String(h, radix: 16)
    }

    /// INSERTs an earlier run of this table's copy left running on the target (a killed pod does
    /// not stop them): stopped before anything is dropped, so none adds rows after a new copy.
    func stopEarlierCopies() async throws {
        let killed = try await target.query("KILL QUERY WHERE query_id LIKE '\(queryPrefix)%' SYNC FORMAT TabSeparated")
        // kill_status, query_id, user, query (the query's own tabs and newlines come escaped).
        let rows = killed.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }.filter { $0.count >= 2 }
        if let stuck = rows.first(where: { $0[0] != "finished" }) {
            throw StepError.beforeChange(.target("\(name): an INSERT an earlier run left running on the target (\(stuck[1])) could not be stopped (\(stuck[0])); "
                + "copying now could add its rows a second time. Stop it (KILL QUERY WHERE query_id = '\(stuck[1])') and run again. Nothing was changed"))
        }
        let ids = rows.map { $0[1] }
        if !ids.isEmpty { say("\(name): stopped \(ids.count) INSERT\(ids.count == 1 ? "" : "s") an earlier run left running on the target (\(ids.joined(separator: ", "))), before anything is dropped") }
    }

    /// A Replicated target table that is a replica of the source's own (one ZooKeeper node):
    /// dropping a partition there would drop it on the source. Refused before anything is dropped.
    func checkNotSharedWithSource() async throws {
        let ours = try await target.query("SELECT engine FROM system.tables WHERE database = '\(ClickHouseText.escape(table.database))' AND name = '\(ClickHouseText.escape(table.name))' FORMAT TabSeparated")
        guard ours.hasPrefix("Replicated"), table.engine.hasPrefix("Replicated") else { return }
        let path = "SELECT zookeeper_path FROM %@ WHERE database = '\(ClickHouseText.escape(table.database))' AND table = '\(ClickHouseText.escape(table.name))' FORMAT TabSeparated"
        let targetPath = try await target.query(path.replacingOccurrences(of: "%@", with: "system.replicas")).trimmingCharacters(in: .whitespacesAndNewlines)
        let sourcePaths = Set(try await source.query(path.replacingOccurrences(of: "%@", with: source.remote("system", "replicas"))).split(separator: "\n").map(String.init))
        guard !targetPath.isEmpty, sourcePaths.contains(targetPath) else { return }
        // The same path text: the same node only when both ZooKeepers made it in the same transaction at the same moment.
        let parent = (targetPath as NSString).deletingLastPathComponent, leaf = (targetPath as NSString).lastPathComponent
        let stat = "SELECT czxid, ctime FROM %@ WHERE path = '\(ClickHouseText.escape(parent))' AND name = '\(ClickHouseText.escape(leaf))' FORMAT TabSeparated"
        let theirs = Set(try await source.query(stat.replacingOccurrences(of: "%@", with: source.remote("system", "zookeeper"))).split(separator: "\n").map(String.init))
        let mine = try await target.query(stat.replacingOccurrences(of: "%@", with: "system.zookeeper")).trimmingCharacters(in: .whitespacesAndNewlines)
        if !mine.isEmpty, theirs.contains(mine) {
            throw StepError.beforeChange(.configuration("\(name) on the target is a replica of the source's own table (ZooKeeper \(targetPath) is one node for both): dropping a partition to copy it would drop it on the source. "
                + "Give the target its own path (spec.clickhouse.copy.engineMap[].zookeeperPath) and create it again (clickhouse-schema). Nothing was changed"))
        }
    }

    /// What one table's copy did.
    struct Outcome: Sendable {
        var partitions: Int
        var copied: Int
        var rows: Int
        var rounds: [String]
    }

    /// The table on the target: the source's own definition when clickhouse-schema did not make it.
    func ensureTable() async throws {
        guard try await target.query("EXISTS TABLE \(qualified) FORMAT TabSeparated").trimmingCharacters(in: .whitespacesAndNewlines) != "1" else { return }
        // The source's own ZooKeeper path on the target would make it one of the source's replicas.
        guard !table.engine.hasPrefix("Replicated") else {
            throw StepError.beforeChange(.configuration("\(name) is \(table.engine) on the source and missing on the target: create it first with clickhouse-schema (ferry clickhouse schema), "
                + "which gives it a ZooKeeper path of its own, never the source's. Nothing was changed"))
        }
        try await target.query("CREATE DATABASE IF NOT EXISTS \(ClickHouseText.identifier(table.database))")
        try await target.query(table.create)
    }

    /// Everything checked that can be before a partition is dropped; nothing changed yet.
    func prepare() async throws {
        try check()
        try await StepError.unchanged {
            try await probe(try await partitions(onSource: true))
            try await checkNotSharedWithSource()
        }
    }

    /// `leaveNewest`: in incremental mode the newest partitions may still differ when the
    /// rounds are spent (the application writes there); the sync rounds take them from here.
    func run(leaveNewest: Int = 0) async throws -> Outcome {
        try await prepare()
        try await ensureTable()
        try await stopEarlierCopies()
        let first = try await compare()
        let pending = first.differing.filter { first.source[$0] != nil }
        say("\(name): \(first.source.count) partitions, \(first.source.count - pending.count) already on the target, copying \(pending.count)")
        for p in first.differing where first.source[p] == nil { try await drop(p) }
        try await copyAll(pending, rows: first.source, already: first.source.count - pending.count)
        var roundsLog: [String] = []
        var round = 1, source = first.source
        while true {
            let now = try await compare()
            source = now.source
            if now.differing.isEmpty { break }
            round += 1
            let newest = Set(now.source.sorted { ($0.value.modified, $0.key) > ($1.value.modified, $1.key) }.prefix(leaveNewest).map(\.key))
            if round > rounds, !newest.isEmpty, Set(now.differing).isSubset(of: newest) {
                roundsLog.append("\(name): \(now.differing.joined(separator: ", ")) still taking writes after \(rounds) rounds; the sync keeps them in step")
                break
            }
            guard round <= rounds else {
                throw StepError.target("\(name): \(now.differing.count) partitions still differ after \(rounds) rounds (\(now.differing.prefix(5).map { "\($0): source \(now.measure[$0]?.0 ?? 0), target \(now.measure[$0]?.1 ?? 0)" }.joined(separator: "; "))); "
                    + "is the source still taking writes there? Nothing was doubled; run again to copy them once more")
            }
            try await recopy(now, round: round, log: &roundsLog)
        }
        return Outcome(partitions: source.count, copied: pending.count, rows: source.values.reduce(0) { $0 + $1.rows }, rounds: roundsLog)
    }

    /// Before the first partition is dropped: the partition expression, written back as SQL,
    /// must select the rows of the partition it names (tried on the least recently written one).
    func probe(_ rows: [String: Partition]) async throws {
        guard let p = rows.keys.min(by: { (rows[$0]?.modified ?? "", $0) < (rows[$1]?.modified ?? "", $1) }), let want = rows[p]?.rows, want > 0 else { return }
        let sql = "SELECT count() FROM \(source.remote(table.database, table.name)) WHERE \(Self.condition(key: key, literal: literal(p))) FORMAT TabSeparated"
        let found: Int
        do {
            found = Int(try await source.query(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        } catch {
            throw StepError.configuration("\(name): its partition expression \(key) (\(table.partitionKeyType)) cannot be copied: selecting partition \(p) by it fails (\(error)). Nothing was changed")
        }
        guard found > 0 else {
            throw StepError.configuration("\(name): its partition expression \(key) (\(table.partitionKeyType)) cannot be copied: selecting partition \(p) by it finds no row where the source's parts hold \(want). Nothing was changed")
        }
    }

    /// The differing partitions of a comparison copied again (gone from the source: dropped).
    func recopy(_ c: (source: [String: Partition], differing: [String], measure: [String: (Int, Int)]), round: Int, log: inout [String]) async throws {
        let unit = mode == .count ? "rows" : "keys"
        for p in c.differing {
            log.append("\(name) \(p): source \(c.measure[p]?.0 ?? 0) \(unit), target \(c.measure[p]?.1 ?? 0); copied again (round \(round))")
            if c.source[p] == nil { try await drop(p) }
        }
        let again = c.differing.filter { c.source[$0] != nil }
        try await copyAll(again, rows: c.source, already: c.source.count - again.count)
    }

    /// The `last` most recently written partitions of the source compared, and copied again when
    /// they differ (incremental mode); the partitions copied again.
    func resync(last: Int, round: Int, log: inout [String]) async throws -> [String] {
        let src = try await partitions(onSource: true)
        let newest = src.sorted { ($0.value.modified, $0.key) > ($1.value.modified, $1.key) }.prefix(last).map(\.key)
        let c = try await compare(only: newest)
        try await recopy(c, round: round, log: &log)
        return c.differing
    }

    /// Copies `partitions`, as many pieces of work at once as `concurrency` allows (asked again
    /// as each ends, and every 2 s); a partition of at least `split.minRows` rows goes in pieces,
    /// after it was dropped on the target. `already`: partitions of the table equal before this
    /// pass, counted as done in the progress line.
    func copyAll(_ partitions: [String], rows: [String: Partition], already: Int = 0) async throws {
        var work: [Work] = []
        for p in partitions {
            if let split, split.pieces > 1, (rows[p]?.rows ?? 0) >= split.minRows {
                try await drop(p)
                work += (0..<split.pieces).map { Work(partition: p, piece: $0, of: split.pieces) }
            } else {
                work.append(Work(partition: p, piece: nil, of: 1))
            }
        }
        guard !work.isEmpty else { return }
        var queue = work[...]
        var progress = CopyProgress(partitions: partitions, work: work, rows: rows.mapValues(\.rows), already: already)
        var inFlight = 0, allowed = max(1, concurrency())
        enum Event: Sendable { case done(Work), tick }
        try await withThrowingTaskGroup(of: Event.self) { group in
            func fill() {
                while inFlight < allowed, let w = queue.popFirst() {
                    inFlight += 1
                    group.addTask {
                        try await self.copy(w)
                        return .done(w)
                    }
                }
            }
            fill()
            group.addTask { try await Task.sleep(for: .seconds(2)); return .tick }
            while let event = try await group.next() {
                switch event {
                case .tick:
                    if queue.isEmpty && inFlight == 0 { break }
                    group.addTask { try await Task.sleep(for: .seconds(2)); return .tick }
                case .done(let w):
                    inFlight -= 1
                    progress.finished(w)
                    say("\(name): partition \(w.partition)\(w.piece.map { " piece \($0 + 1)/\(w.of)" } ?? "") copied; \(progress.line(now: Date())), \(allowed) at once")
                }
                let now = max(1, concurrency())
                if now != allowed {
                    say("\(name): \(now) copies at once from now on (was \(allowed); spec.clickhouse.copy.concurrency)")
                    allowed = now
                }
                fill()
                if queue.isEmpty && inFlight == 0 { group.cancelAll(); break }
            }
        }
    }
}

/// A copy pass's progress: partitions done of the table's, rows/s, and the ETA from the source's
/// row counts of what is left. Pure but for the clock it is given.
struct CopyProgress {
    let total: Int
    let rowsToCopy: Int
    let started: Date
    private var done: Int
    private var copiedRows = 0
    private var piecesLeft: [String: Int] = [:]
    private let rows: [String: Int]

    init(partitions: [String], work: [PartitionCopy.Work], rows: [String: Int], already: Int, started: Date = Date()) {
        self.total = already + partitions.count
        self.done = already
        self.rows = rows
        self.rowsToCopy = partitions.reduce(0) { $0 + (rows[$1] ?? 0) }
        self.started = started
        for w in work { piecesLeft[w.partition, default: 0] += 1 }
    }

    mutating func finished(_ w: PartitionCopy.Work) {
        let all = rows[w.partition] ?? 0
        // Each piece its share; the last one the remainder too, so a finished table reads ETA 0 s.
        copiedRows += all / w.of + (w.piece == w.of - 1 ? all % w.of : 0)
        piecesLeft[w.partition, default: 1] -= 1
        if piecesLeft[w.partition] == 0 { done += 1 }
    }

    /// `5/12 partitions, 81234 rows/s, ETA 40 s`
    func line(now: Date) -> String {
        let rate = Double(copiedRows) / max(0.001, now.timeIntervalSince(started))
        let eta = rate > 0 ? Int((Double(max(0, rowsToCopy - copiedRows)) / rate).rounded(.up)) : nil
        return "\(done)/\(total) partitions, \(Int(rate)) rows/s" + (eta.map { ", ETA \($0) s" } ?? "")
    }
}

/// ClickHouse text: single-quoted literals, and a secret kept out of messages. Pure.
enum ClickHouseText {
    static func escape(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") }

    /// A name in backquotes, its own backquotes and backslashes escaped.
    static func identifier(_ s: String) -> String { "`" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`" }

    /// `text` with every appearance of `secret` (as written, and escaped) masked.
    static func without(_ secret: String, in text: String) -> String {
        guard !secret.isEmpty else { return text }
        return text.replacingOccurrences(of: escape(secret), with: "***").replacingOccurrences(of: secret, with: "***")
    }
}
