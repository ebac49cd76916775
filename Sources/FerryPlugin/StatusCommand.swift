import ArgumentParser
import FerryAPI
import Foundation
import KubeClient

extension KubectlFerry {
    /// `kubectl ferry status NAME`: phase, conditions, the steps, downtime, files, replication,
    /// the last events and what to do next.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One report of a Migration: its steps, downtime, file sync, replication, last events and what to do next.")

        @OptionGroup var cluster: ClusterOptions

        @Argument(help: "The Migration.")
        var name: String

        @Option(name: [.short, .customLong("output")], help: "text (the default; colour on a terminal) or json.")
        var output: OutputFormat = .text

        func run() async throws {
            let report = try await cluster.with { client, namespace in
                let migration = try await client.migration(name, namespace: namespace)
                return StatusReport.of(migration, events: try await Self.events(client, of: migration), now: Date())
            }
            switch output {
            case .json: try printJSON(report)
            case .text: print(report.text(color: colorWanted), terminator: "")
            }
        }

        /// The Migration's events (events.k8s.io/v1), oldest first.
        static func events(_ client: KubeClient, of migration: Migration) async throws -> [StatusReport.Event] {
            let namespace = migration.metadata.namespace ?? "default"
            let items = try await client.list(.events, namespace: namespace).items
            let uid = migration.metadata.uid
            return items.filter { e in
                e[path: ["regarding", "name"]]?.stringValue == migration.metadata.name && e[path: ["regarding", "kind"]]?.stringValue == "Migration"
                    && (uid == nil || e[path: ["regarding", "uid"]]?.stringValue == nil || e[path: ["regarding", "uid"]]?.stringValue == uid)
            }.map { e in
                let time = e[path: ["series", "lastObservedTime"]]?.stringValue ?? e["eventTime"]?.stringValue ?? e["deprecatedLastTimestamp"]?.stringValue ?? ""
                return StatusReport.Event(time: time, type: e["type"]?.stringValue ?? "", reason: e["reason"]?.stringValue ?? "", note: e["note"]?.stringValue ?? "")
            }.sorted { $0.time < $1.time }
        }
    }
}
