import Foundation
import NIOCore
import Testing
import TestSupport

@testable import FerrySteps

/// SCRAM against RFC 7677's worked example, and reading the credentials Secret.
@Suite("Kafka security settings", .timeLimit(.minutes(1)))
struct KafkaSecuritySettingsTests {
    @Test("SCRAM-SHA-256 gives RFC 7677's client proof and accepts its server signature; a wrong signature or foreign nonce is refused")
    func scramVector() throws {
        var c = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(c.clientFirst == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        let final = try c.clientFinal(serverFirst: serverFirst)
        #expect(final == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try c.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        #expect(throws: SCRAMClient.Failure.self) { try c.verify(serverFinal: "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") }
        #expect(throws: SCRAMClient.Failure.self) { try c.verify(serverFinal: "e=invalid-proof") }
        var other = SCRAMClient(hash: .sha512, username: "a=b,c", password: "p")
        #expect(other.clientFirstBare.hasPrefix("n=a=3Db=2Cc,r="))
        #expect(throws: SCRAMClient.Failure.self) { _ = try other.clientFinal(serverFirst: "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") }
    }

    @Test("the credentials Secret: SASL from username/password/mechanism, TLS files picked up, and each mistake named with its key")
    func load() throws {
        let dir = try makeTempDir("kafka-creds")
        func put(_ name: String, _ text: String) throws { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        func remove(_ name: String) { try? FileManager.default.removeItem(atPath: dir + "/" + name) }
        func message(_ tls: KafkaSecurity.TLS?) -> String {
            do {
                _ = try KafkaSecurity.load(tls: tls, directory: dir, environment: [:])
                return ""
            } catch { return "\(error)" }
        }

        #expect(try KafkaSecurity.load(tls: nil, directory: dir, environment: [:]) == .plaintext)
        try put("username", "app\n")
        try put("password", "pa ss\n")
        var s = try KafkaSecurity.load(tls: nil, directory: dir, environment: [:])
        #expect(s.sasl == .init(mechanism: .scramSHA512, username: "app", password: "pa ss"), "SCRAM-SHA-512 unless the Secret says otherwise")
        #expect(!s.summary.contains("pa ss"))
        try put("mechanism", "scram-sha-256")
        s = try KafkaSecurity.load(tls: nil, directory: dir, environment: ["FERRY_KAFKA_PASSWORD": "from-env"])
        #expect(s.sasl == .init(mechanism: .scramSHA256, username: "app", password: "from-env"))
        try put("mechanism", "GSSAPI")
        #expect(message(nil).contains("\"GSSAPI\"") && message(nil).contains("key mechanism"))
        remove("mechanism")
        remove("password")
        #expect(message(nil).contains("key password"))
        try put("password", "x")

        try put("ca.crt", "pem")
        #expect(message(nil).contains("spec.kafka.tls"), "a CA without TLS on is refused: the intent is unclear")
        s = try KafkaSecurity.load(tls: .init(), directory: dir, environment: [:])
        #expect(s.tls?.caFile == dir + "/ca.crt")
        try put("tls.crt", "pem")
        #expect(message(.init()).contains("tls.key"))
        try put("tls.key", "pem")
        s = try KafkaSecurity.load(tls: .init(serverName: "kafka.internal"), directory: dir, environment: [:])
        #expect(s.tls == .init(caFile: dir + "/ca.crt", certFile: dir + "/tls.crt", keyFile: dir + "/tls.key", serverName: "kafka.internal"))
        #expect(throws: StepError.self) { _ = try KafkaClient(bootstrap: "127.0.0.1:1", security: s) }  // "pem" is no certificate
    }
}

/// Ferry's client through SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), TLS and TLS with a client
/// certificate, in front of real Tansu brokers (scripts/test-servers.sh: socat terminates TLS,
/// scripts/kafka-sasl-gateway.py does SASL with scramp); kafka-python reads what Ferry wrote.
@Suite("Kafka over SASL and TLS", .serialized, .timeLimit(.minutes(3)))
struct KafkaSecurityTests {
    static func servers() async throws -> TestServers {
        let s = try await TestServers.shared()
        try #require(s.kafkaSASLPort > 0 && s.kafkaTLSPort > 0 && s.kafkaMTLSPort > 0, "the SASL/TLS test brokers are not running (scripts/test-servers.sh needs tansu, socat, openssl, scramp)")
        return s
    }

    static func sasl(_ s: TestServers, _ m: KafkaSecurity.Mechanism, password: String? = nil) -> KafkaSecurity.SASL {
        .init(mechanism: m, username: s.kafkaSASLUser, password: password ?? s.kafkaSASLPassword)
    }

    static func pythonSASL(_ s: TestServers, _ m: String, tls: Bool) -> [String: String] {
        var out = ["security_protocol": tls ? "SASL_SSL" : "SASL_PLAINTEXT", "sasl_mechanism": m,
                   "sasl_plain_username": s.kafkaSASLUser, "sasl_plain_password": s.kafkaSASLPassword]
        if tls { out["ssl_cafile"] = s.kafkaTLSDirectory + "/ca.crt" }
        return out
    }

    @Test("SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512: Ferry commits, kafka-python (logged in with SCRAM) reads the same offsets")
    func saslMechanisms() async throws {
        let s = try await Self.servers()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let topic = "secure-\(tag)"
        let py = Self.pythonSASL(s, "SCRAM-SHA-512", tls: false)
        _ = try await KafkaPython.run(s, "seed([\"\(topic)\"], 2, 5)\n", port: s.kafkaSASLPort, settings: py)
        for (i, m) in KafkaSecurity.Mechanism.allCases.enumerated() {
            let group = "g-\(m.rawValue.lowercased())-\(tag)"
            let client = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaSASLPort)", security: .init(sasl: Self.sasl(s, m)))
            try await client.commit(group, [.init(topic, 0): Int64(i + 1), .init(topic, 1): 4])
            #expect(try await client.committedOffsets(group, topics: [topic]) == [.init(topic, 0): Int64(i + 1), .init(topic, 1): 4])
            await client.close()
            let seen = try await KafkaPython.run(s, "print(json.dumps(committed(\"\(group)\", [(\"\(topic)\", 0), (\"\(topic)\", 1)]), sort_keys=True))\n",
                                                 port: s.kafkaSASLPort, settings: py)
            #expect(seen.trimmingCharacters(in: .whitespacesAndNewlines) == "{\"\(topic)/0\": \(i + 1), \"\(topic)/1\": 4}", "\(m.rawValue)")
        }
    }

    @Test("a wrong password: refused at once (no retries), naming user, mechanism and the Secret, never the password; no credentials: the error says the listener wants SASL")
    func saslRefused() async throws {
        let s = try await Self.servers()
        for m in KafkaSecurity.Mechanism.allCases {
            let wrong = "not-the-password-\(m.rawValue)"
            let client = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaSASLPort)", security: .init(sasl: Self.sasl(s, m, password: wrong)))
            do {
                _ = try await client.listGroups()
                Issue.record("\(m.rawValue) with a wrong password must fail")
            } catch {
                let text = "\(error)"
                #expect(text.contains("login as \(s.kafkaSASLUser)") && text.contains(m.rawValue) && text.contains("spec.kafka.credentialsSecret"), "\(text)")
                #expect(!text.contains(wrong))
                if case .configuration = error as? StepError {} else { Issue.record("a refused login is permanent, not retried: \(error)") }
            }
            let sent = await client.requests
            #expect(sent == (m == .plain ? 2 : 3), "handshake + login rounds, once: no retry")
            await client.close()
        }
        let anonymous = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaSASLPort)", timeout: .seconds(3), attempts: 2)
        do {
            _ = try await anonymous.listGroups()
            Issue.record("no credentials must fail")
        } catch {
            #expect("\(error)".contains("require SASL"), "\(error)")
        }
        await anonymous.close()
    }

    @Test("TLS with SCRAM: works trusting the test CA (kafka-python over SASL_SSL agrees); without the CA the certificate is refused by name; TLS against a plaintext listener says so")
    func tls() async throws {
        let s = try await Self.servers()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let topic = "tls-\(tag)", group = "tls-g-\(tag)"
        let py = Self.pythonSASL(s, "SCRAM-SHA-256", tls: true)
        _ = try await KafkaPython.run(s, "seed([\"\(topic)\"], 1, 3)\n", port: s.kafkaTLSPort, settings: py)
        let trusted = KafkaSecurity(tls: .init(caFile: s.kafkaTLSDirectory + "/ca.crt"), sasl: Self.sasl(s, .scramSHA256))
        let client = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaTLSPort)", security: trusted)
        try await client.commit(group, [.init(topic, 0): 2])
        await client.close()
        let seen = try await KafkaPython.run(s, "print(committed(\"\(group)\", [(\"\(topic)\", 0)])[\"\(topic)/0\"])\n", port: s.kafkaTLSPort, settings: py)
        #expect(seen.trimmingCharacters(in: .whitespacesAndNewlines) == "2")

        let untrusted = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaTLSPort)", security: .init(tls: .init(), sasl: Self.sasl(s, .scramSHA256)))
        do {
            _ = try await untrusted.listGroups()
            Issue.record("an untrusted certificate must fail")
        } catch {
            #expect("\(error)".contains("certificate is not trusted") && "\(error)".contains("ca.crt"), "\(error)")
            if case .configuration = error as? StepError {} else { Issue.record("not retried: \(error)") }
        }
        await untrusted.close()

        let wrongListener = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaPort)", security: .init(tls: .init()), timeout: .seconds(2), attempts: 1)
        do {
            _ = try await wrongListener.listGroups()
            Issue.record("TLS to a plaintext listener must fail")
        } catch {
            #expect("\(error)".contains("is it a TLS listener?"), "\(error)")
        }
        await wrongListener.close()
    }

    @Test("a broker that requires a client certificate: tls.crt/tls.key from the Secret work (kafka-python with the same certificate agrees); without them the error asks for them")
    func mutualTLS() async throws {
        let s = try await Self.servers()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let topic = "mtls-\(tag)", group = "mtls-g-\(tag)"
        let dir = s.kafkaTLSDirectory
        let py = ["security_protocol": "SSL", "ssl_cafile": dir + "/ca.crt", "ssl_certfile": dir + "/client.crt", "ssl_keyfile": dir + "/client.key"]
        _ = try await KafkaPython.run(s, "seed([\"\(topic)\"], 1, 3)\n", port: s.kafkaMTLSPort, settings: py)

        // As the step Job sees it: the Secret's keys as files.
        let secret = try makeTempDir("kafka-mtls-secret")
        for (from, to) in [("ca.crt", "ca.crt"), ("client.crt", "tls.crt"), ("client.key", "tls.key")] {
            try FileManager.default.copyItem(atPath: dir + "/" + from, toPath: secret + "/" + to)
        }
        let security = try KafkaSecurity.load(tls: .init(), directory: secret, environment: [:])
        let client = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaMTLSPort)", security: security)
        try await client.commit(group, [.init(topic, 0): 3])
        await client.close()
        let seen = try await KafkaPython.run(s, "print(committed(\"\(group)\", [(\"\(topic)\", 0)])[\"\(topic)/0\"])\n", port: s.kafkaMTLSPort, settings: py)
        #expect(seen.trimmingCharacters(in: .whitespacesAndNewlines) == "3")

        let noCert = try KafkaClient(bootstrap: "127.0.0.1:\(s.kafkaMTLSPort)", security: .init(tls: .init(caFile: dir + "/ca.crt")), attempts: 2)
        do {
            _ = try await noCert.listGroups()
            Issue.record("no client certificate must fail")
        } catch {
            #expect("\(error)".contains("client certificate") && "\(error)".contains("tls.crt"), "\(error)")
        }
        await noCert.close()
    }
}
