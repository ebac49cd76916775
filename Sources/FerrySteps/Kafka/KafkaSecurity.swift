import Foundation

/// How Ferry reaches the brokers: plaintext, TLS (optionally with a client
/// certificate) and SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512.
///
/// In a step Job everything comes from the mounted credentials Secret
/// (`spec.kafka.credentialsSecret`): keys `username`, `password`, `mechanism`,
/// `ca.crt`, `tls.crt`, `tls.key`. On the source host the same files can sit
/// in a folder, or the SASL values come from `FERRY_KAFKA_USERNAME`,
/// `FERRY_KAFKA_PASSWORD` and `FERRY_KAFKA_MECHANISM`.
public struct KafkaSecurity: Sendable, Equatable {
    public enum Mechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case scramSHA256 = "SCRAM-SHA-256"
        case scramSHA512 = "SCRAM-SHA-512"
    }

    public struct SASL: Sendable, Equatable {
        public var mechanism: Mechanism
        public var username: String
        public var password: String
        public init(mechanism: Mechanism, username: String, password: String) {
            self.mechanism = mechanism
            self.username = username
            self.password = password
        }
    }

    public struct TLS: Sendable, Equatable {
        /// PEM file of the CA(s) to trust; nil: the system's roots.
        public var caFile: String?
        /// PEM client certificate and key, for brokers that require one.
        public var certFile: String?
        public var keyFile: String?
        /// Name to check the broker's certificate against (default: the host it is reached at).
        public var serverName: String?
        /// Skip certificate checks (tests and emergencies only).
        public var insecureSkipVerify: Bool
        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, serverName: String? = nil, insecureSkipVerify: Bool = false) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.serverName = serverName
            self.insecureSkipVerify = insecureSkipVerify
        }
    }

    public var tls: TLS?
    public var sasl: SASL?

    public init(tls: TLS? = nil, sasl: SASL? = nil) {
        self.tls = tls
        self.sasl = sasl
    }

    public static let plaintext = KafkaSecurity()

    /// A short description for logs and results; never the password.
    public var summary: String {
        let transport = tls == nil ? "plaintext" : (tls?.certFile != nil ? "TLS with a client certificate" : "TLS")
        guard let sasl else { return transport }
        return "\(transport), SASL \(sasl.mechanism.rawValue) as \(sasl.username)"
    }

    /// The settings from a credentials folder (a mounted Secret) and the environment.
    /// - Parameters:
    ///   - tls: TLS asked for (`spec.kafka.tls`); a folder with `ca.crt` or `tls.crt` without it is refused, since the intent is unclear.
    public static func load(tls: TLS?, directory: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KafkaSecurity {
        func file(_ name: String) -> String? {
            guard let directory else { return nil }
            let path = directory + "/" + name
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        func value(_ env: String, _ name: String) -> String? {
            if environment[env]?.isEmpty == true { return file(name).flatMap(Credentials.read) }
            return Credentials.optional(env: env, file: name, directory: directory, environment: environment)
        }

        var out = KafkaSecurity()
        let ca = file("ca.crt"), cert = file("tls.crt"), key = file("tls.key")
        if var t = tls {
            t.caFile = t.caFile ?? ca
            t.certFile = t.certFile ?? cert
            t.keyFile = t.keyFile ?? key
            if (t.certFile == nil) != (t.keyFile == nil) {
                throw StepError.configuration("a Kafka client certificate needs both tls.crt and tls.key in spec.kafka.credentialsSecret; one of them is missing")
            }
            out.tls = t
        } else if ca != nil || cert != nil {
            throw StepError.configuration("spec.kafka.credentialsSecret holds \(ca != nil ? "ca.crt" : "tls.crt") but TLS is off: add spec.kafka.tls: {} to reach the brokers over TLS, or remove the key from the Secret")
        }

        let username = value("FERRY_KAFKA_USERNAME", "username")
        let password = value("FERRY_KAFKA_PASSWORD", "password")
        let mechanismText = value("FERRY_KAFKA_MECHANISM", "mechanism")
        switch (username, password) {
        case (nil, nil):
            if let mechanismText { throw StepError.configuration("spec.kafka.credentialsSecret names SASL mechanism \(mechanismText) but has no username and password keys") }
        case (let u?, let p?):
            let m = try mechanism(mechanismText ?? Mechanism.scramSHA512.rawValue)
            out.sasl = SASL(mechanism: m, username: u, password: p)
        case (nil, _):
            throw StepError.configuration("Kafka SASL needs a username: key username in spec.kafka.credentialsSecret (or FERRY_KAFKA_USERNAME)")
        case (_, nil):
            throw StepError.configuration("Kafka SASL needs a password: key password in spec.kafka.credentialsSecret (or FERRY_KAFKA_PASSWORD)")
        }
        return out
    }

    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, in any case.
    public static func mechanism(_ text: String) throws -> Mechanism {
        guard let m = Mechanism(rawValue: text.uppercased()) else {
            throw StepError.configuration("Kafka SASL mechanism \"\(text)\" (key mechanism in spec.kafka.credentialsSecret) must be one of \(Mechanism.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return m
    }
}
