import FerryAPI
@testable import FerryEngine
import Foundation
import KubeClient
import Testing

/// `ferry.dev/cancel=true`, the pure part: what is stopped, when the workloads come back, what
/// the status says, and that continuing stops the workloads again first.
@Suite("cancel")
struct CancelTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func status(_ states: [(String, StepStatus.State)], attempts: Int = 1) -> MigrationStatus {
        var s = MigrationStatus()
        s.steps = states.map { name, state in
            var step = StepStatus(name: name, state: state)
            step.attempts = state == .pending ? 0 : attempts
            return step
        }
        return s
    }

    func spec() -> MigrationSpec {
        var spec = MigrationSpec(package: .init(hostPath: "/p"), appVersion: "1")
        spec.workloads = .init(selector: .init(matchLabels: ["app": "web"]))
        return spec
    }

    @Test("the annotation: only true cancels")
    func requested() {
        #expect(Cancel.requested([FerryNames.cancelAnnotation: "true"]) && Cancel.requested([FerryNames.cancelAnnotation: " TRUE "]))
        #expect(!Cancel.requested([FerryNames.cancelAnnotation: "false"]) && !Cancel.requested([FerryNames.cancelAnnotation: "yes"]) && !Cancel.requested(nil))
    }

    @Test("a data step stopped mid-run: marked stopping first, then Pending, counted as having changed data, its message says so; quiesce and resume marked before the workloads come back, brought back once; continuing stops them again before the import")
    func duringImport() {
        var s = status([("validate", .succeeded), ("quiesce", .succeeded), ("mysql/crm", .running), ("resume", .pending)])
        #expect(Cancel.waitsFor(s) == nil && Cancel.applies(s, spec: spec()))
        s = Cancel.markStopping(s, now: t0)
        #expect(Cancel.stopping(s)?.name == "mysql/crm" && s.steps?.first { $0.name == "mysql/crm" }?.state == .running, "still Running until its Jobs and pods are gone")
        s = Cancel.stopped(s, now: t0)
        let crm = s.steps?.first { $0.name == "mysql/crm" }
        #expect(crm?.state == .pending && crm?.dataChanged == true && crm?.message?.contains("partly restored") == true, "\(String(describing: crm))")
        #expect(Cancel.stopping(s) == nil && Cancel.needsResume(s, spec: spec()))
        s = Cancel.bringingBack(s, now: t0)
        #expect(s.steps?.first { $0.name == "quiesce" }?.state == .pending, "marked before the scale-up: a cancel removed now stops the workloads again first")
        #expect(Cancel.needsResume(s, spec: spec()), "until they are Ready")
        #expect(Cancel.bringingBack(s, now: t0.addingTimeInterval(5)) == s, "marked once")
        s = Cancel.workloadsBack(s, now: t0.addingTimeInterval(3))
        #expect(!Cancel.needsResume(s, spec: spec()), "brought back once, not on every pass")
        #expect(Engine.current(s, spec: spec())?.name == "quiesce")
        let out = Cancel.summarize(s, previous: nil, workloads: "the workloads are back", generation: 1, now: t0.addingTimeInterval(4))
        #expect(out.phase == .cancelled)
        #expect(out.message?.contains("mysql/crm was stopped") == true && out.message?.contains("data: ") == true && out.message?.contains("remove the annotation") == true, "\(out.message ?? "")")
        #expect(out.conditions?.condition(FerryNames.ConditionType.progressing)?.reason == "Cancelled")
        #expect(out.downtime?.seconds == nil || out.downtime?.to != nil, "the downtime does not grow once they are back")
        let again = Cancel.summarize(out, previous: out.conditions, workloads: "the workloads are back", generation: 1, now: t0.addingTimeInterval(60))
        #expect(again.conditions == out.conditions, "a cancelled Migration's status stays still")
    }

    @Test("cancel during quiesce: quiesce stopped halfway still brings back what it stopped, and the message says quiesce was stopped; a step that changes nothing is not marked as having changed data")
    func duringQuiesce() {
        var s = status([("validate", .succeeded), ("quiesce", .running), ("mysql/crm", .pending), ("resume", .pending)])
        s = Cancel.stopped(Cancel.markStopping(s, now: t0), now: t0)
        #expect(s.steps?.first { $0.name == "quiesce" }?.dataChanged == nil)
        #expect(Cancel.needsResume(s, spec: spec()), "quiesce may have stopped some workloads already")
        s = Cancel.workloadsBack(Cancel.bringingBack(s, now: t0), now: t0)
        #expect(!Engine.dataChanged(s))
        let out = Cancel.summarize(s, previous: nil, workloads: "the workloads are back", generation: 1, now: t0)
        #expect(out.message?.contains("quiesce was stopped") == true, "\(out.message ?? "")")
        #expect(Engine.current(s, spec: spec())?.name == "quiesce")
    }

    @Test("cancel during resume with every data step done: the workloads brought back is resume's work, Succeeded; continuing does not stop the app again")
    func duringResume() {
        var s = status([("validate", .succeeded), ("quiesce", .succeeded), ("mysql/crm", .succeeded), ("resume", .running), ("cache", .pending)])
        s = Cancel.stopped(Cancel.markStopping(s, now: t0), now: t0)
        s = Cancel.workloadsBack(Cancel.bringingBack(s, now: t0), now: t0)
        #expect(s.steps?.first { $0.name == "quiesce" }?.state == .succeeded && s.steps?.first { $0.name == "resume" }?.state == .succeeded)
        #expect(Engine.current(s, spec: spec())?.name == "cache")
    }

    @Test("spec.workloads.leaveStoppedOnFailure keeps them down on a cancel too")
    func leaveStopped() {
        var sp = spec()
        sp.workloads?.leaveStoppedOnFailure = true
        #expect(!Cancel.needsResume(status([("quiesce", .succeeded), ("mysql/crm", .failed), ("resume", .pending)]), spec: sp))
    }

    @Test("before quiesce, or after resume, nothing is to be brought back; a finished Migration has nothing to cancel")
    func nothingToBringBack() {
        #expect(!Cancel.needsResume(status([("validate", .running), ("quiesce", .pending), ("resume", .pending)]), spec: spec()))
        #expect(!Cancel.needsResume(status([("quiesce", .succeeded), ("resume", .succeeded), ("files", .running)]), spec: spec()))
        #expect(!Cancel.applies(status([("validate", .succeeded), ("quiesce", .succeeded), ("resume", .succeeded)]), spec: spec()))
    }

    @Test("a cutover is not stopped halfway: the cancel waits for it while it runs, while it waits to be tried again, and once the old application was stopped for it")
    func waitsForCutover() {
        for name in ["mysql-cutover", "mysql-cutback", "mysql-stop-source"] {
            #expect(Cancel.waitsFor(status([("quiesce", .succeeded), (name, .running)]))?.name == name)
        }
        var retrying = status([("mysql-replicate", .succeeded), ("mysql-cutover", .pending)])
        retrying.steps?[1].attempts = 1
        #expect(Cancel.waitsFor(retrying)?.name == "mysql-cutover")
        #expect(Cancel.waitsFor(status([("mysql-stop-source", .succeeded), ("mysql-cutover", .pending)]))?.name == "mysql-cutover")
        #expect(Cancel.waitsFor(status([("mysql-replicate", .running), ("mysql-cutover", .pending)])) == nil)
    }
}
