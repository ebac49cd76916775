import FerryAPI
import FerryEngine
import FerryProtocol

/// `kafka`: `ferry restore kafka` in a Job (data plane: FerrySteps/Kafka).
struct KafkaStep: JobStepKind {
    func arguments(for step: String, spec: MigrationSpec) -> (any StepArguments)? {
        guard let k = spec.kafka else { return nil }
        return KafkaArguments(package: StepPod.packageMount, bootstrap: k.bootstrap, mode: k.mode ?? MigrationDefaults.kafkaMode, groups: k.groups ?? [],
                              timestamp: k.timestamp, tls: k.tls != nil, tlsServerName: k.tls?.serverName, tlsInsecureSkipVerify: k.tls?.insecureSkipVerify == true,
                              credentialsDir: k.credentialsSecret == nil ? nil : StepPod.credentialsMount("kafka"))
    }

    func secret(spec: MigrationSpec) -> (kind: String, name: String)? { spec.kafka?.credentialsSecret.map { ("kafka", $0) } }
}
