import Foundation
import FerrySteps
import KubeClient
import NIOCore
import Testing
import TestSupport

/// Ferry's Kafka client against a real Kafka-protocol broker (Tansu), with
/// kafka-python as the independent client on the other side.
@Suite("Kafka client against Tansu", .serialized, .timeLimit(.minutes(3)))
struct KafkaClientTests {
    struct Failure: Error, CustomStringConvertible { var description: String }

    @Test("metadata, earliest/latest offsets, committed offsets read and set: kafka-python sees what Ferry committed; an unknown topic is named")
    func offsets() async throws {
        let servers = try await TestServers.shared()
        try #require(servers.kafkaPort > 0, "the test broker is not running (scripts/install-kafka-tools.sh, scripts/test-servers.sh)")
        let tag = UUID().uuidString.prefix(6).lowercased()
        let t1 = "orders-\(tag)", t2 = "events-\(tag)", g1 = "billing-\(tag)", g2 = "search-\(tag)"
        _ = try await KafkaPython.run(servers, """
            seed(["\(t1)", "\(t2)"], 4, 10)
            commit("\(g1)", {("\(t1)", 0): 3, ("\(t1)", 1): 7, ("\(t2)", 2): 10})
            """)

        let client = try KafkaClient(bootstrap: "127.0.0.1:\(servers.kafkaPort)")
        let parts = try await client.partitions(of: [t1, t2])
        #expect(parts == [t1: [0, 1, 2, 3], t2: [0, 1, 2, 3]])
        let all = [t1, t2].flatMap { t in (0..<4).map { KafkaClient.Partition(t, Int32($0)) } }
        let earliest = try await client.offsets(all, at: -2)
        let latest = try await client.offsets(all, at: -1)
        #expect(Set(earliest.values) == [0], "\(earliest)")
        #expect(Set(latest.values) == [10], "\(latest)")

        #expect(try await client.listGroups().contains(g1))
        let read = try await client.committedOffsets(g1)
        #expect(read == [KafkaClient.Partition(t1, 0): 3, KafkaClient.Partition(t1, 1): 7, KafkaClient.Partition(t2, 2): 10])
        #expect(try await client.describeGroup(g1).members.isEmpty)

        try await client.commit(g2, [KafkaClient.Partition(t1, 0): 4, KafkaClient.Partition(t1, 3): 9, KafkaClient.Partition(t2, 1): 0])
        #expect(try await client.committedOffsets(g2) == [KafkaClient.Partition(t1, 0): 4, KafkaClient.Partition(t1, 3): 9, KafkaClient.Partition(t2, 1): 0])
        let seen = try await KafkaPython.run(servers, """
            print(json.dumps(committed("\(g2)", [("\(t1)", 0), ("\(t1)", 3), ("\(t2)", 1), ("\(t2)", 3)]), sort_keys=True))
            """)
        #expect(seen.trimmingCharacters(in: .whitespacesAndNewlines) == "{\"\(t2)/1\": 0, \"\(t2)/3\": null, \"\(t1)/0\": 4, \"\(t1)/3\": 9}", "kafka-python reads what Ferry committed")

        await #expect(throws: StepError.self) { _ = try await client.partitions(of: ["no-such-topic-\(tag)"]) }
        do {
            _ = try await client.offsets([KafkaClient.Partition(t1, 9)], at: -1)
            Issue.record("a partition that does not exist must fail")
        } catch {
            #expect("\(error)".contains("\(t1)/9 does not exist"), "\(error)")
        }
        await client.close()
    }

    @Test("a broker that is down: a clear failure naming it, after retries")
    func brokerDown() async throws {
        let client = try KafkaClient(bootstrap: "127.0.0.1:1", timeout: .seconds(2), attempts: 3)
        let started = Date()
        do {
            _ = try await client.listGroups()
            Issue.record("must fail")
        } catch {
            #expect("\(error)".contains("127.0.0.1:1"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) >= 0.5, "it retried with backoff (0.2 s + 0.4 s)")
        #expect(throws: StepError.self) { _ = try KafkaClient(bootstrap: "no-port") }
    }
}

/// `ferry export kafka` and `ferry restore kafka` as processes, checked with kafka-python.
@Suite("ferry restore kafka against Tansu", .serialized, .timeLimit(.minutes(3)))
struct KafkaRestoreTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    static func run(_ args: [String]) async throws -> (Int32, JSONValue, String) {
        let out = try makeTempDir("kafka-result")
        let r = try await runCommand(ferry, args + (args.first == "restore" ? ["--result-file", out + "/r.json"] : []), timeout: 90)
        let json = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: out + "/r.json"))) ?? Data()))) ?? .null
        return (r.status, json, r.combined)
    }

    @Test("export, move the offsets, restore: kafka-python sees the saved offsets; an offset past the end is clamped and reported; a dry run commits nothing; an active group fails naming its member and nothing is committed")
    func exportRestore() async throws {
        let servers = try await TestServers.shared()
        try #require(servers.kafkaPort > 0, "the test broker is not running")
        let boot = "127.0.0.1:\(servers.kafkaPort)"
        let tag = UUID().uuidString.prefix(6).lowercased()
        let t1 = "tasks-\(tag)", t2 = "mails-\(tag)", g1 = "indexer-\(tag)", g2 = "notifier-\(tag)"
        _ = try await KafkaPython.run(servers, """
            seed(["\(t1)", "\(t2)"], 4, 10)
            commit("\(g1)", {("\(t1)", part): part + 2 for part in range(4)})
            commit("\(g2)", {("\(t2)", part): 9 - part for part in range(4)})
            """)
        let package = try makeTempDir("kafka-package")
        let (exported, _, exportLog) = try await Self.run(["export", "kafka", "--bootstrap", boot, "--group", g1, "--group", g2, "--output", package + "/kafka/offsets.json"])
        #expect(exported == 0, "\(exportLog)")
        try ManifestBuilder.writeJSON(PackageManifest(kafkaOffsets: "kafka/offsets.json"), to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(kafka: true)), to: package + "/ferry-package.json")

        func committed() async throws -> String {
            try await KafkaPython.run(servers, """
                a = committed("\(g1)", [("\(t1)", p) for p in range(4)])
                b = committed("\(g2)", [("\(t2)", p) for p in range(4)])
                print(json.dumps([a[k] for k in sorted(a)] + [b[k] for k in sorted(b)]))
                """).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let saved = "[2, 3, 4, 5, 9, 8, 7, 6]"
        #expect(try await committed() == saved)

        // The app moved on (or a restore went wrong): put the offsets elsewhere, then restore.
        _ = try await KafkaPython.run(servers, """
            commit("\(g1)", {("\(t1)", part): 0 for part in range(4)})
            commit("\(g2)", {("\(t2)", part): 1 for part in range(4)})
            """)
        var (status, json, log) = try await Self.run(["restore", "kafka", "--package", package, "--bootstrap", boot])
        #expect(status == 0, "\(log)")
        #expect(json[path: ["result", "partitionsSet"]]?.intValue == 8)
        #expect(json[path: ["result", "clamped"]]?.intValue == 0)
        #expect(try await committed() == saved, "kafka-python's consumers would resume at the saved offsets")

        // Dry run: the plan is printed, nothing moves.
        _ = try await KafkaPython.run(servers, "commit(\"\(g1)\", {(\"\(t1)\", 0): 1})\n")
        (status, _, log) = try await Self.run(["restore", "kafka", "--package", package, "--bootstrap", boot, "--group", g1, "--dry-run"])
        #expect(status == 0)
        #expect(log.contains("\(t1)/0 1 → 2 (dry run)"), "\(log)")
        #expect(try await committed().hasPrefix("[1, 3, 4, 5"))

        // An offset beyond the end of its partition is clamped and reported.
        var text = try String(contentsOfFile: package + "/kafka/offsets.json", encoding: .utf8)
        text = text.replacingOccurrences(of: "\"0\" : 2", with: "\"0\" : 999")
        try text.write(toFile: package + "/kafka/offsets.json", atomically: true, encoding: .utf8)
        (status, json, log) = try await Self.run(["restore", "kafka", "--package", package, "--bootstrap", boot, "--group", g1])
        #expect(status == 0, "\(log)")
        #expect(json[path: ["result", "clamped"]]?.intValue == 1, "\(json)")
        #expect(json[path: ["result", "changes"]]?.arrayValue?.first?["clampedFrom"]?.intValue == 999)
        #expect(log.contains("offset 999 is outside 0…10; set to 10"), "\(log)")
        #expect(try await committed().hasPrefix("[10, 3, 4, 5"))

        // An active group: a kafka-python consumer joined; the step waits, then fails naming it, committing nothing.
        let consumer = Task.detached {
            try await KafkaPython.run(servers, """
                import time
                c = KafkaConsumer("\(t2)", bootstrap_servers=boot, group_id="\(g2)", client_id="app-consumer", enable_auto_commit=False,
                                  session_timeout_ms=6000, heartbeat_interval_ms=1000, auto_offset_reset="earliest")
                end = time.time() + 20
                while time.time() < end:
                    c.poll(timeout_ms=500)
                c.close(autocommit=False)
                """)
        }
        let client = try KafkaClient(bootstrap: boot)
        #expect(try await eventually(timeout: 20, interval: 0.5) { !(try await client.describeGroup(g2).members.isEmpty) }, "the consumer never joined")
        await client.close()
        let before = try await committed()
        (status, json, _) = try await Self.run(["restore", "kafka", "--package", package, "--bootstrap", boot, "--group", g2, "--member-wait", "2"])
        #expect(status == 1)
        let error = json["error"]?.stringValue ?? ""
        #expect(error.contains("Kafka group \(g2) still has 1 active members") && error.contains("app-consumer") && error.contains("Nothing was committed"), "\(error)")
        #expect(try await committed() == before)
        _ = try? await consumer.value
    }

    @Test("3 groups × 2 topics × 4 partitions: export, offsets moved, restore → subscribed kafka-python consumers of each group receive first exactly the record at each saved offset")
    func consumersResume() async throws {
        let servers = try await TestServers.shared()
        try #require(servers.kafkaPort > 0, "the test broker is not running")
        let boot = "127.0.0.1:\(servers.kafkaPort)"
        let tag = UUID().uuidString.prefix(6).lowercased()
        let topics = ["orders-\(tag)", "audit-\(tag)"], groups = ["billing-\(tag)", "search-\(tag)", "reports-\(tag)"]
        // Saved offsets differ per group, topic and partition (0 included: a group at the very start).
        var saved: [String: [String: Int]] = [:]
        for (g, group) in groups.enumerated() {
            for (t, topic) in topics.enumerated() {
                for p in 0..<4 { saved[group, default: [:]]["\(topic)/\(p)"] = (g * 5 + t * 3 + p * 2) % 11 }
            }
        }
        func commits(_ offset: (String, String) -> Int) -> String {
            groups.map { g in
                "commit(\"\(g)\", {" + topics.flatMap { t in (0..<4).map { p in "(\"\(t)\", \(p)): \(offset(g, "\(t)/\(p)"))" } }.joined(separator: ", ") + "})"
            }.joined(separator: "\n") + "\n"
        }
        _ = try await KafkaPython.run(servers, "seed(\(topics), 4, 12)\n" + commits { g, k in saved[g]![k]! })

        let package = try makeTempDir("kafka-resume")
        let (exported, _, exportLog) = try await Self.run(["export", "kafka", "--bootstrap", boot] + groups.flatMap { ["--group", $0] } + ["--output", package + "/kafka/offsets.json"])
        #expect(exported == 0, "\(exportLog)")
        try ManifestBuilder.writeJSON(PackageManifest(kafkaOffsets: "kafka/offsets.json"), to: package + "/manifest.json")
        try ManifestBuilder.writeJSON(PackageMetadata(appVersion: "6.4.1", createdAt: "2026-11-20T10:00:00Z", sourceHost: "old-box", contents: .init(kafka: true)), to: package + "/ferry-package.json")

        _ = try await KafkaPython.run(servers, commits { _, _ in 11 })  // the offsets moved on since the export
        let (status, json, log) = try await Self.run(["restore", "kafka", "--package", package, "--bootstrap", boot])
        #expect(status == 0, "\(log)")
        #expect(json[path: ["result", "groups"]]?.intValue == 3)
        #expect(json[path: ["result", "partitionsSet"]]?.intValue == 24)
        #expect(json[path: ["result", "clamped"]]?.intValue == 0)

        // Each group's consumer joins (subscribe, group coordination) and records the first record it gets per partition.
        let firsts = try await KafkaPython.run(servers, """
            import threading, time
            out = {}
            def consume(group):
                c = KafkaConsumer(*\(topics), group_id=group, enable_auto_commit=False, auto_offset_reset="latest",
                                  session_timeout_ms=6000, heartbeat_interval_ms=1000, **conn)
                first = {}
                end = time.time() + 40
                while len(first) < 8 and time.time() < end:
                    for tp, records in c.poll(timeout_ms=500).items():
                        key = "%s/%d" % (tp.topic, tp.partition)
                        if key not in first:
                            r = records[0]
                            first[key] = [r.offset, r.value.decode()]
                c.close(autocommit=False)
                out[group] = first
            threads = [threading.Thread(target=consume, args=(g,)) for g in \(groups)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(json.dumps(out))
            """)
        let parsed = try JSONWire.parse(Array(firsts.utf8))
        for group in groups {
            for (key, offset) in saved[group]! {
                let first = parsed[group]?[key]?.arrayValue
                #expect(first?.first?.intValue == Int64(offset) && first?.last?.stringValue == "r\(offset)", "\(group) \(key): resumed at \(String(describing: first)), saved \(offset)")
            }
        }
    }
}
