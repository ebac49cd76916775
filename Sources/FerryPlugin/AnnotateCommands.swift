import ArgumentParser
import FerryAPI
import Foundation
import KubeClient

/// The steering annotations, set or removed on a Migration, saying what changed.
struct Steering {
    var cluster: ClusterOptions
    var name: String

    /// Sets `key` to `value` (nil: removes it); prints `migration/NAME: key=value (was …)`.
    func set(_ key: String, to value: String?, check: (Migration) throws -> Void = { _ in }) async throws {
        let line = try await cluster.with { client, namespace in
            let migration = try await client.migration(name, namespace: namespace)
            try check(migration)
            let before = migration.metadata.annotations?[key]
            guard before != value else {
                return "migration/\(name): \(key) \(value.map { "is already \($0)" } ?? "is not set"); nothing changed"
            }
            let patch: JSONValue = ["metadata": ["annotations": [key: value.map { .string($0) } ?? .null]]]
            _ = try await client.patch(Migration.resource, name: name, namespace: namespace, .merge(patch))
            return "migration/\(name): " + (value.map { "\(key)=\($0)" } ?? "\(key) removed") + " (was \(before ?? "unset"))"
        }
        print(line)
    }
}

extension KubectlFerry {
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause the file sync within about a second (ferry.dev/files=paused).")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The Migration.") var name: String
        func run() async throws { try await Steering(cluster: cluster, name: name).set(FerryNames.filesAnnotation, to: "paused") }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume the file sync where it stopped (ferry.dev/files=running).")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The Migration.") var name: String
        func run() async throws { try await Steering(cluster: cluster, name: name).set(FerryNames.filesAnnotation, to: "running") }
    }

    struct Rerun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the named steps once more (ferry.dev/rerun); a data step re-runs quiesce before it and resume after it.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The Migration.") var name: String
        @Argument(help: "Steps, as status names them (validate, mysql/crm, …).") var steps: [String]

        func validate() throws {
            guard !steps.isEmpty else { throw ValidationError("name at least one step, e.g. kubectl ferry rerun \(name) validate") }
            if let bad = steps.first(where: { $0.isEmpty || $0.contains(",") || $0.contains(" ") }) { throw ValidationError("\"\(bad)\" is not a step name") }
        }

        func run() async throws {
            let value = steps.joined(separator: ",")
            let line = try await cluster.with { client, namespace in
                let migration = try await client.migration(name, namespace: namespace)
                let planned = migration.status?.steps ?? []
                if !planned.isEmpty {
                    let unknown = steps.filter { s in !planned.contains { $0.name == s } }
                    if !unknown.isEmpty {
                        throw PluginError(description: "migration/\(name) has no step \(unknown.joined(separator: ", ")); its steps: \(planned.map(\.name).joined(separator: ", "))")
                    }
                    for s in planned where steps.contains(s.name) && (s.state == .running || s.state == .skipped) {
                        throw PluginError(description: "migration/\(name): \(s.name) is \(s.state == .running ? "running now; run it again once it ends" : "skipped (spec.steps.skip, or it runs only when asked for)")")
                    }
                }
                let before = migration.metadata.annotations?[FerryNames.rerunAnnotation]
                let patch = { (v: String?) async throws in
                    _ = try await client.patch(Migration.resource, name: name, namespace: namespace, .merge(["metadata": ["annotations": [FerryNames.rerunAnnotation: v.map { .string($0) } ?? .null]]]))
                }
                // The same request again: the controller acts on a request once, so it must see it removed first.
                if before == value {
                    try await patch(nil)
                    let deadline = Date().addingTimeInterval(60)
                    while try await client.migration(name, namespace: namespace).status?.handledRerun == value {
                        guard Date() < deadline else { throw PluginError(description: "migration/\(name): the controller has not seen the earlier request go in 60 s; is it running?") }
                        try await Task.sleep(for: .milliseconds(300))
                    }
                    try await patch(value)
                    return "migration/\(name): \(FerryNames.rerunAnnotation)=\(value) asked for again"
                }
                try await patch(value)
                return "migration/\(name): \(FerryNames.rerunAnnotation)=\(value) (was \(before ?? "unset"))"
            }
            print(line)
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the running step and bring the workloads back (ferry.dev/cancel=true); --undo continues from the checkpoint.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The Migration.") var name: String
        @Flag(help: "Remove the cancel: the Migration continues from its checkpoint, stopping the workloads again first.") var undo = false
        func run() async throws {
            try await Steering(cluster: cluster, name: name).set(FerryNames.cancelAnnotation, to: undo ? nil : "true") { migration in
                if !undo, migration.status?.phase == .succeeded {
                    throw PluginError(description: "migration/\(name) has finished (Succeeded): nothing to cancel")
                }
            }
        }
    }

    struct Cutover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cut over as soon as the checks allow (ferry.dev/cutover=now); --reverse goes back to the old server.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The Migration.") var name: String
        @Flag(help: "Go back to the old server (ferry.dev/cutover=reverse).") var reverse = false
        func run() async throws { try await Steering(cluster: cluster, name: name).set(FerryNames.cutoverAnnotation, to: reverse ? "reverse" : "now") }
    }
}
