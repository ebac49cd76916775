import Foundation

/// kafka-python (fetched by scripts/install-kafka-tools.sh) as the independent Kafka client in
/// tests. Scripts get `boot` (the test broker), `commit(group, {(topic, partition): offset})` and
/// `committed(group, [(topic, partition)])` and `seed(topics, partitions, records)` from a shared prelude.
public enum KafkaPython {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
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
        def seed(topics, partitions, records):
            # Topics with `records` records per partition, one record per batch (Tansu's ListOffsets
            # `latest` is wrong when a batch holds several).
            a = KafkaAdminClient(bootstrap_servers=boot)
            a.create_topics([NewTopic(t, partitions, 1) for t in topics])
            a.close()
            p = KafkaProducer(bootstrap_servers=boot, linger_ms=0)
            for t in topics:
                for part in range(partitions):
                    for i in range(records):
                        p.send(t, value=b"r%d" % i, partition=part).get(timeout=10)
            p.close()
        def committed(group, tps):
            c = KafkaConsumer(bootstrap_servers=boot, group_id=group, enable_auto_commit=False)
            out = {"%s/%d" % (t, p): c.committed(TopicPartition(t, p)) for (t, p) in tps}
            c.close()
            return out

        """

    /// Runs `body` after the prelude against the test broker; returns stdout.
    public static func run(_ servers: TestServers, _ body: String) async throws -> String {
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/.tools/python")) ?? []
        guard servers.kafkaPort > 0, let wheel = wheels.first(where: { $0.hasPrefix("kafka_python-") }) else {
            throw Failure(description: "the Kafka test broker or kafka-python is missing: scripts/install-kafka-tools.sh")
        }
        let r = try await runCommand("/usr/bin/python3", ["-c", prelude + body, "127.0.0.1:\(servers.kafkaPort)"],
                                     environment: ["PYTHONPATH": repoRoot + "/.tools/python/" + wheel, "PATH": "/usr/bin:/bin"], timeout: 120)
        guard r.status == 0 else { throw Failure(description: "python: \(r.combined.suffix(2000))") }
        return r.stdout
    }
}
