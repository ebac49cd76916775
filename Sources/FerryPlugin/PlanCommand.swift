import ArgumentParser
import FerryAPI
import FerryEngine
import FerryOperator
import FerryProtocol
import FerrySteps
import Foundation
import KubeClient
import Yams

extension KubectlFerry {
    /// `kubectl ferry plan NAME | -f migration.yaml`: the steps that would run, an estimate for
    /// each and for the downtime, and what would block. Nothing is changed.
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The steps that would run, with an estimate for each and for the downtime, and what would block. Changes nothing.")

        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "A Migration in the cluster.") var name: String?
        @Option(name: .shortAndLong, help: "A Migration manifest (YAML) not applied yet.") var filename: String?
        @Option(name: [.short, .customLong("output")], help: "text or json.") var output: OutputFormat = .text

        func validate() throws {
            guard (name == nil) != (filename == nil) else { throw ValidationError("name a Migration, or give its manifest with -f (one of the two)") }
        }

        func run() async throws {
            let report = try await cluster.with { client, namespace in
                let migration: Migration
                if let filename {
                    let text: String
                    do { text = try String(contentsOfFile: filename, encoding: .utf8) } catch { throw PluginError(description: "\(filename): \(error.localizedDescription)") }
                    var m: Migration
                    do { m = try YAMLDecoder().decode(Migration.self, from: text) } catch { throw PluginError(description: "\(filename) is not a Migration: \(error)") }
                    m.metadata.namespace = m.metadata.namespace ?? namespace
                    migration = m
                } else {
                    migration = try await client.migration(name ?? "", namespace: namespace)
                }
                return try await PlanReport.make(migration, client: client)
            }
            switch output {
            case .json: try printJSON(report)
            case .text: print(report.text(color: colorWanted), terminator: "")
            }
        }
    }
}

/// What `plan` prints.
struct PlanReport: Codable {
    var namespace: String
    var name: String
    /// Where the package's contents and sizes came from.
    var package: String
    var estimate: Estimate
    var blockers: [String]

    static func make(_ migration: Migration, client: KubeClient) async throws -> PlanReport {
        let namespace = migration.metadata.namespace ?? "default"
        if let problems = Optional(migration.spec.validate()), !problems.isEmpty {
            return PlanReport(namespace: namespace, name: migration.metadata.name ?? "", package: "not read: the spec is invalid",
                              estimate: Estimate(steps: [], seconds: 0, downtimeSeconds: 0), blockers: problems.map { "\($0)" })
        }
        let spec = migration.spec.withDefaults(namespace: namespace)
        var blockers: [String]
        do {
            blockers = try await SpecSecrets.problems(spec, client: client, namespace: namespace)
        } catch let e as KubeAPIError {
            blockers = ["the Secrets the spec names could not be checked from here (\(e)); validate checks them in the cluster"]
        }
        // The package: read here when this machine reaches it, else what validate found in the cluster.
        var contents: PackageContents?
        var source: String
        let validate = migration.status?.steps?.first { $0.name == "validate" }
        if let root = localPackage(spec) {
            let args = ValidateArguments(package: root, appVersion: spec.appVersion, allowVersionMismatch: spec.allowVersionMismatch == true,
                                         databases: spec.mysql?.databases ?? [], tables: spec.clickhouse?.tables ?? [], folders: (spec.files ?? []).compactMap(\.from.folder))
            do {
                contents = try args.run(checksums: false, say: { _ in }).package
                source = "read from \(root) on this machine"
            } catch {
                blockers.append("the package: \(error)")
                source = "read from \(root) on this machine (refused)"
            }
        } else if validate?.state == .succeeded, let found = StepResults.contents(ofValidate: validate?.result) {
            contents = found
            source = "not reachable from this machine (\(spec.package.hostPath ?? "claim \(spec.package.persistentVolumeClaim ?? "")")); from the in-cluster validate result"
        } else {
            source = "not reachable from this machine (\(spec.package.hostPath ?? "claim \(spec.package.persistentVolumeClaim ?? "")")) and not validated in the cluster yet: sizes unknown"
        }
        if validate?.state == .failed, let m = validate?.message { blockers.append("validate: \(m)") }
        for v in StepResults.volumes(ofValidate: validate?.result) where v.freePercent < 20 {
            blockers.append("volume \(v.name) has \(String(format: "%.1f", v.freePercent))% free; at least 20% is needed")
        }
        let estimate = Estimator.forPlan(spec, contents: contents, validate: validate, others: await MigrationHistory.statuses(client, except: migration))
        return PlanReport(namespace: namespace, name: migration.metadata.name ?? "", package: source, estimate: estimate, blockers: blockers)
    }

    /// The package folder when this machine has it (a hostPath that exists here).
    static func localPackage(_ spec: MigrationSpec) -> String? {
        guard let host = spec.package.hostPath else { return nil }
        let root = spec.package.subPath.map { host + "/" + $0 } ?? host
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: root, isDirectory: &isDir) && isDir.boolValue ? root : nil
    }

    func text(color: Bool) -> String {
        let paint = Paint(on: color)
        var out = "\(paint.bold("Plan for \(namespace)/\(name)"))\n  package: \(package)\n\n"
        let rows = [["STEP", "ESTIMATE", "DOWNTIME", "BASIS"]] + estimate.steps.map { [$0.name, StatusReport.duration($0.seconds), $0.downtime ? "yes" : "", $0.basis] }
        out += StatusReport.table(rows) { r, _, cell in r == 0 ? paint.dim(cell) : cell }
        out += "\nTotal: about \(StatusReport.duration(estimate.seconds)); downtime about \(StatusReport.duration(estimate.downtimeSeconds))\n"
        if blockers.isEmpty {
            out += "Nothing blocks it that can be seen from here.\n"
        } else {
            out += "\(paint.warn("Would block")):\n" + blockers.map { "  - \($0)\n" }.joined()
        }
        return out
    }
}
