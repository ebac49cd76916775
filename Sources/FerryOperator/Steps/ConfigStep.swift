import FerryAPI
import FerryEngine
import FerryProtocol

/// `config`: `ferry restore config` in a Job (data plane: FerrySteps/Config), with the key
/// Secret mounted; the one step that writes through the API, as its own account (``ConfigAccess``).
struct ConfigStep: JobStepKind {
    func arguments(for step: StepStatus, spec: MigrationSpec) -> (any StepArguments)? {
        guard let c = spec.config else { return nil }
        return ConfigArguments(package: StepPod.packageMount, keyDir: c.keySecret == nil ? nil : StepPod.credentialsMount("config"), secret: c.secretName)
    }

    func secrets(spec: MigrationSpec) -> [StepSecret] {
        [spec.config?.keySecret.map { StepSecret(kind: "config", field: "spec.config.keySecret", name: $0, required: ["key"]) }].compactMap { $0 }
    }

    /// Without a key, only the old tool's unsealed config will do (`config-unsealed`).
    func validation(spec: MigrationSpec) -> StepValidation {
        guard let c = spec.config else { return StepValidation() }
        return StepValidation(requires: c.keySecret == nil ? "config-unsealed" : "config")
    }

    func serviceAccount(migration: String) -> String? { ConfigAccess.accountName(migration: migration) }

    func prepare(_ context: StepContext) async throws -> StepOutcome? {
        do {
            try await ConfigAccess.ensure(context.client, migration: context.migration, spec: context.spec)
            return nil
        } catch let e as ConfigAccessConflict {
            return .failed("\(e)", permanent: true, untouched: true)
        }
    }
}
