import FerryAPI
import FerryEngine
import FerryProtocol
import Foundation
import KubeClient
import Testing

@Suite("Replication gate (mode replicate)")
struct ReplicationGateTests {
    let t0 = Timestamps.parse("2026-11-30T10:00:00Z")!

    func state(lag: Int?, error: String? = nil) -> ReplicationState {
        ReplicationGate.state(ReplicationStatus(sourcePosition: "0-1-100", appliedPosition: "0-1-90", transactionsBehind: 10, secondsBehind: lag,
                                                ioRunning: true, sqlRunning: error == nil, lastError: error), previous: nil, now: t0)
    }

    @Test("no cutover until it is asked for, replication is healthy and the lag is within maxLagSeconds; each wait says why")
    func decide() {
        guard case .wait(let first) = ReplicationGate.decide(nil, requested: "now", maxLag: 5) else { Issue.record("cut over blind"); return }
        #expect(first.contains("first look"))
        guard case .wait(let unasked) = ReplicationGate.decide(state(lag: 0), requested: nil, maxLag: 5) else { Issue.record("cut over unasked"); return }
        #expect(unasked.contains("ferry.dev/cutover=now"))
        guard case .wait(let behind) = ReplicationGate.decide(state(lag: 12), requested: "ferry.dev/cutover=now", maxLag: 5) else { Issue.record("cut over 12 s behind"); return }
        #expect(behind.contains("under 5 s"))
        guard case .wait(let unknown) = ReplicationGate.decide(state(lag: nil), requested: "x", maxLag: 5) else { Issue.record("cut over with an unknown lag"); return }
        #expect(unknown.contains("lag ?"))
        guard case .wait(let broken) = ReplicationGate.decide(state(lag: 0, error: "Duplicate entry '5' for key 'PRIMARY' on table shop.t"), requested: "x", maxLag: 5) else {
            Issue.record("cut over a broken replica"); return
        }
        #expect(broken.contains("shop.t") && broken.contains("mysql-snapshot"))
        #expect(ReplicationGate.decide(state(lag: 5), requested: "x", maxLag: 5) == .cutover("lag 5s ≤ 5 s and x: cutting over"))
    }

    @Test("with verify: no cutover until every table compared equal; a differing table is named with its range and the way out; held threads are not 'broken'")
    func verification() {
        func verified(_ v: ReplicationVerification?) -> ReplicationState {
            ReplicationGate.state(ReplicationStatus(sourcePosition: "0-1-100", appliedPosition: "0-1-100", transactionsBehind: 0, secondsBehind: 0, ioRunning: true, sqlRunning: true,
                                                    verification: v), previous: nil, now: t0)
        }
        guard case .wait(let none) = ReplicationGate.decide(verified(nil), requested: "x", maxLag: 5, verify: true) else { Issue.record("cut over unverified"); return }
        #expect(none.contains("compared"))
        let going = ReplicationVerification(state: .verifying, tables: 12, checked: 3, current: "shop.orders")
        guard case .wait(let busy) = ReplicationGate.decide(verified(going), requested: "x", maxLag: 5, verify: true) else { Issue.record("cut over mid-verification"); return }
        #expect(busy.contains("3/12") && busy.contains("shop.orders") && busy.contains("cutover asked for"))
        #expect(verified(going).summary == "lag 0s, verifying 3/12")
        let differs = ReplicationVerification(state: .mismatch, tables: 12, checked: 12, mismatches: [TableMismatch(table: "shop.orders", range: "key [1000, 2000)", detail: "source 1000 rows, target 999 rows", position: "0-1-90")])
        guard case .wait(let bad) = ReplicationGate.decide(verified(differs), requested: "x", maxLag: 5, verify: true) else { Issue.record("cut over a mismatch"); return }
        #expect(bad.contains("shop.orders key [1000, 2000): source 1000 rows, target 999 rows") && bad.contains("mysql-snapshot") && bad.contains("spec.mysql.verify"))
        #expect(verified(differs).summary == "lag 0s, 1 table differs")
        let done = ReplicationVerification(state: .verified, tables: 12, checked: 12, unverified: ["shop.log: engine MyISAM is not transactional"])
        #expect(ReplicationGate.decide(verified(done), requested: "x", maxLag: 5, verify: true) == .cutover("lag 0s ≤ 5 s, verified (1 not comparable) and x: cutting over"))
        #expect(ReplicationGate.decide(verified(differs), requested: "x", maxLag: 5, verify: false) != .wait(""), "verify off: a mismatch does not hold the cutover")
        guard case .cutover = ReplicationGate.decide(verified(differs), requested: "x", maxLag: 5, verify: false) else { Issue.record("verify off still waits"); return }
        let held = ReplicationGate.state(ReplicationStatus(sourcePosition: "0-1-100", appliedPosition: "0-1-99", transactionsBehind: 1, ioRunning: false, sqlRunning: false, pausedToVerify: true,
                                                           verification: going), previous: nil, now: t0)
        #expect(held.lastError == nil && held.summary == "lag ?, verifying 3/12")
    }

    @Test("asked for by the annotation (any case, spaces) or inside the window, overnight windows and time zones included")
    func requested() {
        #expect(ReplicationGate.requested(annotation: " NOW ", window: nil, now: t0) != nil)
        #expect(ReplicationGate.requested(annotation: "later", window: nil, now: t0) == nil)
        let night = DailyWindowSpec(start: "22:00", end: "02:00", timeZone: "UTC")
        #expect(ReplicationGate.requested(annotation: nil, window: night, now: Timestamps.parse("2026-11-30T23:30:00Z")!) != nil)
        #expect(ReplicationGate.requested(annotation: nil, window: night, now: Timestamps.parse("2026-11-30T01:59:00Z")!) != nil)
        #expect(ReplicationGate.requested(annotation: nil, window: night, now: Timestamps.parse("2026-11-30T02:00:00Z")!) == nil)
        // 02:00–04:00 in Berlin is 01:00–03:00 UTC in winter.
        let berlin = DailyWindowSpec(start: "02:00", end: "04:00", timeZone: "Europe/Berlin")
        #expect(ReplicationGate.requested(annotation: nil, window: berlin, now: Timestamps.parse("2026-11-30T01:30:00Z")!) != nil)
        #expect(ReplicationGate.requested(annotation: nil, window: berlin, now: Timestamps.parse("2026-11-30T03:30:00Z")!) == nil)
    }

    @Test("status.mysql: lag, transactions behind, the apply rate between two looks, 'broken' when a thread stopped")
    func status() {
        let first = ReplicationGate.state(ReplicationStatus(sourcePosition: "0-1-100", appliedPosition: "0-1-40", transactionsBehind: 60, secondsBehind: 3, ioRunning: true, sqlRunning: true),
                                          previous: nil, now: t0)
        #expect(first.summary == "lag 3s" && first.transactionsBehind == 60 && first.applyRate == nil)
        let second = ReplicationGate.state(ReplicationStatus(sourcePosition: "0-1-100", appliedPosition: "0-1-90", transactionsBehind: 10, secondsBehind: 1, ioRunning: true, sqlRunning: true),
                                           previous: first, now: t0.addingTimeInterval(10))
        #expect(second.applyRate == 5)
        let stopped = ReplicationGate.state(ReplicationStatus(sourcePosition: "0-1-100", appliedPosition: "0-1-90", transactionsBehind: 10, ioRunning: false, sqlRunning: true),
                                            previous: second, now: t0.addingTimeInterval(20))
        #expect(stopped.summary == "broken" && stopped.lastError?.contains("IO stopped") == true)
    }

    @Test("downtime runs from the source going read-only to the workloads Ready; restore mode from quiesce; unset while it lasts")
    func downtime() throws {
        var status = MigrationStatus()
        let cut = MySQLCutoverResult(sourcePosition: "0-1-5", readOnlyAt: "2026-11-30T10:00:00.250000Z", promotedAt: "2026-11-30T10:00:01.000000Z", waitedSeconds: 0.2)
        status.steps = [StepStatus(name: "quiesce", state: .succeeded, attempts: 1, startedAt: "2026-11-30T09:00:00Z", finishedAt: "2026-11-30T09:00:01Z"),
                        StepStatus(name: "mysql-cutover", state: .succeeded, attempts: 1, result: try JSONValue(encoding: cut)),
                        StepStatus(name: "resume", state: .running, attempts: 1)]
        #expect(Engine.downtime(status) == Downtime(from: "2026-11-30T10:00:00.250000Z"), "not from quiesce: the old app was still writing")
        status.steps?[2] = StepStatus(name: "resume", state: .succeeded, attempts: 1, finishedAt: "2026-11-30T10:00:03Z")
        #expect(Engine.downtime(status)?.seconds == 2.8)
        status.steps?.remove(at: 1)
        #expect(Engine.downtime(status)?.from == "2026-11-30T09:00:00Z" && Engine.downtime(status)?.seconds == 3603)
        status.steps = [StepStatus(name: "mysql-cutover", state: .failed, attempts: 1)]
        #expect(Engine.downtime(status) == nil, "a cutover that gave up stopped no writes")

        // Killed mid-way and run again: from when the cutover was first under way, kept across attempts.
        status.steps = [StepStatus(name: "mysql-cutover", state: .running, attempts: 1, startedAt: "2026-11-30T10:00:00Z")]
        status.downtime = Engine.downtime(status)
        #expect(status.downtime == Downtime(from: "2026-11-30T10:00:00Z"))
        status.steps = [StepStatus(name: "mysql-cutover", state: .running, attempts: 2, startedAt: "2026-11-30T10:00:09Z")]
        status.downtime = Engine.downtime(status)
        #expect(status.downtime?.from == "2026-11-30T10:00:00Z")
        let resumed = MySQLCutoverResult(sourcePosition: "0-1-5", readOnlyAt: "2026-11-30T10:00:10.000000Z", promotedAt: "2026-11-30T10:00:10.500000Z", waitedSeconds: 0, resumed: true)
        status.steps = [StepStatus(name: "mysql-cutover", state: .succeeded, attempts: 2, startedAt: "2026-11-30T10:00:09Z", result: try JSONValue(encoding: resumed))]
        #expect(Engine.downtime(status) == Downtime(from: "2026-11-30T10:00:00Z", to: "2026-11-30T10:00:10.500000Z", seconds: 10.5))
    }
}
