@testable import FerrySteps
import FerryProtocol
import Foundation
import TestSupport
import Testing

/// The schema reshaped on the way (``ClickHouseSchema``): a real source ClickHouse 18.16, and a
/// target of two replicas of one shard with a real ZooKeeper 3.8 (cluster `target`, macros
/// shard/replica, distributed DDL).
@Suite("ClickHouse schema and engine rewrite (ClickHouse source, ZooKeeper, two target replicas)", .serialized, .takingTurns)
struct ClickHouseSchemaTests {
    static let replicated = EngineRewrite.Options(replicate: ["MergeTree": .init(), "ReplacingMergeTree": .init()], cluster: "target")

    func source(_ pair: ClickHousePair, target http: Int) throws -> ClickHouseSource {
        ClickHouseSource(target: try ClickHouseClient(ClickHouseEndpoint(url: "http://127.0.0.1:\(http)")), addresses: "127.0.0.1:\(pair.sourceTCP)", user: "ferry", password: "s3cret pass")
    }

    /// On the source: 12 monthly partitions of events (SETTINGS kept), a ReplacingMergeTree with
    /// duplicates, and a Distributed table over events without a sharding key.
    func setUp(_ pair: ClickHousePair) async throws -> String {
        let db = "schema_\(UUID().uuidString.prefix(6).lowercased())"
        try await pair.sql(pair.sourceHTTP, "CREATE DATABASE \(db)")
        try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, id) SETTINGS index_granularity = 4096")
        try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).events SELECT toDate('2025-01-01') + (number % 360), number, toString(number) FROM system.numbers LIMIT 60000")
        try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).latest (d Date, id UInt64, v UInt32) ENGINE = ReplacingMergeTree(v) PARTITION BY toYYYYMM(d) ORDER BY (d, id)")
        for v in 1...2 { try await pair.sql(pair.sourceHTTP, "INSERT INTO \(db).latest SELECT toDate('2025-01-01') + (number % 60), number, \(v) FROM system.numbers LIMIT 2000") }
        try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).events_all (d Date, id UInt64, s String) ENGINE = Distributed(source, \(db), events)")
        return db
    }

    func tables(_ pair: ClickHousePair, _ http: Int, _ db: String) async throws -> String {
        try await pair.sql(http, "SELECT name, engine FROM system.tables WHERE database = '\(db)' ORDER BY name")
    }

    @Test("MergeTree → ReplicatedMergeTree and ReplacingMergeTree → ReplicatedReplacingMergeTree on both target replicas (ON CLUSTER), SETTINGS and ORDER BY kept, the Distributed table on the target's cluster with rand(); the source and target DDL side by side; run again, everything kept; the copy lands on both replicas, and a partition dropped on one is found, copied again and lands on both")
    func rewriteAndCopy() async throws {
        try await ClickHousePair.exclusive { pair in
            let replicas = try await ClickHouseReplicas.shared()
            let db = try await setUp(pair)
            let source = try source(pair, target: replicas.a.http)
            let schema = ClickHouseSchema(source: source, options: Self.replicated, say: { _ in })
            let r = try await schema.run(["\(db).*"])
            #expect(r.tables.map(\.table) == ["\(db).events", "\(db).latest", "\(db).events_all"], "locals before the Distributed table: \(r)")
            #expect(r.tables.map(\.action) == ["created", "created", "created"])
            #expect(r.tables.map(\.targetEngine) == ["ReplicatedMergeTree", "ReplicatedReplacingMergeTree", "Distributed"])
            #expect(r.tables[0].source?.contains("ENGINE = MergeTree PARTITION BY") == true && r.tables[0].target?.contains("ReplicatedMergeTree('/clickhouse/tables/{shard}/\(db)/events', '{replica}')") == true, "\(r)")
            for http in [replicas.a.http, replicas.b.http] {
                #expect(try await tables(pair, http, db) == "events\tReplicatedMergeTree\nevents_all\tDistributed\nlatest\tReplicatedReplacingMergeTree", "replica on \(http)")
                let create = try await pair.sql(http, "SELECT create_table_query FROM system.tables WHERE database = '\(db)' AND name = 'events'")
                #expect(create.contains("PARTITION BY toYYYYMM(d) ORDER BY (d, id) SETTINGS index_granularity = 4096"), "\(create)")
                let dist = try await pair.sql(http, "SELECT create_table_query FROM system.tables WHERE database = '\(db)' AND name = 'events_all'").replacingOccurrences(of: "\\'", with: "'")
                #expect(dist.contains("Distributed('target', \(db), events, rand())"), "\(dist)")
            }
            #expect(r.summary.contains("MergeTree → ReplicatedMergeTree") && r.summary.contains("on cluster target"), "\(r.summary)")
            let again = try await schema.run(["\(db).*"])
            #expect(again.tables.map(\.action) == ["kept", "kept", "kept"])

            // The copy into replica a; b gets every part through ZooKeeper.
            let table = try #require(try await source.tables(["\(db).events"]).first)
            let copy = PartitionCopy(source: source, table: table, concurrency: { 3 }, say: { _ in })
            _ = try await copy.run()
            try await pair.sql(replicas.b.http, "SYSTEM SYNC REPLICA \(db).events")
            let want = try await pair.sql(pair.sourceHTTP, "SELECT toYYYYMM(d) p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p")
            #expect(try await pair.sql(replicas.a.http, "SELECT toYYYYMM(d) p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p") == want)
            #expect(try await pair.sql(replicas.b.http, "SELECT toYYYYMM(d) p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p") == want, "the second replica has the rows")
            // A partition dropped on the target, then copied again: the same blocks as before.
            try await pair.sql(replicas.a.http, "ALTER TABLE \(db).events DROP PARTITION 202503")
            let o = try await copy.run()
            #expect(o.copied == 1, "\(o)")
            try await pair.sql(replicas.b.http, "SYSTEM SYNC REPLICA \(db).events")
            #expect(try await pair.sql(replicas.b.http, "SELECT toYYYYMM(d) p, count(), sum(id) FROM \(db).events GROUP BY p ORDER BY p") == want, "copied again, on both replicas")
            // The two replicas of one table (one ZooKeeper node) taken as source and target: refused before a partition is dropped.
            let twin = ClickHouseSource(target: try ClickHouseClient(ClickHouseEndpoint(url: "http://127.0.0.1:\(replicas.a.http)")), addresses: "127.0.0.1:\(replicas.b.tcp)", user: "default", password: "")
            try await pair.sql(replicas.a.http, "ALTER TABLE \(db).events DROP PARTITION 202501")
            do { _ = try await PartitionCopy(source: twin, table: try #require(try await twin.tables(["\(db).events"]).first), say: { _ in }).run(); Issue.record("copied between two replicas of one table") } catch {
                #expect("\(error)".contains("is a replica of the source's own table") && (error as? StepError)?.changedNothing == true, "\(error)")
            }
            try await pair.sql(replicas.b.http, "SYSTEM SYNC REPLICA \(db).events")
            #expect(try await pair.sql(replicas.b.http, "SELECT count() FROM \(db).events") == pair.sql(replicas.a.http, "SELECT count() FROM \(db).events"), "nothing more dropped on either")
            _ = try await copy.run()
            // The ReplacingMergeTree: verified by distinct keys.
            let latest = try #require(try await source.tables(["\(db).latest"]).first)
            let l = try await PartitionCopy(source: source, table: latest, say: { _ in }).run()
            #expect(l.partitions == 3 && l.rounds.isEmpty, "\(l)")
        }
    }

    @Test("refused by name, nothing created on the target: a Replicated engine on a target without ZooKeeper, a macro the target lacks, a ZooKeeper path other replicas use, a Distributed table whose local table differs, an engine Ferry does not move, a target table with other columns, a cluster the target does not have")
    func refusals() async throws {
        try await ClickHousePair.exclusive { pair in
            let replicas = try await ClickHouseReplicas.shared()
            let db = try await setUp(pair)
            func refused(_ http: Int, _ options: EngineRewrite.Options, _ patterns: [String], _ words: String...) async throws {
                do {
                    _ = try await ClickHouseSchema(source: try source(pair, target: http), options: options, say: { _ in }).run(patterns)
                    Issue.record("not refused: \(words)")
                } catch {
                    #expect(words.allSatisfy { "\(error)".contains($0) } && (error as? StepError)?.changedNothing == true, "\(error)")
                }
                #expect(try await pair.sql(http, "SELECT count() FROM system.tables WHERE database = '\(db)'") == "0", "nothing created")
            }
            // The pair's target has no ZooKeeper.
            try await refused(pair.targetHTTP, .init(replicate: ["MergeTree": .init()]), ["\(db).events"], "no ZooKeeper", "engineMap")
            try await refused(replicas.a.http, .init(replicate: ["MergeTree": .init(replica: "{host_name}")], cluster: "target"), ["\(db).events"], "{host_name}", "macro")
            try await refused(replicas.a.http, .init(cluster: "elsewhere"), ["\(db).events"], "no cluster elsewhere")
            // Someone else's replicas at the path the table would take.
            let other = "other_\(UUID().uuidString.prefix(6).lowercased())"
            try await pair.sql(replicas.a.http, "CREATE DATABASE \(other)")
            try await pair.sql(replicas.a.http, "CREATE TABLE \(other).t (d Date, id UInt64, s String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/01/\(db)/events', 'x') PARTITION BY toYYYYMM(d) ORDER BY id")
            try await refused(replicas.a.http, Self.replicated, ["\(db).events"], "already has replicas", "zookeeperPath")
            try await pair.sql(replicas.a.http, "DROP TABLE \(other).t")
            // A Distributed table over a local table with other columns.
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).narrow_all (d Date, id UInt64) ENGINE = Distributed(source, \(db), events)")
            try await refused(replicas.a.http, Self.replicated, ["\(db).narrow_all"], "narrow_all is Distributed over \(db).events", "columns differ")
            try await pair.sql(pair.sourceHTTP, "DROP TABLE \(db).narrow_all")
            try await pair.sql(pair.sourceHTTP, "CREATE TABLE \(db).log (id UInt64) ENGINE = Log")
            try await refused(replicas.a.http, Self.replicated, ["\(db).*"], "\(db).log uses engine Log", "spec.clickhouse.copy.tables")
            try await pair.sql(pair.sourceHTTP, "DROP TABLE \(db).log")
            // The target already has the table with the same columns, partitioned otherwise.
            try await pair.sql(pair.targetHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.targetHTTP, "CREATE TABLE \(db).events (d Date, id UInt64, s String) ENGINE = MergeTree PARTITION BY d ORDER BY id")
            do {
                _ = try await ClickHouseSchema(source: try source(pair, target: pair.targetHTTP), options: .init(), say: { _ in }).run(["\(db).events"])
                Issue.record("a target table partitioned otherwise was kept")
            } catch {
                #expect("\(error)".contains("partitioned by d, on the source by toYYYYMM(d)"), "\(error)")
            }
            try await pair.sql(pair.targetHTTP, "DROP DATABASE \(db)")
            // The target already has the table, with other columns.
            try await pair.sql(pair.targetHTTP, "CREATE DATABASE \(db)")
            try await pair.sql(pair.targetHTTP, "CREATE TABLE \(db).events (d Date, id UInt32) ENGINE = MergeTree PARTITION BY d ORDER BY id")
            do {
                _ = try await ClickHouseSchema(source: try source(pair, target: pair.targetHTTP), options: .init(), say: { _ in }).run(["\(db).*"])
                Issue.record("a target table with other columns was kept")
            } catch {
                #expect("\(error)".contains("on the target with other columns") && "\(error)".contains("id UInt64"), "\(error)")
            }
            #expect(try await tables(pair, pair.targetHTTP, db) == "events\tMergeTree", "nothing else created")
        }
    }

    @Test("ON CLUSTER goes before the column list; IF NOT EXISTS once; macros read out of a path")
    func statements() {
        #expect(ClickHouseSchema.onCluster("CREATE TABLE a.b (d Date) ENGINE = MergeTree ORDER BY d", "k") == "CREATE TABLE a.b ON CLUSTER `k` (d Date) ENGINE = MergeTree ORDER BY d")
        #expect(ClickHouseSchema.onCluster("CREATE TABLE a.b (d Date) ENGINE = Log", nil) == "CREATE TABLE a.b (d Date) ENGINE = Log")
        #expect(ClickHouseSchema.ifNotExists(ClickHouseSchema.ifNotExists("CREATE TABLE a.b (d Date)")) == "CREATE TABLE IF NOT EXISTS a.b (d Date)")
        #expect(ClickHouseSchema.macros(in: "/clickhouse/tables/{shard}/{layer}-x/t") == ["shard", "layer"])
    }
}
