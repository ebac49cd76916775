import Foundation

/// kafka-python (fetched by scripts/install-kafka-tools.sh) as the independent Kafka client in
/// tests. Scripts get `boot` (the test broker), `conn` (keyword arguments for every client: the
/// bootstrap plus any TLS/SASL settings), `commit(group, {(topic, partition): offset})`,
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
        conn = dict(bootstrap_servers=boot, **json.loads(sys.argv[2]))
        def commit(group, offsets):
            c = KafkaConsumer(group_id=group, enable_auto_commit=False, **conn)
            c.commit({TopicPartition(t, p): OffsetAndMetadata(o, None, -1) for (t, p), o in offsets.items()})
            c.close()
        def seed(topics, partitions, records):
            # Topics with `records` records per partition, one record per batch (Tansu's ListOffsets
            # `latest` is wrong when a batch holds several).
            a = KafkaAdminClient(**conn)
            a.create_topics([NewTopic(t, partitions, 1) for t in topics])
            a.close()
            p = KafkaProducer(linger_ms=0, **conn)
            for t in topics:
                for part in range(partitions):
                    for i in range(records):
                        p.send(t, value=b"r%d" % i, partition=part).get(timeout=10)
            p.close()
        def committed(group, tps):
            c = KafkaConsumer(group_id=group, enable_auto_commit=False, **conn)
            out = {"%s/%d" % (t, p): c.committed(TopicPartition(t, p)) for (t, p) in tps}
            c.close()
            return out

        """

    /// Runs `body` after the prelude against the test broker (or `port` with kafka-python
    /// `settings` such as security_protocol, sasl_mechanism, ssl_cafile); returns stdout.
    public static func run(_ servers: TestServers, _ body: String, port: Int? = nil, settings: [String: String] = [:]) async throws -> String {
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/.tools/python")) ?? []
        guard servers.kafkaPort > 0, let wheel = wheels.first(where: { $0.hasPrefix("kafka_python-") }) else {
            throw Failure(description: "the Kafka test broker or kafka-python is missing: scripts/install-kafka-tools.sh")
        }
        let settingsJSON = String(decoding: try JSONSerialization.data(withJSONObject: settings), as: UTF8.self)
        let r = try await runCommand("/usr/bin/python3", ["-c", prelude + body, "127.0.0.1:\(port ?? servers.kafkaPort)", settingsJSON],
                                     environment: ["PYTHONPATH": repoRoot + "/.tools/python/" + wheel, "PATH": "/usr/bin:/bin"], timeout: 120)
        guard r.status == 0 else { throw Failure(description: "python: \(r.combined.suffix(2000))") }
        return r.stdout
    }
}
