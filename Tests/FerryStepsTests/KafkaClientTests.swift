import Foundation
import FerrySteps
import NIOCore
import Testing
import TestSupport

/// Ferry's Kafka client against a real Kafka-protocol broker (Tansu), with
/// kafka-python as the independent client on the other side.
@Suite("Kafka client against Tansu", .serialized, .timeLimit(.minutes(3)))
struct KafkaClientTests {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Runs Python with kafka-python on the path; `script` gets the bootstrap as sys.argv[1].
    static func python(_ servers: TestServers, _ script: String) async throws -> String {
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/.tools/python")) ?? []
        guard let wheel = wheels.first(where: { $0.hasPrefix("kafka_python-") }) else { throw Failure(description: "kafka-python missing: scripts/install-kafka-tools.sh") }
        let r = try await runCommand("/usr/bin/python3", ["-c", script, "127.0.0.1:\(servers.kafkaPort)"],
                                     environment: ["PYTHONPATH": repoRoot + "/.tools/python/" + wheel, "PATH": "/usr/bin:/bin"], timeout: 120)
        guard r.status == 0 else { throw Failure(description: "python: \(r.combined.suffix(2000))") }
        return r.stdout
    }

    static let prelude = """
        import sys, json
        from kafka import KafkaProducer, KafkaConsumer, TopicPartition
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.structs import OffsetAndMetadata
        boot = sys.argv[1]
        def commit(group, offsets):
            c = KafkaConsumer(bootstrap_servers=boot, group_id=group, enable_auto_commit=False)
            c.commit({TopicPartition(t, p): OffsetAndMetadata(o, None, -1) for (t, p), o in offsets.items()})
            c.close()
        def committed(group, tps):
            c = KafkaConsumer(bootstrap_servers=boot, group_id=group, enable_auto_commit=False)
            out = {"%s/%d" % (t, p): c.committed(TopicPartition(t, p)) for (t, p) in tps}
            c.close()
            return out

        """

    @Test("metadata, earliest/latest offsets, committed offsets read and set: kafka-python sees what Ferry committed; an unknown topic is named")
    func offsets() async throws {
        let servers = try await TestServers.shared()
        try #require(servers.kafkaPort > 0, "the test broker is not running (scripts/install-kafka-tools.sh, scripts/test-servers.sh)")
        let tag = UUID().uuidString.prefix(6).lowercased()
        let t1 = "orders-\(tag)", t2 = "events-\(tag)", g1 = "billing-\(tag)", g2 = "search-\(tag)"
        _ = try await Self.python(servers, Self.prelude + """
            admin = KafkaAdminClient(bootstrap_servers=boot)
            admin.create_topics([NewTopic("\(t1)", 4, 1), NewTopic("\(t2)", 4, 1)])
            admin.close()
            p = KafkaProducer(bootstrap_servers=boot, linger_ms=0)
            for t in ["\(t1)", "\(t2)"]:
                for part in range(4):
                    for i in range(10):
                        p.send(t, value=b"r%d" % i, partition=part).get(timeout=10)  # one record per batch
            p.close()
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
        let seen = try await Self.python(servers, Self.prelude + """
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
