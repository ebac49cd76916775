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

    @Test("a data step stopped mid-run: Pending again, counted as having changed data, its message says so; the workloads come back once, then quiesce and resume wait for the Migration to continue")
    func duringImport() {
        var s = status([("validate", .succeeded), ("quiesce", .succeeded), ("mysql/crm", .running), ("resume", .pending)])
        #expect(Cancel.waitsFor(s) == nil && Cancel.applies(s, spec: spec()))
        s = Cancel.stopped(s, now: t0)
        let crm = s.steps?.first { $0.name == "mysql/crm" }
        #expect(crm?.state == .pending && crm?.dataChanged == true && crm?.message?.contains("partly restored") == true, "\(String(describing: crm))")
        #expect(Cancel.needsResume(s, spec: spec()))
        s = Cancel.workloadsBack(s, now: t0)
        #expect(!Cancel.needsResume(s, spec: spec()), "brought back once, not on every pass")
        #expect(s.steps?.first { $0.name == "quiesce" }?.state == .pending, "continuing stops the workloads again before the import")
        #expect(Engine.current(s, spec: spec())?.name == "quiesce")
        let out = Cancel.summarize(s, workloads: "the workloads are back", generation: 1, now: t0)
        #expect(out.phase == .cancelled)
        #expect(out.message?.contains("mysql/crm was stopped") == true && out.message?.contains("data: ") == true && out.message?.contains("remove the annotation") == true, "\(out.message ?? "")")
        #expect(out.conditions?.condition(FerryNames.ConditionType.progressing)?.reason == "Cancelled")
    }

    @Test("cancel during quiesce: quiesce stopped halfway still brings back what it stopped; a step that changes nothing is not marked as having changed data")
    func duringQuiesce() {
        var s = status([("validate", .succeeded), ("quiesce", .running), ("mysql/crm", .pending), ("resume", .pending)])
        s = Cancel.stopped(s, now: t0)
        #expect(s.steps?.first { $0.name == "quiesce" }?.dataChanged == nil)
        #expect(Cancel.needsResume(s, spec: spec()), "quiesce may have stopped some workloads already")
        #expect(!Engine.dataChanged(s))
    }

    @Test("before quiesce, or after resume, nothing is to be brought back; a finished Migration has nothing to cancel")
    func nothingToBringBack() {
        #expect(!Cancel.needsResume(status([("validate", .running), ("quiesce", .pending), ("resume", .pending)]), spec: spec()))
        #expect(!Cancel.needsResume(status([("quiesce", .succeeded), ("resume", .succeeded), ("files", .running)]), spec: spec()))
        #expect(!Cancel.applies(status([("validate", .succeeded), ("quiesce", .succeeded), ("resume", .succeeded)]), spec: spec()))
    }

    @Test("a cutover is not stopped halfway: the cancel waits for it")
    func waitsForCutover() {
        for name in ["mysql-cutover", "mysql-cutback", "mysql-stop-source"] {
            #expect(Cancel.waitsFor(status([("quiesce", .succeeded), (name, .running)]))?.name == name)
        }
        #expect(Cancel.waitsFor(status([("mysql-replicate", .running)])) == nil)
    }
}
