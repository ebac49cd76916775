import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation

/// `kafka`: `ferry restore kafka` in a Job (data plane: FerrySteps/Kafka).
struct KafkaStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let k = spec.kafka else { return nil }
        return KafkaArguments(package: StepPod.packageMount, bootstrap: k.bootstrap, mode: k.mode ?? MigrationDefaults.kafkaMode, groups: k.groups ?? [],
                              timestamp: k.timestamp, tls: k.tls != nil, tlsServerName: k.tls?.serverName, tlsInsecureSkipVerify: k.tls?.insecureSkipVerify == true,
                              credentialsDir: k.credentialsSecret == nil ? nil : StepPod.credentialsMount("kafka"))
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] {
        [spec.kafka?.credentialsSecret.map {
            StepSecret(kind: "kafka", field: "spec.kafka.credentialsSecret", name: $0, together: ["username", "password"],
                       anyOf: ["username", "password", "ca.crt", "tls.crt", "tls.key"], certificate: ("tls.crt", "tls.key"))
        }].compactMap { $0 }
    }

    /// The offsets must be in the package only when they are restored from it (mode package).
    func validation(spec: MigrationSpec) -> StepValidation {
        guard let k = spec.kafka else { return StepValidation() }
        let endpoints = k.bootstrap.split(separator: ",").compactMap { b -> ValidateArguments.Endpoint? in
            let parts = b.trimmingCharacters(in: .whitespaces).split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { return nil }
            return .init(name: "spec.kafka.bootstrap", host: String(parts[0]), port: port)
        }
        return StepValidation(requires: (k.mode ?? MigrationDefaults.kafkaMode) == "package" ? "kafka" : nil, endpoints: endpoints)
    }
}
