import FerryAPI
import FerryProtocol
@testable import FerryEngine
import Foundation
import KubeClient
import Testing

/// `status.estimate` and `kubectl ferry plan`: each step from the package's sizes and earlier
/// runs, the downtime window.
@Suite("estimates")
struct EstimatorTests {
    func finished(_ name: String, seconds: Double, bytes: Int64? = nil, state: StepStatus.State = .succeeded) -> StepStatus {
        var s = StepStatus(name: name, state: state, attempts: 1, startedAt: "2026-12-01T10:00:00Z",
                           finishedAt: Timestamps.format(Timestamps.parse("2026-12-01T10:00:00Z")!.addingTimeInterval(seconds)))
        s.result = bytes.map { ["bytes": .int($0)] }
        return s
    }

    @Test("without earlier runs: the documented defaults, fixed part plus the bytes at the default rate; size unknown says so")
    func defaults() {
        let e = Estimator.estimate(steps: ["validate", "quiesce", "mysql/crm", "clickhouse/db.t", "resume", "files"], sizes: ["mysql/crm": 100_000_000, "files/a": 200_000_000], history: [:])
        let by = Dictionary(uniqueKeysWithValues: e.steps.map { ($0.name, $0) })
        #expect(by["mysql/crm"]?.seconds == 9 && by["mysql/crm"]?.basis.hasPrefix("default: 5 s + 25 MB/s") == true)
        #expect(by["files"]?.seconds == 7, "5 s + 200 MB at 100 MB/s")
        #expect(by["clickhouse/db.t"]?.basis.contains("size unknown") == true)
        #expect(by["quiesce"]?.seconds == 10 && by["resume"]?.seconds == 15)
        #expect(e.downtimeSeconds == 10 + 9 + 5 + 15, "quiesce through resume; files runs after resume")
        #expect(by["files"]?.downtime == false && by["validate"]?.downtime == false)
    }

    @Test("earlier runs: a data step's scaled to this size (their fixed part kept), the median; other steps the median; failed or unfinished runs ignored")
    func history() {
        var a = MigrationStatus(), b = MigrationStatus()
        a.steps = [finished("mysql/x", seconds: 25, bytes: 100_000_000), finished("quiesce", seconds: 4), finished("resume", seconds: 8)]
        b.steps = [finished("mysql/y", seconds: 45, bytes: 100_000_000), finished("quiesce", seconds: 6), finished("resume", seconds: 99, state: .failed),
                   StepStatus(name: "cache", state: .succeeded, attempts: 1)]
        let h = Estimator.history([a, b])
        #expect(h["mysql"]?.count == 2 && h["quiesce"]?.count == 2 && h["resume"]?.count == 1 && h["cache"] == nil)
        let e = Estimator.estimate(steps: ["quiesce", "mysql/crm", "resume"], sizes: ["mysql/crm": 200_000_000], history: h)
        let by = Dictionary(uniqueKeysWithValues: e.steps.map { ($0.name, $0) })
        // 5 + 20×2 = 45 and 5 + 40×2 = 85: median 65.
        #expect(by["mysql/crm"]?.seconds == 65 && by["mysql/crm"]?.basis == "2 earlier runs scaled to 200000000 bytes", "\(String(describing: by["mysql/crm"]))")
        #expect(by["quiesce"]?.seconds == 5 && by["resume"]?.seconds == 8)
        #expect(e.downtimeSeconds == 78)
    }

    @Test("the downtime window: from the old application's stop or the cutover in replicate mode, after an incremental ClickHouse sync; replication and the sync themselves cost no downtime")
    func window() {
        #expect(Estimator.downtimeSteps(["validate", "quiesce", "mysql-snapshot", "mysql-replicate", "mysql-stop-source", "mysql-cutover", "resume", "files"])
                == ["mysql-stop-source", "mysql-cutover", "resume"])
        #expect(Estimator.downtimeSteps(["validate", "mysql-snapshot", "mysql-replicate", "mysql-cutover"]) == ["mysql-cutover"], "no workloads: to the cutover")
        #expect(Estimator.downtimeSteps(["validate", "quiesce", "clickhouse-schema", "clickhouse-sync", "clickhouse-copy/db.*", "resume"]) == ["clickhouse-copy/db.*", "resume"])
        #expect(Estimator.downtimeSteps(["validate", "files"]).isEmpty)
        let e = Estimator.estimate(steps: ["mysql-replicate", "clickhouse-sync"], sizes: [:], history: ["mysql-replicate": [.init(seconds: 86_400, bytes: nil)]])
        #expect(e.steps.allSatisfy { $0.seconds == 0 && $0.basis.contains("until the cutover") })
    }
}

extension EstimatorTests {
    @Test("the time between steps: earlier Migrations' measured downtime over their steps' sum in the window, 1…3×, applied to the downtime")
    func between() {
        var a = MigrationStatus()
        a.steps = [finished("quiesce", seconds: 4), finished("mysql/x", seconds: 4), finished("resume", seconds: 2), finished("files", seconds: 50)]
        a.downtime = Downtime(from: "2026-12-01T10:00:00Z", to: "2026-12-01T10:00:15Z", seconds: 15)
        var b = a
        b.downtime?.seconds = 100
        #expect(Estimator.downtimeFactor([a]).factor == 1.5 && Estimator.downtimeFactor([a]).runs == 1)
        #expect(Estimator.downtimeFactor([b]).factor == 3, "at most 3×")
        #expect(Estimator.downtimeFactor([MigrationStatus()]).runs == 0)
        let e = Estimator.estimate(steps: ["quiesce", "resume"], sizes: [:], history: [:], between: (1.5, 1))
        #expect(e.downtimeSeconds == 37.5 && e.downtimeBasis?.contains("× 1.50") == true)
        #expect(Estimator.estimate(steps: ["quiesce", "mysql-cutback", "resume"], sizes: [:], history: [:]).steps.map(\.name) == ["quiesce", "resume"], "the way back runs only when asked for")
    }
}

extension EstimatorTests {
    @Test("this cluster's pace is validate's run from its process's start: the pod's start before it (the image pull on a node's first pod) is left out; a start outside the step (clock skew) is not trusted")
    func paceLeavesOutThePull() {
        var v = StepStatus(name: "validate", state: .succeeded, attempts: 1, startedAt: "2026-12-01T10:00:00.000000Z", finishedAt: "2026-12-01T10:00:02.500000Z")
        #expect(Estimator.validateRun(v) == 2.5, "without the process's start, the whole step")
        v.result = ["startedAt": .string("2026-12-01T10:00:02.000000Z")]
        #expect(Estimator.validateRun(v) == 0.5)
        v.result = ["startedAt": .string("2026-12-01T10:00:03.000000Z")]
        #expect(Estimator.validateRun(v) == 2.5, "a start after the step's end")
        v.result = ["startedAt": .string("2026-12-01T09:59:00.000000Z")]
        #expect(Estimator.validateRun(v) == 2.5, "a start before the step's: at most the whole step")
        v.result = ["startedAt": .string("yesterday")]
        #expect(Estimator.validateRun(v) == 2.5)

        // The estimate: a step's fixed part (the MySQL step's, its size unknown) at this pace.
        v.result = ["startedAt": .string("2026-12-01T10:00:02.000000Z")]
        var spec = MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "1")
        spec.mysql = MySQLSpec(host: "mysql", credentialsSecret: "mysql-creds")
        let contents = PackageContents(mysql: ["crm"], clickhouse: [], kafka: false, files: [])
        let fixed = Estimator.defaults["mysql"]!.fixed
        func seconds(_ e: Estimate) -> Double? { e.steps.first { $0.name == "mysql/crm" }?.seconds }
        func expected(_ run: Double) -> Double { (fixed * Estimator.pace(validateSeconds: run) * 10).rounded() / 10 }
        #expect(seconds(Estimator.forPlan(spec, contents: contents, validate: v, others: [])) == expected(0.5))
        v.result = nil
        #expect(seconds(Estimator.forPlan(spec, contents: contents, validate: v, others: [])) == expected(2.5))
        // An earlier Migration's validate counts the same way.
        var earlier = MigrationStatus()
        var old = v
        old.result = ["startedAt": .string("2026-12-01T10:00:01.500000Z")]
        earlier.steps = [old]
        #expect(seconds(Estimator.forPlan(spec, contents: contents, validate: v, others: [earlier])) == expected(1.0), "the fastest run, pull left out")
    }
}
