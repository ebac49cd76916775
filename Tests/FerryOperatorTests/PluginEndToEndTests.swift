import FerryAPI
import FerryPlugin
import Foundation
import KubeClient
import TestSupport
import Testing

/// `kubectl ferry …` through kubectl's plugin discovery (this build's `kubectl-ferry` on PATH),
/// against KubeSim with the controller as its own process and real step Jobs against MariaDB.
@Suite("kubectl ferry end to end (plugin discovery, KubeSim, MariaDB)", .serialized, .timeLimit(.minutes(6)))
struct PluginEndToEndTests {
    typealias E = RestoreEndToEndTests
    typealias S = DataSafetyEndToEndTests

    func phase(_ env: KubectlEnv, _ name: String, _ wanted: String, timeout: Double = 120) async throws -> Bool {
        try await eventually(timeout: timeout, interval: 0.3) { try await env.jsonpath("migration/\(name)", ".status.phase") == wanted }
    }

    func withCluster(_ name: String, _ body: (KubectlEnv, TestServers, ControllerProcess) async throws -> Void) async throws {
        let servers = try await TestServers.shared()
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await E.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let controller = try E.controller(env, "\(name)-\(UUID().uuidString.prefix(4))")
            defer { controller.terminateNow() }
            try await body(env, servers, controller)
        }
    }

    @Test("plan -f before applying names the steps, an estimate each and what would block (a missing Secret); status of the failed Migration says what to do next; rerun after the fix; status, logs, json; the steering verbs say what changed; a wrong step or name is refused by name")
    func statusPlanSteer() async throws {
        try await withCluster("plugin") { env, servers, controller in
            let db = "pl_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 2_000)
            let sum = try await S.checksum(servers, db)
            let package = try await S.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            let manifest = S.migration("pl", package: package, servers, secret: "mysql-later")
            let file = try makeTempDir("plugin") + "/migration.yaml"
            try manifest.write(toFile: file, atomically: true, encoding: .utf8)

            // plan -f: nothing applied yet, nothing changed.
            let plan = try await env.ferry("plan", "-f", file)
            #expect(plan.status == 0, "\(plan.stderr)")
            #expect(plan.stdout.contains("read from \(package) on this machine"), "\(plan.stdout)")
            for step in ["validate", "quiesce", "mysql/\(db)", "resume"] { #expect(plan.stdout.contains(step), "\(step): \(plan.stdout)") }
            #expect(plan.stdout.contains("Would block") && plan.stdout.contains("Secret mysql-later (spec.mysql.credentialsSecret) does not exist"), "\(plan.stdout)")
            #expect(plan.stdout.contains("downtime about"), "\(plan.stdout)")
            #expect(!plan.stdout.contains("\u{1B}["), "no colour when piped")
            #expect(try await env.kubectl("get", "migrations", "-o", "name").stdout.isEmpty, "plan applied nothing")
            let planJSON = try await env.ferry("plan", "-f", file, "-o", "json")
            let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(planJSON.stdout.utf8))
            #expect(parsed[path: ["estimate", "steps"]]?.arrayValue?.compactMap { $0["name"]?.stringValue }.contains("mysql/\(db)") == true, "\(planJSON.stdout)")
            #expect((parsed[path: ["estimate", "downtimeSeconds"]]?.doubleValue ?? 0) > 0)

            // Applied without its Secret: Failed at validate; status says what to do next.
            #expect(try await env.kubectl("apply", "-f", file).status == 0)
            #expect(try await phase(env, "pl", "Failed"), "\(controller.log.suffix(1500))")
            let failed = try await env.ferry("status", "pl")
            #expect(failed.status == 0, "\(failed.stderr)")
            #expect(failed.stdout.contains("Migration default/pl: Failed") && failed.stdout.contains("STEP") && failed.stdout.contains("validate"), "\(failed.stdout)")
            #expect(failed.stdout.contains("Next: fix Secret mysql-later, then: kubectl ferry rerun pl validate"), "\(failed.stdout)")
            #expect(failed.stdout.contains("Events:") && failed.stdout.contains("StepFailed"), "\(failed.stdout)")
            #expect(!failed.stdout.contains("\u{1B}["))

            // The fix, then the verb the hint named.
            let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: mysql-later}\nstringData: {username: root, password: \"\"}\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: secret).status == 0)
            let wrong = try await env.ferry("rerun", "pl", "nosuch")
            #expect(wrong.status != 0 && wrong.stderr.contains("has no step nosuch; its steps: validate"), "\(wrong.stdout) \(wrong.stderr)")
            let rerun = try await env.ferry("rerun", "pl", "validate")
            #expect(rerun.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "migration/pl: ferry.dev/rerun=validate (was unset)", "\(rerun.stdout) \(rerun.stderr)")
            let done = try await phase(env, "pl", "Succeeded", timeout: 180)
            let doneYAML = try await env.kubectl("get", "migration/pl", "-o", "yaml").stdout
            #expect(done, "\(doneYAML)")
            #expect(try await S.checksum(servers, db) == sum)
            let report = try await env.ferry("status", "pl")
            #expect(report.stdout.contains("Succeeded") && report.stdout.contains("mysql/\(db)") && report.stdout.contains("2000 rows"), "\(report.stdout)")
            #expect(report.stdout.contains("Downtime: ") && report.stdout.contains("Next: nothing: the migration is through"), "\(report.stdout)")
            let json = try await env.ferry("status", "pl", "-o", "json")
            let status = try JSONDecoder().decode(StatusReport.self, from: Data(json.stdout.utf8))
            #expect(status.phase == "Succeeded" && status.steps.contains { $0.name == "mysql/\(db)" && $0.moved?.contains("2000 rows") == true } && (status.downtimeSeconds ?? 0) > 0, "\(json.stdout)")
            let logs = try await env.ferry("logs", "pl", "mysql/\(db)")
            #expect(logs.status == 0 && logs.stdout.contains("restored and verified"), "\(logs.stdout) \(logs.stderr)")

            // The steering verbs: each says what changed, and changes only its annotation.
            let pause = try await env.ferry("pause", "pl")
            #expect(pause.stdout.contains("migration/pl: ferry.dev/files=paused (was unset)"), "\(pause.stdout)")
            #expect(try await env.jsonpath("migration/pl", #".metadata.annotations.ferry\.dev/files"#) == "paused")
            #expect(try await env.ferry("pause", "pl").stdout.contains("is already paused; nothing changed"))
            #expect(try await env.ferry("resume", "pl").stdout.contains("ferry.dev/files=running (was paused)"))
            #expect(try await env.ferry("cutover", "pl").stdout.contains("ferry.dev/cutover=now (was unset)"))
            let finished = try await env.ferry("cancel", "pl")
            #expect(finished.status != 0 && finished.stderr.contains("has finished (Succeeded): nothing to cancel"), "\(finished.stdout) \(finished.stderr)")
            #expect(try await env.ferry("cancel", "pl", "--undo").stdout.contains("ferry.dev/cancel is not set; nothing changed"))
            // The same rerun again: the plugin has the controller see the first request go, then asks again.
            let attempts = Int(try await env.jsonpath("migration/pl", #".status.steps[?(@.name=="validate")].attempts"#)) ?? 0
            let again = try await env.ferry("rerun", "pl", "validate")
            #expect(again.stdout.contains("ferry.dev/rerun=validate asked for again"), "\(again.stdout) \(again.stderr)")
            #expect(try await eventually(timeout: 120, interval: 0.3) { (Int(try await env.jsonpath("migration/pl", #".status.steps[?(@.name=="validate")].attempts"#)) ?? 0) > attempts },
                    "validate ran again")
            let missing = try await env.ferry("status", "nope")
            #expect(missing.status != 0 && missing.stderr.contains("migration nope not found in namespace default"), "\(missing.stderr)")
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
        }
    }

    @Test("spec.dryRun: validate, plan and estimate with nothing stopped or written (the app's resourceVersions and the database's CHECKSUM as before); phase Planned; the estimate from an earlier Migration's measured run is within 2× of the downtime it measured; dryRun false runs it")
    func dryRun() async throws {
        try await withCluster("dry") { env, servers, controller in
            let db = "dry_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 20_000)
            let package = try await S.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            // A first Migration measures the rates.
            #expect(try await env.kubectl("apply", "-f", "-", input: S.migration("first", package: package, servers)).status == 0)
            #expect(try await phase(env, "first", "Succeeded", timeout: 180), "\(controller.log.suffix(1500))")
            let measured = Double(try await env.jsonpath("migration/first", ".status.downtime.seconds")) ?? 0
            #expect(measured > 0)
            // Changed since: the target database as the app has made it.
            _ = try await E.sql(servers, "INSERT INTO `\(db)`.items VALUES (999999, 'written after');")
            let sum = try await S.checksum(servers, db)
            let versions = { () async throws -> String in
                try await env.kubectl("get", "deployments,statefulsets", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}").stdout
            }
            let before = try await versions()
            var yaml = S.migration("second", package: package, servers)
            yaml += "  dryRun: true\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            let planned = try await phase(env, "second", "Planned")
            let secondYAML = try await env.kubectl("get", "migration/second", "-o", "yaml").stdout
            #expect(planned, "\(secondYAML)\n\(controller.log.suffix(1500))")
            #expect(try await versions() == before, "nothing was stopped or written to the app")
            #expect(try await S.checksum(servers, db) == sum, "nothing was written to the database")
            #expect(try await env.jsonpath("migration/second", ".status.steps[*].name") == "validate")
            let estimated = Double(try await env.jsonpath("migration/second", ".status.estimate.downtimeSeconds")) ?? 0
            #expect(estimated >= measured / 2 && estimated <= measured * 2, "estimate \(estimated) s against \(measured) s measured")
            #expect(try await env.jsonpath("migration/second", ".status.estimate.steps[*].name").contains("mysql/\(db)"))
            #expect(try await env.jsonpath("migration/second", ".status.message").contains("dry run"), "\(secondYAML)")
            let plan = try await env.ferry("plan", "second")
            let mysqlRow = plan.stdout.split(separator: "\n").first { $0.hasPrefix("mysql/\(db) ") } ?? ""
            #expect(mysqlRow.contains("1 earlier run scaled to"), "the data step from the first Migration's measured run: \(plan.stdout)")
            // Run it.
            #expect(try await env.kubectl("patch", "migration/second", "--type=merge", "-p", #"{"spec":{"dryRun":false}}"#).status == 0)
            #expect(try await phase(env, "second", "Succeeded", timeout: 180), "\(controller.log.suffix(1500))")
            let second = Double(try await env.jsonpath("migration/second", ".status.downtime.seconds")) ?? 0
            print("dry run: estimated downtime \(estimated) s; measured \(measured) s (first run), \(second) s (this run)")
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
        }
    }

    @Test("plan of a Migration whose package this machine cannot read (on a volume claim): it says so and plans from the in-cluster validate result, sizes included; a dry run validated it")
    func planFromClusterValidate() async throws {
        try await withCluster("remote") { env, servers, controller in
            let db = "rp_\(UUID().uuidString.prefix(4).lowercased())"
            try await S.makeDatabase(servers, db, rows: 3_000)
            let package = try await S.legacyPackage(servers, [db])
            _ = try await E.sql(servers, "DROP DATABASE `\(db)`;")
            let claim = env.fixture.server.dataDirectory + "/volumes/default/backup"
            try FileManager.default.createDirectory(atPath: env.fixture.server.dataDirectory + "/volumes/default", withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: package, toPath: claim)
            var yaml = S.migration("remote", package: package, servers).replacingOccurrences(of: "package: {hostPath: \(package)}", with: "package: {persistentVolumeClaim: backup}")
            yaml += "  dryRun: true\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            #expect(try await phase(env, "remote", "Planned"), "\(controller.log.suffix(1500))")
            let plan = try await env.ferry("plan", "remote")
            #expect(plan.status == 0, "\(plan.stderr)")
            #expect(plan.stdout.contains("not reachable from this machine (claim backup); from the in-cluster validate result"), "\(plan.stdout)")
            let row = plan.stdout.split(separator: "\n").first { $0.hasPrefix("mysql/\(db) ") } ?? ""
            #expect(row.contains(" bytes"), "sized from validate's result: \(plan.stdout)")
            _ = try await E.sql(servers, "DROP DATABASE IF EXISTS `\(db)`;")
        }
    }
}
