@testable import FerrySteps
import Testing

@Suite("ClickHouse engine rewrite")
struct EngineRewriteTests {
    func rewrite(_ create: String, _ options: EngineRewrite.Options = .replicatedEverywhere) -> String? {
        if case .success(let s) = EngineRewrite.rewrite(create, database: "audit", table: "log", options: options) { return s }
        return nil
    }

    @Test("MergeTree family → Replicated with the ZooKeeper path and replica; arguments, PARTITION BY, ORDER BY, TTL and SETTINGS kept as written")
    func mergeTrees() {
        let tail = " PARTITION BY toYYYYMM(d) ORDER BY (d, id) TTL d + toIntervalMonth(6) SETTINGS index_granularity = 8192"
        #expect(rewrite("CREATE TABLE audit.log (d Date, id UInt64) ENGINE = MergeTree" + tail)
                == "CREATE TABLE audit.log (d Date, id UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/audit/log', '{replica}')" + tail)
        #expect(rewrite("CREATE TABLE audit.log (d Date, v UInt32) ENGINE = ReplacingMergeTree(v)" + tail)
                == "CREATE TABLE audit.log (d Date, v UInt32) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/audit/log', '{replica}', v)" + tail)
        #expect(rewrite("CREATE TABLE audit.log (d Date, s Int8, v UInt32) ENGINE = VersionedCollapsingMergeTree(s, v)" + tail)?.contains("ReplicatedVersionedCollapsingMergeTree('/clickhouse/tables/{shard}/audit/log', '{replica}', s, v)") == true)
        // The old syntax keeps its arguments after the two new ones.
        #expect(rewrite("CREATE TABLE audit.log (d Date, id UInt64) ENGINE = MergeTree(d, (d, id), 8192)")
                == "CREATE TABLE audit.log (d Date, id UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/audit/log', '{replica}', d, (d, id), 8192)")
        // Already replicated: the map's path and replica replace the source's own (never the source's ZooKeeper path on the target); kept when unmapped.
        let replicated = "CREATE TABLE audit.log (d Date) ENGINE = ReplicatedMergeTree('/x/{shard}/log', '{replica}', d, (d), 8192)" + tail
        #expect(rewrite(replicated) == "CREATE TABLE audit.log (d Date) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/audit/log', '{replica}', d, (d), 8192)" + tail)
        #expect(rewrite(replicated, .init()) == replicated)
        // Unmapped engines are kept as written, with or without arguments.
        for plain in ["CREATE TABLE audit.log (d Date) ENGINE = MergeTree" + tail, "CREATE TABLE audit.log (d Date) ENGINE = ReplacingMergeTree(v)" + tail, "CREATE TABLE audit.log (d Date) ENGINE = MergeTree()" + tail] {
            #expect(rewrite(plain, .init()) == plain)
        }
        var other = EngineRewrite.Options()
        other.replicate["SummingMergeTree"] = .init(zookeeperPath: "/ch/{database}.{table}", replica: "r-{replica}")
        #expect(rewrite("CREATE TABLE audit.log (d Date) ENGINE = SummingMergeTree((a, b))" + tail, other)?.contains("ReplicatedSummingMergeTree('/ch/audit.log', 'r-{replica}', (a, b))") == true)
    }

    @Test("--engine-map read back: From=To kept, From=ReplicatedTo@path@replica replicated; anything else refused naming the option")
    func engineMap() throws {
        guard case .success(let o) = EngineRewrite.Options.parse(["MergeTree=ReplicatedMergeTree@/t/{shard}/{database}/{table}@{replica}", "ReplacingMergeTree=ReplacingMergeTree"],
                                                                  cluster: "k3s", shardingKeyDefault: "rand()") else { Issue.record("not read"); return }
        #expect(o.replicate == ["MergeTree": .init(zookeeperPath: "/t/{shard}/{database}/{table}", replica: "{replica}")])
        #expect(o.cluster == "k3s")
        for bad in ["Log=ReplicatedLog@/a@r", "MergeTree=ReplacingMergeTree", "MergeTree=ReplicatedMergeTree", "MergeTree=ReplicatedMergeTree@rel@r", "MergeTree", "MergeTree=ReplicatedMergeTree@/a@"] {
            guard case .failure(let e) = EngineRewrite.Options.parse([bad], cluster: nil, shardingKeyDefault: "rand()") else { Issue.record("\(bad) was read"); continue }
            #expect("\(e)".contains("spec.clickhouse.copy.engineMap"), "\(e)")
        }
    }

    @Test("Distributed: rand() when it has no sharding key, the target's cluster when given, a key it has kept")
    func distributed() {
        var o = EngineRewrite.Options()
        #expect(rewrite("CREATE TABLE audit.log (d Date) ENGINE = Distributed(old, audit, log_local)", o) == "CREATE TABLE audit.log (d Date) ENGINE = Distributed(old, audit, log_local, rand())")
        o.cluster = "k3s"
        #expect(rewrite("CREATE TABLE audit.log (d Date) ENGINE = Distributed(old, audit, log_local, cityHash64(id, 'a,b'))", o)
                == "CREATE TABLE audit.log (d Date) ENGINE = Distributed('k3s', audit, log_local, cityHash64(id, 'a,b'))")
    }

    @Test("refused by name: engines Ferry does not move, a statement without an engine, arguments that do not close")
    func refusals() {
        for engine in ["Log", "TinyLog", "Memory", "Kafka('k:9092', 't', 'g', 'JSONEachRow')", "MySQL('h:3306', 'db', 't', 'u', 'p')"] {
            guard case .failure(let e) = EngineRewrite.rewrite("CREATE TABLE audit.log (d Date) ENGINE = \(engine)", database: "audit", table: "log") else {
                Issue.record("\(engine) was rewritten"); continue
            }
            #expect("\(e)".contains("uses engine \(engine.prefix { $0 != "(" })") && "\(e)".contains("spec.clickhouse.copy.tables"), "\(e)")
            #expect(!"\(e)".contains("'p'"), "a password in the engine's arguments is never repeated")
        }
        #expect(rewrite("CREATE VIEW audit.log AS SELECT 1") == nil)
        #expect(rewrite("CREATE TABLE audit.log (d Date) ENGINE = MergeTree(d, (d, id)") == nil)
    }

    @Test("generated argument lists: quotes, commas and parentheses inside arguments survive the split")
    func fuzz() {
        var state: UInt64 = 11
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(n)) }
        let atoms = ["v", "(a, b)", "'x,y'", "f(g(1), 'q)')", "`c,d`", "'it\\'s'", "tuple()"]
        for _ in 0..<300 {
            let args = (0..<(1 + next(4))).map { _ in atoms[next(atoms.count)] }
            #expect(EngineRewrite.split(args.joined(separator: ", ")) == args, "\(args)")
            let out = rewrite("CREATE TABLE audit.log (d Date) ENGINE = ReplacingMergeTree(\(args.joined(separator: ", "))) ORDER BY d")
            #expect(out == "CREATE TABLE audit.log (d Date) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/audit/log', '{replica}', \(args.joined(separator: ", "))) ORDER BY d", "\(args)")
        }
    }
}
