@testable import FerrySteps
import FerryProtocol
import Foundation
import TestSupport
import Testing

/// Copying a live ClickHouse table partition by partition between two real ClickHouse 18.16
/// servers (``PartitionCopy``).
@Suite("ClickHouse partition copy (two real ClickHouse servers)", .serialized, .takingTurns)
struct ClickHouseCopyTests {
    /// A table of `rows` rows over 12 monthly partitions on the source; none on the target.
    func setUp(_ pair: ClickHousePair, rows: Int = 120_000) async throws -> String {
        let db = "copy_\(UUID().uuidString.prefix(6).lowercased())"
        try await pair.sql(pair.sourceHTTP, "CREATE DATABASE \(db)")
        try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, id)")
        try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-01') + (number % 360), number, concat('row ', toString(number)) FROM system.numbers LIMIT \(rows)")
        return db
    }

    func source(_ pair: ClickHousePair, addresses: String? = nil) throws -> ClickHouseSource {
        ClickHouseSource(target: try ClickHouseClient(ClickHouseEndpoint(url: "http://127.0.0.1:\(pair.targetHTTP)")),
                         addresses: addresses ?? "127.0.0.1:\(pair.sourceTCP)", user: "ferry", password: "s3cret pass")
    }

    func copier(_ pair: ClickHousePair, _ db: String, concurrency: Int = 2, addresses: String? = nil) async throws -> PartitionCopy {
        let source = try source(pair, addresses: addresses)
        let table = try #require(try await source.tables(["\(db).events"]).first)
        return PartitionCopy(source: source, table: table, concurrency: { concurrency }, say: { _ in })
    }

    func perPartition(_ pair: ClickHousePair, _ http: Int, _ db: String) async throws -> String {
        try await pair.sql(http, "SELECT toYYYYMM(d) AS p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p")
    }

    @Test("12 partitions copied through remote(), 2 at once; both sides hold the same rows per partition; a second run finds them all there and copies nothing; the password stays out of the target's query log")
    func copy() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            let r = try await copier(pair, db).run()
            #expect(r.partitions == 12 && r.copied == 12 && r.rows == 120_000 && r.rounds.isEmpty, "\(r)")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
            let again = try await copier(pair, db).run()
            #expect(again.copied == 0 && again.partitions == 12, "\(again)")
            try await pair.sql(pair.targetHTTP, "SYSTEM FLUSH LOGS")
            let logged = try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.query_log WHERE query LIKE '%s3cret%' AND query LIKE '%\(db)%' AND query NOT LIKE '%query_log%'")
            #expect(logged == "0", "the source's password is in the target's query log")
            let others = try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.query_log WHERE query LIKE '%system.parts%' AND query LIKE '%\(db)%' AND query NOT LIKE '%query_log%'")
            #expect((Int(others) ?? 0) > 0, "the target logs queries (else the check above proves nothing)")
        }
    }

    @Test("a partition cut off mid-copy, and one with rows deleted on the target: both found, dropped and copied again, never doubled")
    func recopy() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            _ = try await copier(pair, db).run()
            // Cut off: half of March; tampered: rows gone from July.
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).events DROP PARTITION 202503")
            try await pair.sql(pair.targetHTTP, "INSERT INTO \(db).events SELECT d, id, s FROM remote('127.0.0.1:\(pair.sourceTCP)', \(db), events, 'ferry', 's3cret pass') WHERE toYYYYMM(d) = 202503 AND id % 2 = 0")
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).events DELETE WHERE toYYYYMM(d) = 202507 AND id % 10 = 0")
            #expect(try await eventually(timeout: 30) { try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.mutations WHERE database = '\(db)' AND NOT is_done") == "0" })
            let r = try await copier(pair, db).run()
            #expect(r.copied == 2 && r.partitions == 12, "\(r)")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
        }
    }

    /// A statement run to its end from a synchronous callback (curl, so no async thread is waited on).
    static func sqlNow(_ port: Int, _ sql: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-sS", "--fail", "http://127.0.0.1:\(port)/", "--data-binary", sql]
        try? p.run()
        p.waitUntilExit()
    }

    @Test("rows written on the source into a partition after its copy: the verification after the pass finds it, round 2 copies it again, the result names the round; written again after every copy: the run fails after its rounds naming the partition and both counts, and nothing is doubled")
    func rounds() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            let january = "SELECT count() FROM \(db).events WHERE toYYYYMM(d) = 202501"
            let before = Int(try await pair.sql(pair.sourceHTTP, january)) ?? 0
            // After January's first copy (and, in the second run, after every copy of it), 100 rows more on the source.
            let writes = Locked(0)
            func writer(limit: Int) -> @Sendable (String) -> Void {
                { line in
                    guard line.contains("partition 202501 copied"), writes.withLock({ $0 += 1; return $0 }) <= limit else { return }
                    let n = writes.withLock { $0 }
                    Self.sqlNow(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-15'), 50000000 + \(n) * 1000 + number, 'late' FROM system.numbers LIMIT 100")
                }
            }
            var copy = try await copier(pair, db, concurrency: 1)
            copy.say = writer(limit: 1)
            let r = try await copy.run()
            #expect(r.rounds == ["\(db).events 202501: source \(before + 100) rows, target \(before); copied again (round 2)"], "\(r.rounds)")
            #expect(r.copied == 12 && writes.withLock { $0 } == 2, "\(r)")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).events DROP PARTITION 202501")
            copy.rounds = 2
            copy.say = writer(limit: .max)
            do { _ = try await copy.run(); Issue.record("a partition written after every copy was taken as equal") } catch {
                let now = Int(try await pair.sql(pair.sourceHTTP, january)) ?? 0
                #expect("\(error)".contains("\(db).events: 1 partitions still differ after 2 rounds (202501: source \(now), target \(now - 100))"), "\(error)")
                #expect((error as? StepError)?.changedNothing != true, "partitions were dropped and copied: not 'nothing was changed'")
            }
            let now = Int(try await pair.sql(pair.sourceHTTP, january)) ?? 0
            #expect(try await pair.sql(pair.targetHTTP, january) == "\(now - 100)", "January on the target: the source as of the last copy, no row twice")
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() - uniqExact(id) FROM \(db).events") == "0", "no row doubled")
        }
    }

    @Test("ferry clickhouse copy killed (SIGKILL) while its INSERT runs on the target (which goes on without it): the next run stops that INSERT before it drops anything, copies again, every partition equal, no row doubled")
    func killedMidInsert() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            // January big, and the target slow to take rows (40 µs a row): its INSERT runs for about 16 s, however loaded the machine.
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-05'), 20000000 + number, 'bulk' FROM system.numbers LIMIT 400000")
            try await pair.sql(pair.targetHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.targetHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, s String, slow UInt8 MATERIALIZED sleepEachRow(0.00004)) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, id)")
            let january = try await copier(pair, db).queryID(.init(partition: "202501", piece: nil, of: 1))
            let args = try arguments(pair, ["\(db).events"])
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.ferry)
            process.arguments = args.argv
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let running = "SELECT count() FROM system.processes WHERE query_id = '\(january)' AND elapsed > 0.5"
            let started = try await eventually(timeout: 120, interval: 0.2) { try await pair.sql(pair.targetHTTP, running) == "1" }
            #expect(started, "January's INSERT never ran on the target")
            kill(process.processIdentifier, SIGKILL)
            await waitForExit(process)
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.processes WHERE query_id = '\(january)'") == "1", "the target goes on with the INSERT of a killed client")
            // Run again, in this process (no start-up time): it must stop that INSERT before it drops January.
            let lines = Locked<[String]>([])
            let r = try await args.run(say: { line in lines.withLock { $0.append(line) } })
            #expect(r.partitions == 12, "\(r)")
            #expect(lines.withLock { $0 }.contains { $0.contains("stopped 1 INSERT an earlier run left running on the target (\(january)), before anything is dropped") },
                    "the killed run's INSERT stopped by the next run, not left to finish after its drop: \(lines.withLock { $0 }.prefix(3))")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() - uniqExact(id) FROM \(db).events") == "0", "no row doubled")
        }
    }

    @Test("a writer inserting into the newest partition during the copy: once it stops, a run ends with equal verified counts")
    func concurrentInserts() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            let writer = Task {
                for i in 0..<40 {
                    try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-12-20'), 1000000 + \(i) * 100 + number, 'late' FROM system.numbers LIMIT 100")
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            do { _ = try await copier(pair, db, concurrency: 1).run() } catch {
                #expect("\(error)".contains("still differ after 3 rounds"), "the only way a copy under writes may fail: \(error)")
            }
            try await writer.value
            let r = try await copier(pair, db).run()
            #expect(r.rows == 124_000, "\(r)")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
        }
    }

    @Test("a partition over split.minRows copied in pieces at once (dropped once before them): every piece copied, equal, not doubled")
    func pieces() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair, rows: 60_000)
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-02-10'), 9000000 + number, 'big' FROM system.numbers LIMIT 50000")
            var copy = try await copier(pair, db, concurrency: 3)
            copy.split = .init(minRows: 40_000, pieces: 4, by: ["id"])
            let lines = Locked<[String]>([])
            copy.say = { line in lines.withLock { $0.append(line) } }
            let r = try await copy.run()
            #expect(r.copied == 12 && r.rows == 110_000, "\(r)")
            let all = lines.withLock { $0 }
            #expect(all.filter { $0.contains("partition 202502 piece") }.count == 4, "\(all)")
            // Progress counts partitions: the split one once, after its last piece.
            let progress = all.filter { $0.contains(" copied; ") }
            #expect(progress.count == 11 + 4, "\(all)")
            let counts = progress.compactMap { $0.components(separatedBy: "; ").last?.split(separator: "/").first.flatMap { Int($0) } }
            #expect(counts == counts.sorted() && Set(counts).isSuperset(of: 1...12) && counts.last == 12, "\(counts)")
            let last = progress.last ?? ""
            #expect(last.contains("12/12 partitions, ") && last.contains("rows/s") && last.contains("ETA 0 s"), "the progress line: \(last)")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
        }
    }

    @Test("ReplacingMergeTree with duplicate keys: compared by distinct keys (merges change counts), so a target whose parts merged away the duplicates is equal and nothing is copied again; by row counts it would be")
    func replacing() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = "copyrep_\(UUID().uuidString.prefix(6).lowercased())"
            try await pair.sql(pair.sourceHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, v UInt32) ENGINE = ReplacingMergeTree(v) PARTITION BY toYYYYMM(d) ORDER BY (d, id)")
            for v in 1...3 {
                try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-01') + (number % 90), number, \(v) FROM system.numbers LIMIT 3000")
            }
            let copy = try await copier(pair, db)
            let first = try await copy.run()
            #expect(first.copied == 3 && copy.mode.text == "uniqExact(d, id)", "\(first)")
            try await pair.sql(pair.targetHTTP, "OPTIMIZE TABLE \(db).events FINAL")
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM \(db).events") == "3000", "the target merged the duplicates away")
            let again = try await copy.run()
            #expect(again.copied == 0 && again.rounds.isEmpty, "\(again)")
            // Keys that recur in every partition: a partition gone from the target leaves the keys' count as it was, not the (partition, key) pairs'.
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).recurring (d Date, id UInt64, v UInt32) ENGINE = ReplacingMergeTree(v) PARTITION BY toYYYYMM(d) ORDER BY id")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).recurring SELECT toDate('2025-01-01') + number % 90, number % 100, 1 FROM system.numbers LIMIT 3000")
            let src = try source(pair)
            let recurring = PartitionCopy(source: src, table: try #require(try await src.tables(["\(db).recurring"]).first), say: { _ in })
            _ = try await recurring.run()
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).recurring DROP PARTITION 202502")
            let found = try await recurring.run()
            #expect(found.copied == 1, "\(found)")
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM \(db).recurring FINAL WHERE toYYYYMM(d) = 202502") == pair.sql(pair.sourceHTTP, "SELECT count() FROM \(db).recurring FINAL WHERE toYYYYMM(d) = 202502"))
            var byCount = copy
            byCount.verify = .count
            let counted = try await byCount.run()
            #expect(counted.copied == 3, "by row counts every partition looks different: \(counted)")
            // distinct(id) as the spec writes it, run on the servers as uniqExact(`id`): the target's duplicates merged
            // away (its row counts now differ, as count mode would see) is equal; one id gone is not.
            var byID = copy
            byID.verify = PartitionCopy.VerifyMode.parse("distinct(id)", sortingKey: copy.table.sortingKey)
            let lines = Locked<[String]>([])
            byID.say = { line in lines.withLock { $0.append(line) } }
            try await pair.sql(pair.targetHTTP, "OPTIMIZE TABLE \(db).events FINAL")
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM \(db).events") == "3000")
            let counted0 = try await byID.run()
            #expect(byID.mode.text == "uniqExact(`id`)" && counted0.copied == 0, "\(counted0)")
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).events DELETE WHERE id = 5")
            #expect(try await eventually(timeout: 30) { try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.mutations WHERE database = '\(db)' AND NOT is_done") == "0" })
            let byIDAgain = try await byID.run()
            #expect(byIDAgain.copied == 1 && lines.withLock { $0 }.contains { $0.contains("copying 1") }, "one id gone: found by distinct(id), its partition copied again: \(byIDAgain)")
        }
    }

    @Test("refused, nothing created on the target: a table without PARTITION BY, a table that is not MergeTree, a table missing on one shard; addresses that are not host:port")
    func refusals() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = "copyref_\(UUID().uuidString.prefix(6).lowercased())"
            try await pair.sql(pair.sourceHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (id UInt64) ENGINE = MergeTree ORDER BY id")
            do { _ = try await copier(pair, db).run(); Issue.record("copied without partitions") } catch { #expect("\(error)".contains("no PARTITION BY"), "\(error)") }
            try await pair.sql(pair.sourceHTTP, "DROP TABLE \(db).events")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (id UInt64) ENGINE = Log")
            do { _ = try await copier(pair, db).run(); Issue.record("copied a Log table") } catch { #expect("\(error)".contains("Log table"), "\(error)") }
            do { _ = try await source(pair, addresses: "127.0.0.1:\(pair.sourceTCP),127.0.0.1:\(pair.targetTCP)").tables(["\(db).events"]); Issue.record("copied a table missing on a shard") } catch {
                #expect("\(error)".contains("on 1 of the source's 2 shards"), "\(error)")
            }
            do { _ = try await source(pair).tables(["\(db).nothing_*"]); Issue.record("a pattern matching nothing") } catch { #expect("\(error)".contains("matches no table"), "\(error)") }
            // A partition expression whose values cannot be written back as SQL (an Array key: system.parts prints [1,2],
            // and a string cannot be compared with an array): refused before anything on the target is dropped.
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).tagged (tags Array(UInt8), id UInt64) ENGINE = MergeTree PARTITION BY tags ORDER BY id")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).tagged VALUES ([1,2], 1), ([3], 2), ([3], 3)")
            try await pair.sql(pair.targetHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.targetHTTP, "CREATE TABLE \(db).tagged (tags Array(UInt8), id UInt64) ENGINE = MergeTree PARTITION BY tags ORDER BY id")
            try await pair.sql(pair.targetHTTP, "INSERT INTO \(db).tagged VALUES ([1,2], 7), ([9], 8)")
            let src = try source(pair)
            let tagged = try #require(try await src.tables(["\(db).tagged"]).first)
            do { _ = try await PartitionCopy(source: src, table: tagged, say: { _ in }).run(); Issue.record("copied with a partition expression it cannot write") } catch {
                #expect("\(error)".contains("partition expression tags (Array(UInt8)) cannot be copied") && (error as? StepError)?.changedNothing == true, "\(error)")
            }
            #expect(try await pair.sql(pair.targetHTTP, "SELECT id FROM \(db).tagged ORDER BY id") == "7\n8", "nothing dropped or copied")
            try await pair.sql(pair.targetHTTP, "DROP DATABASE \(db)")
            // The target named as the source: refused before a partition is dropped.
            for addresses in ["127.0.0.1:\(pair.targetTCP)", "127.0.0.1:\(pair.sourceTCP)|127.0.0.1:\(pair.targetTCP)", "127.0.0.1:\(pair.targetTCP)|127.0.0.1:\(pair.sourceTCP)"] {
                do { try await source(pair, addresses: addresses).check(); Issue.record("the target taken as its own source: \(addresses)") } catch {
                    #expect("\(error)".contains("127.0.0.1:\(pair.targetTCP) is the target server itself") && (error as? StepError)?.changedNothing == true, "\(error)")
                }
            }
            try await source(pair).check()
            #expect(ClickHouseCopyArguments.badAddress("a:9000|b:9000,c:9000") == nil)
            for bad in ["", "a", "a:0", "a:9000,", "a:9000||b:1", "a b:9000", "a:9000');DROP TABLE x;--"] {
                #expect(ClickHouseCopyArguments.badAddress(bad) != nil, "\(bad)")
            }
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.databases WHERE name = '\(db)'") == "0")
        }
    }

    @Test("the partition key read from CREATE TABLE, up to the next clause")
    func partitionKey() {
        #expect(PartitionCopy.partitionKey("CREATE TABLE a.b (d Date) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY d SETTINGS index_granularity = 8192") == "toYYYYMM(d)")
        #expect(PartitionCopy.partitionKey("CREATE TABLE a.b (d Date, k String) ENGINE = ReplacingMergeTree PARTITION BY (toMonday(d), k) PRIMARY KEY d ORDER BY (d, k)") == "(toMonday(d), k)")
        #expect(PartitionCopy.partitionKey("CREATE TABLE a.b (d Date) ENGINE = MergeTree ORDER BY d") == nil)
        #expect(PartitionCopy.condition(key: "toYYYYMM(d)", literal: "202503") == "(toYYYYMM(d)) = 202503")
        // How system.parts prints each kind of key, written back as SQL.
        #expect(PartitionCopy.literal("202503", type: "UInt32") == "202503")
        #expect(PartitionCopy.literal("2025-03-01", type: "Date") == "'2025-03-01'")
        #expect(PartitionCopy.literal("2025-03-01 00:00:00", type: "DateTime") == "'2025-03-01 00:00:00'")
        #expect(PartitionCopy.literal("('a\\'b',202503)", type: "Tuple(String, UInt32)") == "('a\\'b',202503)")
        #expect(PartitionCopy.literal("(x", type: "String") == "'(x'", "a string that looks like a tuple stays a string")
        #expect(PartitionCopy.literal("it's", type: "Enum8('it\\'s' = 1)") == "'it\\'s'")
        #expect(PartitionCopy.literal("123", type: "String") == "'123'")
        #expect(PartitionCopy.verifyMode(engine: "ReplacingMergeTree", sortingKey: "d, id") == .distinct("d, id"))
        #expect(PartitionCopy.verifyMode(engine: "ReplicatedCollapsingMergeTree", sortingKey: "k") == .distinct("k"))
        #expect(PartitionCopy.verifyMode(engine: "MergeTree", sortingKey: "d") == .count)
    }

    static let ferry = repoRoot + "/.build/debug/ferry"

    func cli(_ pair: ClickHousePair, _ db: String, sourceAddress: String? = nil, sourcePassword: String = "s3cret pass", environment: [String: String] = [:],
             edit: (inout ClickHouseCopyArguments) -> Void = { _ in }) async throws -> (status: Int32, output: String) {
        let creds = try makeTempDir("ch-source-creds")
        try Data("ferry".utf8).write(to: URL(fileURLWithPath: creds + "/username"))
        try Data(sourcePassword.utf8).write(to: URL(fileURLWithPath: creds + "/password"))
        var args = ClickHouseCopyArguments(tables: ["\(db).events"], source: sourceAddress ?? "127.0.0.1:\(pair.sourceTCP)",
                                           sourceCredentialsDir: creds, url: "http://127.0.0.1:\(pair.targetHTTP)", concurrency: 3, resultFile: "")
        edit(&args)
        let r = try await runCommand(Self.ferry, args.argv, environment: environment, timeout: 180)
        return (r.status, r.stdout + r.stderr)
    }

    @Test("ferry clickhouse copy killed (SIGKILL) right after it dropped a partition on the target: run again, every partition equal, no row doubled; wrong source credentials refused before anything is created on the target; a run that finds every partition equal copies nothing")
    func killedAndRefused() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            let wrong = try await cli(pair, db, sourcePassword: "nope")
            #expect(wrong.status != 0 && wrong.output.contains("does not answer") && wrong.output.contains("\"changed\":false") && !wrong.output.contains("nope"), "\(wrong.output)")
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.databases WHERE name = '\(db)'") == "0")
            _ = try await copier(pair, db).run()
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-06-10'), 5000000 + number, 'new' FROM system.numbers LIMIT 500")
            let marks = try makeTempDir("ch-failpoint")
            let killed = try await cli(pair, db, environment: ["FERRY_TEST_FAILPOINT": "clickhouse-copy-after-drop:kill:\(marks)"])
            #expect(killed.status == 137, "\(killed.output)")
            let again = try await cli(pair, db)
            #expect(again.status == 0 && again.output.contains("\"ok\":true"), "\(again.output)")
            #expect(try await perPartition(pair, pair.targetHTTP, db) == perPartition(pair, pair.sourceHTTP, db))
            let unreachable = try await cli(pair, db, sourceAddress: "127.0.0.1:1")
            #expect(unreachable.status != 0 && unreachable.output.contains("does not answer") && unreachable.output.contains("\"changed\":false"), "\(unreachable.output)")
            // One server named twice (as two shards) would be read twice: refused.
            do { _ = try await copier(pair, db, addresses: "127.0.0.1:1|127.0.0.1:\(pair.sourceTCP),127.0.0.1:\(pair.sourceTCP)|127.0.0.1:2"); Issue.record("a server named twice was taken") } catch {
                #expect("\(error)".contains("names 127.0.0.1:\(pair.sourceTCP) twice"), "\(error)")
            }
            // A shard whose first replica is down: the next one is read, once.
            try await pair.sql(pair.targetHTTP, "DROP TABLE \(db).events")
            let r = try await copier(pair, db, addresses: "127.0.0.1:1|127.0.0.1:\(pair.sourceTCP)").run()
            let sourceRows = Int(try await pair.sql(pair.sourceHTTP, "SELECT count() FROM \(db).events")) ?? 0
            let targetRows = Int(try await pair.sql(pair.targetHTTP, "SELECT count() FROM \(db).events")) ?? -1
            #expect(r.rows == sourceRows && targetRows == sourceRows, "\(r)")
        }
    }

    /// The copy's options as the Job gets them, with the source's credentials in a folder.
    func arguments(_ pair: ClickHousePair, _ tables: [String]) throws -> ClickHouseCopyArguments {
        let creds = try makeTempDir("ch-source-creds")
        try Data("ferry".utf8).write(to: URL(fileURLWithPath: creds + "/username"))
        try Data("s3cret pass".utf8).write(to: URL(fileURLWithPath: creds + "/password"))
        return ClickHouseCopyArguments(tables: tables, source: "127.0.0.1:\(pair.sourceTCP)", sourceCredentialsDir: creds, url: "http://127.0.0.1:\(pair.targetHTTP)", resultFile: "")
    }

    @Test("db.* copies every MergeTree table of the database and leaves its Distributed table to clickhouse-schema; the concurrency file edited mid-copy is taken up, and a schedule rule for now wins over the default")
    func patternAndConcurrency() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair, rows: 36_000)
            // 36 daily partitions, so the copy is still going when the file changes.
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).daily (d Date, id UInt64) ENGINE = MergeTree PARTITION BY d ORDER BY id")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).daily SELECT toDate('2025-03-01') + (number % 36), number FROM system.numbers LIMIT 36000")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events_all (d Date, id UInt64, s String) ENGINE = Distributed(source, \(db), events)")
            // Keys system.parts prints bare (a time, a string with a quote and a tab, an enum) or as a tuple.
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).keyed (t DateTime, s String, e Enum8('it\\'s' = 1, 'b' = 2), id UInt64) ENGINE = MergeTree PARTITION BY (s, e) ORDER BY id")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).timed (t DateTime, s String) ENGINE = MergeTree PARTITION BY toStartOfDay(t) ORDER BY t")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).named (s String, id UInt64) ENGINE = MergeTree PARTITION BY s ORDER BY id")
            for (i, s) in ["x\\ty", "it\\'s", "(x", "123"].enumerated() {
                try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).keyed VALUES (now(), '\(s)', \(i % 2 == 0 ? "'it\\'s'" : "'b'"), \(i))")
                try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).timed VALUES (toDateTime('2025-03-0\(i + 1) 10:00:00'), '\(s)')")
                try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).named VALUES ('\(s)', \(i))")
            }
            let dir = try makeTempDir("ch-concurrency")
            let file = dir + "/schedule.json"
            try ConcurrencySchedule(default: 1).json.write(toFile: file, atomically: true, encoding: .utf8)
            var args = try arguments(pair, ["\(db).*"])
            args.concurrencyFile = file
            let lines = Locked<[String]>([])
            let r = try await args.run(say: { line in
                lines.withLock { $0.append(line) }
                // After the first partition of daily: a rule that holds all day, every day, says 4.
                if line.contains("daily: partition") && line.contains(" 1/36 partitions") {
                    try? ConcurrencySchedule(default: 1, timeZone: "Europe/Berlin", schedule: [.init(from: "00:00", to: "00:00", value: 4)]).json.write(toFile: file, atomically: true, encoding: .utf8)
                }
            })
            #expect(r.tables == 5 && r.partitions == 12 + 36 + 4 + 4 + 4 && r.schemaOnly == ["\(db).events_all"], "\(r)")
            for t in ["keyed", "timed", "named"] {
                let q = "SELECT * FROM \(db).\(t) ORDER BY tuple(*)"
                #expect(try await pair.sql(pair.targetHTTP, q) == pair.sql(pair.sourceHTTP, q), "\(t)")
            }
            // Copied again partition by partition: each dropped by its literal and copied back, nothing doubled.
            let again = try await args.run(say: { _ in })
            #expect(again.copied == 0, "\(again)")
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).named DELETE WHERE 1")
            try await pair.sql(pair.targetHTTP, "ALTER TABLE \(db).timed DELETE WHERE 1")
            #expect(try await eventually(timeout: 30) { try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.mutations WHERE database = '\(db)' AND NOT is_done") == "0" })
            let third = try await args.run(say: { _ in })
            #expect(third.copied == 8, "\(third)")
            for t in ["keyed", "timed", "named"] {
                let q = "SELECT * FROM \(db).\(t) ORDER BY tuple(*)"
                #expect(try await pair.sql(pair.targetHTTP, q) == pair.sql(pair.sourceHTTP, q), "\(t)")
            }
            let all = lines.withLock { $0 }
            #expect(all.contains { $0.contains("\(db).daily: 4 copies at once from now on (was 1") }, "\(all.filter { $0.contains("daily") }.suffix(5))")
            #expect(all.contains { $0.contains("\(db).daily: partition") && $0.hasSuffix("4 at once") })
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM \(db).daily") == "36000")
            #expect(try await pair.sql(pair.targetHTTP, "SELECT count() FROM system.tables WHERE database = '\(db)' AND name = 'events_all'") == "0", "Distributed tables are clickhouse-schema's")
        }
    }

    @Test("incremental: after the first copy the newest partitions are compared every second; rows written into the newest partition on the source are found and copied again, and the line says in step; stopping the sync is safe")
    func sync() async throws {
        try await ClickHousePair.exclusive { pair in
            let db = try await setUp(pair)
            var args = try arguments(pair, ["\(db).events"])
            args.syncLast = 2
            args.syncEvery = 1
            let lines = Locked<[String]>([])
            let syncing = Task { try await args.run(say: { line in lines.withLock { $0.append(line) } }) }
            defer { syncing.cancel() }
            #expect(try await eventually(timeout: 60) { lines.withLock { $0 }.contains { $0.hasPrefix("in step: round 1 ") } }, "\(lines.withLock { $0 })")
            try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-12-26'), 7000000 + number, 'late' FROM system.numbers LIMIT 700")
            let want = try await perPartition(pair, pair.sourceHTTP, db)
            #expect(try await eventually(timeout: 60) { try await perPartition(pair, pair.targetHTTP, db) == want }, "the late rows reached the target")
            #expect(try await eventually(timeout: 60) { lines.withLock { $0 }.contains { $0.hasPrefix("in step: round") && $0.contains("1 copied again (\(db).events 202512)") } }, "\(lines.withLock { $0 }.suffix(5))")
            #expect(lines.withLock { $0 }.contains { $0.contains("\(db).events 202512: source ") && $0.contains("; copied again (round") }, "\(lines.withLock { $0 }.suffix(8))")
            syncing.cancel()
            _ = await syncing.result
            #expect(try await perPartition(pair, pair.targetHTTP, db) == want)
        }
    }
}
