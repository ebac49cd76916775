import FerryAPI
@testable import FerryPlugin
import Foundation
import KubeClient
import Testing

/// `kubectl ferry status`'s report and its next-step line, pure.
@Suite("kubectl ferry status: the report")
struct StatusReportTests {
    let now = Timestamps.parse("2026-12-01T10:01:00Z")!

    func migration(_ phase: Phase?, steps: [StepStatus] = [], message: String? = nil) -> Migration {
        var m = Migration(metadata: ObjectMeta(name: "ones", namespace: "prod"), spec: MigrationSpec(package: .init(hostPath: "/p"), appVersion: "1"))
        guard let phase else { return m }
        var s = MigrationStatus()
        s.phase = phase
        s.observedGeneration = 1
        s.steps = steps
        s.message = message
        m.status = s
        return m
    }

    @Test("the steps with what they moved and their rate; the downtime so far while it lasts; colour only when asked; the columns line up")
    func text() {
        var mysql = StepStatus(name: "mysql/crm", state: .succeeded, attempts: 1, startedAt: "2026-12-01T10:00:00Z", finishedAt: "2026-12-01T10:00:30Z")
        mysql.result = ["rows": 1_200_000, "tables": 21, "bytes": .int(137_536_387), "rowsPerSecond": 40_000]
        let running = StepStatus(name: "resume", state: .running, attempts: 1, startedAt: "2026-12-01T10:00:40Z")
        var m = migration(.running, steps: [mysql, running])
        m.status?.downtime = Downtime(from: "2026-12-01T10:00:00Z")
        let r = StatusReport.of(m, events: [.init(time: "2026-12-01T10:00:30Z", type: "Normal", reason: "StepSucceeded", note: "mysql/crm: rows 1200000")], now: now)
        #expect(r.steps[0].moved == "1200000 rows, 21 tables, 131.2 MiB" && r.steps[0].rate == "40000 rows/s" && r.steps[0].seconds == 30)
        #expect(r.steps[1].seconds == 20, "a running step's duration so far")
        #expect(r.downtimeSeconds == 60 && r.downtimeOngoing)
        let plain = r.text(color: false)
        #expect(plain.contains("Downtime: 1m00s so far") && plain.contains("Events:") && plain.contains("StepSucceeded") && !plain.contains("\u{1B}["), "\(plain)")
        let lines = plain.split(separator: "\n").filter { $0.hasPrefix("STEP") || $0.hasPrefix("mysql/crm") || $0.hasPrefix("resume") }
        #expect(Set(lines.map { $0.range(of: "STATE")?.lowerBound.utf16Offset(in: $0) ?? $0.range(of: "Succeeded")?.lowerBound.utf16Offset(in: $0) ?? $0.range(of: "Running")?.lowerBound.utf16Offset(in: $0) ?? -1 }).count == 1, "\(lines)")
        #expect(r.text(color: true).contains("\u{1B}[32mSucceeded"))
    }

    @Test("what to do next, by phase; a failed step naming a Secret gets the Secret and the rerun command, in the Migration's namespace")
    func next() {
        let failed = migration(.failed, steps: [StepStatus(name: "validate", state: .failed, attempts: 1, message: "Secret mysql-root (spec.mysql.credentialsSecret) does not exist in namespace prod; create it")])
        #expect(NextStep.hint(failed) == "fix Secret mysql-root, then: kubectl ferry rerun -n prod ones validate")
        #expect(NextStep.hint(migration(.failed, steps: [StepStatus(name: "mysql/crm", state: .failed, attempts: 3, message: "Lost connection")])) == "fix the cause above, then: kubectl ferry rerun -n prod ones mysql/crm")
        #expect(NextStep.hint(migration(.paused)).contains("kubectl ferry resume -n prod ones"))
        #expect(NextStep.hint(migration(.cancelled)).contains("kubectl ferry cancel -n prod ones --undo"))
        #expect(NextStep.hint(migration(.replicating)).contains("kubectl ferry cutover -n prod ones"))
        #expect(NextStep.hint(migration(.planned)).contains("dryRun"))
        #expect(NextStep.hint(migration(nil)).contains("is it running?"), "no status: the controller has not seen it")
        #expect(NextStep.hint(migration(.succeeded)).hasPrefix("nothing"))
    }
}
