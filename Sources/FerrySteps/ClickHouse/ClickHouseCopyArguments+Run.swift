import FerryProtocol
import KubeClient
import Foundation

extension ClickHouseCopyArguments {
    /// Checks the options, logs in to both servers with the mounted credentials, refuses a source
    /// that does not answer or is the target itself, then copies each table the names and
    /// patterns select (``PartitionCopy``); with `syncLast`, keeps them in step until stopped.
    public func run(say: @escaping @Sendable (String) -> Void = { print($0) }) async throws -> ClickHouseCopyResult {
        guard concurrency >= 1 && concurrency <= 64 else { throw StepError.configuration("--concurrency must be between 1 and 64 (spec.clickhouse.copy.concurrency)") }
        guard rounds >= 1 && rounds <= 20 else { throw StepError.configuration("--rounds must be between 1 and 20 (spec.clickhouse.copy.rounds)") }
        guard !tables.isEmpty else { throw StepError.configuration("--table names no table (spec.clickhouse.copy.tables)") }
        if splitMinRows > 0 {
            guard splitPieces >= 2 && splitPieces <= 256 else { throw StepError.configuration("--split-pieces must be between 2 and 256 (spec.clickhouse.copy.split.pieces)") }
            guard !splitBy.isEmpty, splitBy.allSatisfy({ ClickHouseNames.isIdentifier($0) }) else {
                throw StepError.configuration("--split-by must name columns (letters, digits, _) to cut big partitions by (spec.clickhouse.copy.split.by)")
            }
        }
        if let v = verify, ClickHouseNames.verifyColumns(v) == nil { throw StepError.configuration("--verify \"\(v)\" is not count, distinct or distinct(column, …) (spec.clickhouse.copy.verify)") }
        guard syncLast >= 0, syncEvery >= 1 else { throw StepError.configuration("--sync-last must be 0 or more and --sync-every at least 1 (spec.clickhouse.copy.incremental)") }
        let source = try await Self.source(source, sourceCredentialsDir: sourceCredentialsDir, url: url, credentialsDir: credentialsDir)
        let zones = try await source.check()
        let found = try await StepError.unchanged { try await source.tables(tables) }
        // A time printed in one zone and read in another lands in the neighbouring partition.
        if let t = found.first(where: { $0.partitionKeyType.contains("DateTime") }), zones.source != [zones.target] {
            throw StepError.configuration("\(t.fullName) is partitioned by a time (\(t.partitionKey)) and the servers' time zones differ (source \(zones.source.sorted().joined(separator: ", ")), target \(zones.target)): "
                + "its partitions would not match; give both the same <timezone>. Nothing was changed")
        }
        let (fallback, file) = (concurrency, concurrencyFile)
        let copies = found.filter(\.isMergeTree).map { t in
            PartitionCopy(source: source, table: t, concurrency: { file.flatMap(ConcurrencySchedule.read)?.value(at: Date(), fallback: fallback) ?? fallback },
                          rounds: rounds, verify: PartitionCopy.VerifyMode.parse(verify, sortingKey: t.sortingKey),
                          split: splitMinRows > 0 ? .init(minRows: splitMinRows, pieces: splitPieces, by: splitBy) : nil, say: say)
        }
        let schemaOnly = found.filter { $0.engine == "Distributed" }.map(\.fullName)
        if let other = found.first(where: { !$0.isMergeTree && $0.engine != "Distributed" }) {
            throw StepError.configuration("\(other.fullName) on the source is a \(other.engine) table: only MergeTree-family tables are copied partition by partition (and Distributed ones made by clickhouse-schema); leave it out of spec.clickhouse.copy.tables")
        }
        // Every table checked before the first one changes anything.
        for c in copies { try await c.prepare() }
        let started = Date()
        var total = ClickHouseCopyResult(table: tables.joined(separator: ", "), tables: copies.count, partitions: 0, copied: 0, skipped: 0, rounds: [], rows: 0, seconds: 0, rowsPerSecond: 0,
                                         verified: "", schemaOnly: schemaOnly.isEmpty ? nil : schemaOnly)
        var changed = false
        for c in copies {
            let o: PartitionCopy.Outcome
            do {
                o = try await c.run(leaveNewest: syncLast)
            } catch let e as StepError where changed && e.changedNothing {
                // Earlier tables of this entry were copied: not "nothing was changed".
                throw StepError.target("\(e)".replacingOccurrences(of: " Nothing was changed", with: "") + " (the tables before it were copied)")
            }
            changed = true
            total.partitions += o.partitions
            total.copied += o.copied
            total.skipped += o.partitions - o.copied
            total.rows += o.rows
            total.rounds += o.rounds
        }
        let modes = Set(copies.map(\.mode.text)).sorted().joined(separator: " / ")
        total.verified = "\(modes) of each table and of each of its \(total.partitions) partitions equal on both sides"
        let seconds = max(0.001, Date().timeIntervalSince(started))
        total.seconds = (seconds * 1000).rounded() / 1000
        total.rowsPerSecond = Int(Double(total.rows) / seconds)
        guard syncLast > 0 else { return total.compacted() }
        try await keepInStep(copies, say: say)
    }

    /// Incremental mode: every `syncEvery` seconds, each table's newest `syncLast` partitions
    /// compared and copied again when they differ, until the process is stopped. Each round
    /// ends with a line the operator reads: `in step: …` (the cutover may go ahead) or
    /// `behind: …` (a round failed; it is tried again).
    func keepInStep(_ copies: [PartitionCopy], say: @escaping @Sendable (String) -> Void) async throws -> Never {
        say("in step: round 1 at \(Timestamps.format(Date())): every partition of \(copies.count) tables copied and verified")
        var round = 1
        while true {
            try await Task.sleep(for: .seconds(syncEvery))
            round += 1
            var log: [String] = []
            do {
                var again: [String] = []
                for c in copies { again += try await c.resync(last: syncLast, round: round, log: &log).map { "\(c.name) \($0)" } }
                for line in log { say(line) }
                say("in step: round \(round) at \(Timestamps.format(Date())): newest \(syncLast) partitions of \(copies.count) tables compared, "
                    + (again.isEmpty ? "all equal" : "\(again.count) copied again (\(again.prefix(5).joined(separator: ", ")))"))
            } catch {
                say("behind: round \(round) at \(Timestamps.format(Date())) failed: \(error); trying again in \(syncEvery) s")
            }
        }
    }

    /// The source as the target reaches it, logged in to with the mounted credentials.
    static func source(_ addresses: String, sourceCredentialsDir: String?, url: String, credentialsDir: String?) async throws -> ClickHouseSource {
        if let bad = badAddress(addresses) {
            throw StepError.configuration("--source \"\(addresses)\": \(bad); write host:port (the native port, as the target reaches it), replicas of a shard joined by |, shards by , (spec.clickhouse.copy.source.shards)")
        }
        let (sourceUser, sourcePassword) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_SOURCE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_SOURCE_PASSWORD",
                                                                 directory: sourceCredentialsDir, defaultUser: "default")
        let (user, password) = try Credentials.login(userEnv: "FERRY_CLICKHOUSE_USERNAME", passwordEnv: "FERRY_CLICKHOUSE_PASSWORD", directory: credentialsDir, defaultUser: "default")
        return ClickHouseSource(target: try ClickHouseClient(ClickHouseEndpoint(url: url, user: user, password: password)), addresses: addresses, user: sourceUser, password: sourcePassword)
    }

    /// Why `source` is not `host:port[|host:port…][,…]`; nil when it is. Pure.
    static func badAddress(_ source: String) -> String? {
        let shards = source.split(separator: ",", omittingEmptySubsequences: false)
        guard !source.isEmpty else { return "empty" }
        for shard in shards {
            let replicas = shard.split(separator: "|", omittingEmptySubsequences: false)
            for r in replicas {
                let parts = r.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else { return "\"\(r)\" is not host:port" }
                guard let port = Int(parts[1]), (1...65535).contains(port) else { return "\"\(r)\" has no port between 1 and 65535" }
            }
        }
        return nil
    }
}
