import ArgumentParser
import FerryAPI
import FerryEngine
import Foundation
import KubeClient

extension KubectlFerry {
    /// `kubectl ferry logs NAME [STEP]`: the output of a step's Job pod, or of the transfer pod(s).
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The output of a step's Job, or of the file sync's transfer pods (the running step, else the last one).")

        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The Migration.") var name: String
        @Argument(help: "The step, as status names it (default: the current step).") var step: String?
        @Option(help: "Lines from the end of each pod's output.") var tail: Int = 100

        func run() async throws {
            let text = try await cluster.with { client, namespace in
                let migration = try await client.migration(name, namespace: namespace)
                let steps = migration.status?.steps ?? []
                if let step, !steps.isEmpty, !steps.contains(where: { $0.name == step }) {
                    throw PluginError(description: "migration/\(name) has no step \(step); its steps: \(steps.map(\.name).joined(separator: ", "))")
                }
                // The step asked for; else the current one, then the others that ran, newest first, until one has a pod left.
                let ran = steps.filter { ($0.attempts ?? 0) > 0 }.sorted { ($0.startedAt ?? "") > ($1.startedAt ?? "") }.map(\.name)
                let candidates = step.map { [$0] } ?? ([migration.status?.step].compactMap { $0 } + ran)
                guard !candidates.isEmpty else { throw PluginError(description: "migration/\(name) has not run a step yet") }
                var pods: [JSONValue] = []
                var wanted = candidates[0]
                for c in candidates {
                    let selector = "\(FerryNames.migrationLabel)=\(name),ferry.dev/step=\(JobNames.slug(c))"
                    pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: selector)).items
                        .sorted { ($0[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "", $0.name ?? "") < ($1[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "", $1.name ?? "") }
                    wanted = c
                    if !pods.isEmpty { break }
                }
                guard !pods.isEmpty else {
                    throw PluginError(description: "no pod of step \(wanted) is left (a finished step's Job is removed with its pods; its result is in kubectl ferry status \(name))")
                }
                // The transfer pods of a sharded sync all at once; for a Job, its newest run.
                let shown = pods.contains { $0[path: ["metadata", "labels", "app"]]?.stringValue == "data-files-transfer" } ? pods : [pods[pods.count - 1]]
                var out = ""
                for pod in shown {
                    let log = try await client.podLog(name: pod.name ?? "", namespace: namespace, tailLines: max(1, tail), limitBytes: 4 << 20)
                    out += shown.count > 1 ? log.split(separator: "\n", omittingEmptySubsequences: false).map { "[\(pod.name ?? "")] \($0)" }.joined(separator: "\n") : log
                    if !out.hasSuffix("\n") { out += "\n" }
                }
                return out
            }
            print(text, terminator: "")
        }
    }
}
