import FerryAPI
import FerryEngine

/// `presync` and `files`: the data-files-transfer pod, driven through its control endpoint (see ``FilesTransfer``).
struct FileSyncStep: StepDriver {
    func drive(_ step: StepStatus, _ context: StepContext) async throws -> StepObservation {
        let seen = try await FilesTransfer(client: context.client, settings: context.settings, http: context.http).drive(
            step, migration: context.migration, spec: context.spec, paused: context.filesPaused, previous: context.status.files, now: context.now)
        return StepObservation(seen.outcome, files: seen.files)
    }
}
