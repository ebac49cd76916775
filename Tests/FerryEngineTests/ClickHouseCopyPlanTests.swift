import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import Testing

/// `spec.clickhouse.copy` in the plan: the schema first, the online sync in incremental mode
/// (phase Syncing, ended by ferry.dev/cutover=now once in step), then one copy step per entry.
@Suite("ClickHouse copy in the plan", .timeLimit(.minutes(1)))
struct ClickHouseCopyPlanTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func spec(incremental: Bool, mysqlReplicate: Bool = false) -> MigrationSpec {
        var s = MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "6.4.1")
        s.workloads = WorkloadsSpec(selector: LabelSelectorSpec(matchLabels: ["app": "ones"]))
        s.clickhouse = ClickHouseSpec(url: "http://ch:8123", copy: .init(source: .init(shards: [["old:9000"]], credentialsSecret: "src"), tables: ["audit.*", "db.t"],
                                                                    incremental: incremental ? .init(lastPartitions: 2, every: "30s") : nil))
        if mysqlReplicate {
            s.mysql = MySQLSpec(host: "new", credentialsSecret: "root", mode: "replicate", source: .init(host: "old", credentialsSecret: "repl", databases: ["app"]))
        }
        return s.withDefaults(namespace: "ones")
    }

    @Test("the steps: schema, then (incremental) the sync, then one copy per entry; with MySQL replicating, the ClickHouse sync comes before mysql-replicate, so one cutover=now ends both")
    func steps() {
        #expect(Planner.stepNames(for: spec(incremental: false)) == ["validate", "quiesce", "clickhouse-schema", "clickhouse-copy/audit.*", "clickhouse-copy/db.t", "resume"])
        #expect(Planner.stepNames(for: spec(incremental: true)) == ["validate", "quiesce", "clickhouse-schema", "clickhouse-sync", "clickhouse-copy/audit.*", "clickhouse-copy/db.t", "resume"])
        #expect(Planner.stepNames(for: spec(incremental: true, mysqlReplicate: true))
                == ["validate", "quiesce", "mysql-snapshot", "clickhouse-schema", "clickhouse-sync", "mysql-replicate", "mysql-cutover", "clickhouse-copy/audit.*", "clickhouse-copy/db.t", "resume"])
        #expect(StepKind("clickhouse-sync").changesData && !StepKind("clickhouse-schema").changesData && StepKind("clickhouse-copy/a.*").changesData)
        #expect(StepKind("clickhouse-schema").runsAsJob && !StepKind("clickhouse-sync").runsAsJob)
    }

    @Test("the sync gate: waits for the first full copy, and for the cutover to be asked for; a failed round holds it back; in step and asked for, it ends")
    func gate() {
        #expect(ClickHouseSyncGate.decide(lastLine: nil, requested: "now") == .wait("waiting for the online copy to report"))
        guard case .wait(let copying) = ClickHouseSyncGate.decide(lastLine: "audit.events: partition 202503 copied; 5/12 done, 100 rows/s, ETA 7 s, 2 at once", requested: "ferry.dev/cutover=now") else {
            Issue.record("a copy still running let the cutover through"); return
        }
        #expect(copying.contains("waits until every partition is copied"))
        guard case .wait(let behind) = ClickHouseSyncGate.decide(lastLine: "behind: round 4 at 2027-01-01T00:00:00Z failed: timeout; trying again in 30 s", requested: "ferry.dev/cutover=now") else {
            Issue.record("a failed round let the cutover through"); return
        }
        #expect(behind.hasPrefix("behind: round 4"))
        guard case .wait(let idle) = ClickHouseSyncGate.decide(lastLine: "in step: round 3 at 2027-01-01T00:00:00Z: all equal", requested: nil) else { Issue.record("ended unasked"); return }
        #expect(idle.contains("annotate ferry.dev/cutover=now"))
        #expect(ClickHouseSyncGate.decide(lastLine: "in step: round 3 at 2027-01-01T00:00:00Z: all equal", requested: "ferry.dev/cutover=now")
                == .cutover("round 3 at 2027-01-01T00:00:00Z: all equal; ferry.dev/cutover=now: the final copy runs now"))
    }

    @Test("phase Syncing while the sync runs; the downtime counted from the moment it ended (the cutover) to resume; the Progress column carries the copy's progress")
    func phaseDowntimeProgress() {
        let spec = spec(incremental: true)
        var status = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil).0
        func run(_ name: String, _ outcome: StepOutcome, at t: Double) {
            let now = t0.addingTimeInterval(t)
            guard let current = Engine.current(status, spec: spec), current.name == name else { Issue.record("\(name) is not current: \(Engine.current(status, spec: spec)?.name ?? "-")"); return }
            if current.state == .pending { status = Engine.start(name, in: status, now: now).0 }
            status = Engine.record(outcome, for: name, in: status, spec: spec, policy: RetryPolicy(), now: now).0
            status = Engine.summarize(status, spec: spec, generation: 1, now: now)
        }
        run("validate", .succeeded(result: nil, message: nil), at: 0)
        run("quiesce", .succeeded(result: ["namespace": "ones", "workloads": []], message: nil), at: 1)
        run("clickhouse-schema", .succeeded(result: nil, message: nil), at: 2)
        run("clickhouse-sync", .running("audit.events: partition 202503 copied; 5/12 partitions, 81234 rows/s, ETA 40 s, 2 at once"), at: 3)
        #expect(status.phase == .syncing)
        #expect(status.progress == "3/7 steps, events 5/12 partitions, 81234 rows/s, ETA 40 s", "\(status.progress ?? "")")
        run("clickhouse-sync", .running("in step: round 7 at 2027-01-01T00:00:00Z: all equal"), at: 50)
        #expect(status.progress == "3/7 steps, in step (round 7)")
        #expect(status.downtime == nil, "no downtime while the old application writes")
        run("clickhouse-sync", .succeeded(result: nil, message: "cutover"), at: 100)
        #expect(status.phase == .running)
        run("clickhouse-copy/audit.*", .succeeded(result: nil, message: nil), at: 110)
        run("clickhouse-copy/db.t", .succeeded(result: nil, message: nil), at: 120)
        run("resume", .succeeded(result: nil, message: nil), at: 130)
        #expect(status.phase == .succeeded)
        #expect(status.downtime?.seconds == 30, "from the sync's end (the cutover) to resume: \(String(describing: status.downtime))")
    }

    @Test("the copy's progress line in short; other lines give nothing")
    func progressLines() {
        #expect(Planner.copyProgress("db.t: partition 202503 piece 2/4 copied; 15/48 partitions, 12 rows/s, ETA 3 s, 4 at once") == "t 15/48 partitions, 12 rows/s, ETA 3 s")
        #expect(Planner.copyProgress("db.t: partition 1 copied; 1/1 partitions, 0 rows/s, 2 at once") == "t 1/1 partitions, 0 rows/s")
        #expect(Planner.copyProgress("db.t: partition 1 copied; weird") == nil)
        // Cut at 200 characters by the controller: partial parts left out, never shown half.
        #expect(Planner.copyProgress("db.t: partition 1 copied; 3/12 partitions, 81234 row") == "t 3/12 partitions")
        #expect(Planner.copyProgress("db.t: partition 1 copied; 3/12 partitions, 81234 rows/s, ETA 12") == "t 3/12 partitions, 81234 rows/s")
        // A partition's value that looks like the counts cannot stand in for them; a table name with a dot stays whole.
        #expect(Planner.copyProgress("db.t: partition x copied; 99/99 partitions, 1 rows/s copied; 1/2 partitions, 5 rows/s, 1 at once") == "t 1/2 partitions, 5 rows/s")
        #expect(Planner.copyProgress("db.my.t: partition 1 copied; 1/2 partitions, 5 rows/s, ETA 0 s, 1 at once") == "my.t 1/2 partitions, 5 rows/s, ETA 0 s")
        #expect(Planner.copyProgress("behind: round 12 at x failed") == "behind (round 12)")
        #expect(Planner.copyProgress("db.t: 12 partitions, 0 already on the target, copying 12") == nil)
    }
}
