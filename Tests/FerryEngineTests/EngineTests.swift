import FerryAPI
import FerryEngine
import Foundation
import KubeClient
import Testing

/// The step engine's decisions, one transition at a time, without I/O.
@Suite("Step engine", .timeLimit(.minutes(1)))
struct EngineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let policy = RetryPolicy(maxAttempts: 3, baseDelay: 10, maxDelay: 300)

    func spec(optionalClickHouse: Bool = false, leaveStopped: Bool = false) -> MigrationSpec {
        var s = MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "6.4.1")
        s.workloads = WorkloadsSpec(selector: LabelSelectorSpec(matchLabels: ["app": "ones"]), leaveStoppedOnFailure: leaveStopped)
        s.mysql = MySQLSpec(host: "mysql", credentialsSecret: "mysql-creds")
        s.clickhouse = ClickHouseSpec(url: "http://ch:8123", optional: optionalClickHouse)
        s.redis = RedisSpec(host: "redis")
        s.rebuilds = [RebuildSpec(name: "search", configMap: .init(name: "app-config", key: "kilobSyncSchemaHash"))]
        return s.withDefaults(namespace: "ones")
    }

    let validated: JSONValue = ["package": ["mysql": ["project", "wiki"], "clickhouse": ["audit.events"]], "packageVersion": "6.4.1"]

    /// Runs the current step to `outcome`; returns the new status.
    func step(_ status: MigrationStatus, _ spec: MigrationSpec, _ outcome: StepOutcome, at time: Date? = nil) -> MigrationStatus {
        let now = time ?? t0
        guard let current = Engine.current(status, spec: spec) else { Issue.record("no current step"); return status }
        var s = current.state == .pending ? Engine.start(current.name, in: status, now: now).0 : status
        s = Engine.record(outcome, for: current.name, in: s, spec: spec, policy: policy, now: now).0
        s.steps = Planner.plan(spec: spec, existing: s.steps ?? [])
        return s
    }

    func names(_ s: MigrationStatus) -> [String] { (s.steps ?? []).map(\.name) }
    func state(_ s: MigrationStatus, _ name: String) -> StepStatus.State? { s.steps?.first { $0.name == name }?.state }

    @Test("what quiesce saved reads back for resume; a saved entry that does not read is skipped, never the whole list")
    func quiesceResult() throws {
        let saved: JSONValue = ["namespace": "ones", "workloads": [["kind": "Deployment", "name": "web", "replicas": 3], ["kind": "Deployment", "name": "bad"], ["kind": "StatefulSet", "name": "db", "replicas": 1]]]
        let read = try #require(StepResults.quiesce(saved))
        #expect(read.namespace == "ones")
        #expect(read.workloads == [.init(kind: "Deployment", name: "web", replicas: 3), .init(kind: "StatefulSet", name: "db", replicas: 1)])
        #expect(StepResults.summary(of: "quiesce", result: saved) == "workloads 2 in ones")
        #expect(StepResults.summary(of: "mysql/crm", result: ["unexpected": true]) == "done", "a result of another shape is not misread")
    }

    @Test("validate's result expands the mysql and clickhouse placeholders into one step per database and table, in order")
    func expansion() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        #expect(names(s) == ["validate", "quiesce", "mysql", "clickhouse", "resume", "cache", "rebuild/search"])
        s = step(s, spec, .succeeded(result: validated, message: nil))
        #expect(names(s) == ["validate", "quiesce", "mysql/project", "mysql/wiki", "clickhouse/audit.events", "resume", "cache", "rebuild/search"])
        #expect(Engine.current(s, spec: spec)?.name == "quiesce")
        #expect(Planner.progress(s.steps ?? [], spec: spec) == "1/8 steps")
    }

    @Test("the checkpoint: succeeded steps are never current again; a restart (prepare on the same status) changes nothing")
    func checkpoint() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .succeeded(result: validated, message: nil))
        s = step(s, spec, .succeeded(result: nil, message: nil))  // quiesce
        s = Engine.start("mysql/project", in: s, now: t0).0          // running when the controller dies
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        let (again, events) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: nil)
        #expect(again == s)
        #expect(events.isEmpty)
        #expect(Engine.current(again, spec: spec)?.name == "mysql/project")
        #expect(Engine.current(again, spec: spec)?.state == .running)
        #expect(again.steps?.first { $0.name == "mysql/project" }?.attempts == 1, "continuing a running step is not a new attempt")
    }

    @Test("a failure retries with doubling backoff up to the limit, then Failed with the attempt count; the workloads must come back")
    func retriesThenFails() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .succeeded(result: validated, message: nil))
        s = step(s, spec, .succeeded(result: nil, message: nil))
        s = step(s, spec, .failed("server gone", permanent: false), at: t0)
        var p = s.steps!.first { $0.name == "mysql/project" }!
        #expect(p.state == .pending)
        #expect(p.message?.contains("attempt 1 of 3 failed: server gone; retrying in 10 s") == true)
        #expect(Engine.waitBeforeStart(p, now: t0) == 10)
        #expect(Engine.waitBeforeStart(p, now: t0.addingTimeInterval(11)) == 0)
        s = step(s, spec, .failed("server gone", permanent: false), at: t0.addingTimeInterval(11))
        p = s.steps!.first { $0.name == "mysql/project" }!
        #expect(p.message?.contains("retrying in 20 s") == true)
        #expect(Engine.needsGuaranteedResume(s, spec: spec, deleting: false) == false, "still retrying")
        s = step(s, spec, .failed("server gone", permanent: false), at: t0.addingTimeInterval(40))
        p = s.steps!.first { $0.name == "mysql/project" }!
        #expect(p.state == .failed)
        #expect(p.attempts == 3)
        #expect(p.failures == 3)
        #expect(p.message == "server gone (failed after 3 attempts)")
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        #expect(s.phase == .failed)
        #expect(s.message?.contains("mysql/project failed: server gone (failed after 3 attempts)") == true)
        #expect(Engine.current(s, spec: spec) == nil, "nothing runs after a required failure")
        #expect(!Engine.needsGuaranteedResume(s, spec: spec, deleting: false), "the database was dropped: the app stays stopped")
        #expect(s.message?.contains("The workloads stay stopped") == true && s.message?.contains("mysql/project: dropped or partly restored") == true && s.message?.contains("mysql/wiki: untouched") == true, "\(s.message ?? "")")
        var accept = spec
        accept.workloads?.resumeOnFailure = true
        #expect(Engine.needsGuaranteedResume(s, spec: accept, deleting: false), "resumeOnFailure accepts the data as it is")
        #expect(Engine.needsGuaranteedResume(s, spec: spec, deleting: true), "deleting the Migration brings them back")
        #expect(!Engine.needsGuaranteedResume(s, spec: self.spec(leaveStopped: true), deleting: false), "leaveStoppedOnFailure keeps them at 0")
    }

    @Test("a failure before anything changed resumes the app; after a change it does not; messages never claim 'nothing was changed' after a change")
    func changedData() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .succeeded(result: validated, message: nil))
        s = step(s, spec, .succeeded(result: nil, message: nil))
        for _ in 0..<3 { s = step(s, spec, .failed("access denied. Nothing was changed", permanent: false, untouched: true), at: t0.addingTimeInterval(1000)) }
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        #expect(s.phase == .failed)
        #expect(Engine.needsGuaranteedResume(s, spec: spec, deleting: false), "no data changed: the app comes back")

        // First run drops and fails mid-import; the next ones fail in their checks.
        (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .succeeded(result: validated, message: nil))
        s = step(s, spec, .succeeded(result: nil, message: nil))
        s = step(s, spec, .failed("importing failed: server gone away", permanent: false), at: t0)
        s = step(s, spec, .failed("cannot reach MySQL before restoring project: refused. Nothing was changed", permanent: false, untouched: true), at: t0.addingTimeInterval(100))
        s = step(s, spec, .failed("cannot reach MySQL before restoring project: refused. Nothing was changed", permanent: false, untouched: true), at: t0.addingTimeInterval(200))
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        let p = s.steps!.first { $0.name == "mysql/project" }!
        #expect(p.dataChanged == true)
        #expect(p.message?.lowercased().contains("nothing was changed") == false, "\(p.message ?? "")")
        #expect(p.message?.contains("an earlier run had already dropped or overwritten") == true, "\(p.message ?? "")")
        #expect(s.message?.lowercased().contains("nothing was changed") == false)
        #expect(!Engine.needsGuaranteedResume(s, spec: spec, deleting: false))
    }

    @Test("a data step that dropped its database cannot be skipped or removed into Succeeded; removing spec.workloads after quiesce still resumes them")
    func noSuccessOverDroppedData() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .succeeded(result: validated, message: nil))
        s = step(s, spec, .succeeded(result: nil, message: nil))
        for i in 0..<3 { s = step(s, spec, .failed("server gone mid-import", permanent: false), at: t0.addingTimeInterval(Double(i) * 1000)) }
        #expect(s.steps?.first { $0.name == "mysql/project" }?.state == .failed)

        // Skipped by the spec: it stays Failed, and the migration with it.
        var skipping = spec
        skipping.steps = StepsSpec(skip: ["mysql/project"])
        var (t, _) = Engine.prepare(spec: skipping, status: s, generation: 2, rerun: nil)
        t = Engine.summarize(t, spec: skipping, generation: 2, now: t0)
        #expect(t.steps?.first { $0.name == "mysql/project" }?.state == .failed)
        #expect(t.steps?.first { $0.name == "mysql/project" }?.message?.contains("cannot be skipped") == true)
        #expect(t.phase == .failed)
        #expect(!Engine.needsGuaranteedResume(t, spec: skipping, deleting: false))

        // The whole MySQL section removed: the step stays, Failed.
        var removed = spec
        removed.mysql = nil
        var (u, _) = Engine.prepare(spec: removed, status: s, generation: 3, rerun: nil)
        u = Engine.summarize(u, spec: removed, generation: 3, now: t0)
        #expect(u.steps?.contains { $0.name == "mysql/project" && $0.state == .failed && ($0.message ?? "").contains("no longer in the spec") } == true)
        #expect(u.phase == .failed)

        // spec.workloads removed after quiesce: quiesce and resume stay in the plan.
        var noWorkloads = spec
        noWorkloads.workloads = nil
        let v = Planner.plan(spec: noWorkloads, existing: s.steps ?? [])
        #expect(v.map(\.name).contains("resume") && v.map(\.name).contains("quiesce"), "\(v.map(\.name))")
        #expect(v.firstIndex { $0.name == "resume" }! < v.firstIndex { $0.name == "cache" }!)
    }

    @Test("re-running a data step after success quiesces before it and resumes after it; re-running quiesce also resumes")
    func rerunGuards() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        while Engine.current(s, spec: spec) != nil { s = step(s, spec, .succeeded(result: validated, message: nil)) }
        for request in ["mysql/wiki", "quiesce"] {
            (s, _) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: nil)
            (s, _) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: request)
            let expected = request == "quiesce" ? ["quiesce", "resume"] : ["quiesce", "mysql/wiki", "resume"]
            #expect((s.steps ?? []).filter { $0.state == .pending }.map(\.name) == expected)
            var order: [String] = []
            while let next = Engine.current(s, spec: spec) {
                order.append(next.name)
                s = step(s, spec, .succeeded(result: validated, message: nil))
            }
            #expect(order == expected)
        }
    }

    @Test("a permanent failure (version mismatch at validate) fails at once, and no workload was touched so none needs resuming")
    func permanentAtValidate() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .failed("the package was exported from version 6.3.0 but spec.appVersion is 6.4.1", permanent: true))
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        #expect(s.phase == .failed)
        #expect(state(s, "validate") == .failed)
        #expect(state(s, "quiesce") == .pending)
        #expect(s.steps?.first?.message?.contains("not retried") == true)
        #expect(!Engine.needsGuaranteedResume(s, spec: spec, deleting: false))
        #expect(!Engine.needsGuaranteedResume(s, spec: spec, deleting: true))
        // Fixing the spec (a new generation) gives the failed step a fresh start.
        let (fixed, _) = Engine.prepare(spec: spec, status: s, generation: 2, rerun: nil)
        #expect(state(fixed, "validate") == .pending)
        #expect(fixed.steps?.first?.failures == nil, "the retry budget is fresh")
        #expect(fixed.steps?.first?.attempts == 1, "the next run gets a new Job name")
    }

    @Test("an optional step that fails for good: Degraded, the plan continues, the migration can still succeed")
    func optionalDegraded() {
        let spec = spec(optionalClickHouse: true)
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        for _ in 0..<4 { s = step(s, spec, .succeeded(result: validated, message: nil)) }  // validate, quiesce, 2 × mysql
        s = step(s, spec, .failed("bad", permanent: true, untouched: true))
        #expect(state(s, "clickhouse/audit.events") == .failed)
        #expect(Engine.current(s, spec: spec)?.name == "resume", "an optional step that changed nothing lets the plan go on")
        for _ in 0..<3 { s = step(s, spec, .succeeded(result: nil, message: nil)) }
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        #expect(s.phase == .succeeded)
        #expect(s.conditions?.isTrue(FerryNames.ConditionType.degraded) == true)
        #expect(s.conditions?.condition(FerryNames.ConditionType.degraded)?.message.contains("clickhouse/audit.events") == true)
        #expect(s.progress == "8/8 steps")
        #expect(s.message?.contains("optional steps failed: clickhouse/audit.events") == true)

        // An optional step that failed after dropping its table stops the plan like any other.
        var (t, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        for _ in 0..<4 { t = step(t, spec, .succeeded(result: validated, message: nil)) }
        t = step(t, spec, .failed("inserting failed half way", permanent: true))
        t = Engine.summarize(t, spec: spec, generation: 1, now: t0)
        #expect(Engine.current(t, spec: spec) == nil)
        #expect(t.phase == .failed)
        #expect(!Engine.needsGuaranteedResume(t, spec: spec, deleting: false), "the app does not start on the dropped table")
        #expect(t.message?.contains("clickhouse/audit.events: dropped or partly restored") == true, "\(t.message ?? "")")
    }

    @Test("kafka.optional: a kafka step that fails for good marks the migration Degraded and the plan goes on; without it the migration fails")
    func optionalKafka() {
        for optional in [true, false] {
            var spec = spec()
            spec.kafka = KafkaSpec(bootstrap: "kafka:9092", optional: optional)
            spec = spec.withDefaults(namespace: "ones")
            var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
            while let current = Engine.current(s, spec: spec), current.name != "kafka" { s = step(s, spec, .succeeded(result: validated, message: nil)) }
            s = step(s, spec, .failed("Kafka group billing still has 1 active members", permanent: true, untouched: true))
            #expect(state(s, "kafka") == .failed)
            if optional {
                while Engine.current(s, spec: spec) != nil { s = step(s, spec, .succeeded(result: nil, message: nil)) }
                s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
                #expect(s.phase == .succeeded)
                #expect(s.conditions?.condition(FerryNames.ConditionType.degraded)?.message.contains("kafka: Kafka group billing") == true)
            } else {
                s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
                #expect(s.phase == .failed)
            }
        }
    }

    @Test("re-run by annotation: exactly the named steps go back to Pending once; the request is recorded; unknown names are reported")
    func rerun() {
        let spec = spec()
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        while Engine.current(s, spec: spec) != nil { s = step(s, spec, .succeeded(result: validated, message: nil)) }
        s = Engine.summarize(s, spec: spec, generation: 1, now: t0)
        #expect(s.phase == .succeeded)

        var events: [EngineEvent]
        (s, events) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: "mysql/wiki, nope")
        #expect((s.steps ?? []).filter { $0.state == .pending }.map(\.name) == ["quiesce", "mysql/wiki", "resume"], "a data step re-runs with the app stopped")
        #expect(s.handledRerun == "mysql/wiki, nope")
        #expect(events.map(\.reason) == ["Rerun", "Rerun", "Rerun", "RerunUnknownStep"])
        #expect(events.last?.note.contains("nope") == true)
        #expect(Engine.current(s, spec: spec)?.name == "quiesce")
        s = step(s, spec, .succeeded(result: nil, message: nil))
        #expect(Engine.current(s, spec: spec)?.name == "mysql/wiki")
        s = step(s, spec, .succeeded(result: ["rows": 5], message: nil))
        #expect(s.steps?.first { $0.name == "mysql/wiki" }?.attempts == 2, "a re-run is a new run (a new Job)")
        s = step(s, spec, .succeeded(result: nil, message: nil))
        #expect(Engine.current(s, spec: spec) == nil)

        // The same annotation again is not acted on twice …
        (s, events) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: "mysql/wiki, nope")
        #expect(Engine.current(s, spec: spec) == nil)
        #expect(events.isEmpty)
        // … removing it clears the record, so the same request can be made again.
        (s, _) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: nil)
        #expect(s.handledRerun == nil)
        (s, _) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: "mysql/wiki")
        #expect(Engine.current(s, spec: spec)?.name == "quiesce")
    }

    @Test("skip by kind or name; skipped steps count as finished")
    func skip() {
        var spec = spec()
        spec.steps = StepsSpec(skip: ["cache", "clickhouse"])
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        s = step(s, spec, .succeeded(result: validated, message: nil))
        #expect(state(s, "clickhouse/audit.events") == .skipped)
        #expect(state(s, "cache") == .skipped)
        #expect(Planner.progress(s.steps ?? [], spec: spec) == "3/8 steps")
    }

    @Test("step names map to kinds; controller vs Job; delays are capped")
    func jobNames() {
        #expect(StepKind("mysql/project") == .mysql("project"))
        #expect(StepKind("rebuild/search") == .rebuild("search"))
        #expect(StepKind("mysql/project").runsAsJob)
        #expect(!StepKind("quiesce").runsAsJob)
        #expect(RetryPolicy(maxAttempts: 9, baseDelay: 10, maxDelay: 300).delay(afterAttempts: 7) == 300)
    }
}

@Suite("File sync summary", .timeLimit(.minutes(1)))
struct FileSyncSummaryTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func syncing(state: String, lastProgress: Date) -> (MigrationStatus, MigrationSpec) {
        var spec = MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "1")
        spec.files = [FileMapping(name: "a", from: "files", to: .init(persistentVolumeClaim: "c"))]
        spec.fileSync = FileSyncSpec(stallSeconds: 60)
        var status = MigrationStatus()
        status.steps = [StepStatus(name: "validate", state: .succeeded), StepStatus(name: "files", state: .running, attempts: 1)]
        var files = FilesStatus()
        files.state = state
        files.lastProgressAt = Timestamps.format(lastProgress)
        status.files = files
        return (Engine.summarize(status, spec: spec, generation: 1, now: t0), spec)
    }

    @Test("a paused sync: phase Paused and condition Paused=True; running again clears it")
    func paused() {
        let (s, spec) = syncing(state: "paused", lastProgress: t0)
        let p = Engine.summarizeFileSync(s, spec: spec, paused: true, generation: 1, now: t0)
        #expect(p.phase == .paused)
        #expect(p.conditions?.isTrue(FerryNames.ConditionType.paused) == true)
        let r = Engine.summarizeFileSync(p, spec: spec, paused: false, generation: 1, now: t0)
        #expect(r.conditions?.isTrue(FerryNames.ConditionType.paused) == false)
    }

    @Test("no progress for stallSeconds: Progressing=False with the reason (window closed, pod not running, stalled)")
    func stalls() {
        for (state, reason) in [("waitingForWindow", "WindowClosed"), ("podNotRunning", "PodNotRunning"), ("copying", "Stalled")] {
            let (s, spec) = syncing(state: state, lastProgress: t0.addingTimeInterval(-120))
            let out = Engine.summarizeFileSync(s, spec: spec, paused: false, generation: 1, now: t0)
            #expect(out.conditions?.condition(FerryNames.ConditionType.progressing)?.status == "False")
            #expect(out.conditions?.condition(FerryNames.ConditionType.progressing)?.reason == reason)
        }
        let (fresh, spec) = syncing(state: "copying", lastProgress: t0.addingTimeInterval(-10))
        #expect(Engine.summarizeFileSync(fresh, spec: spec, paused: false, generation: 1, now: t0).conditions?.isTrue(FerryNames.ConditionType.progressing) == true)
    }
}

extension EngineTests {
    @Test("ferry.dev/cutover=reverse: mysql-cutback is planned skipped; asked for before the migration is through it waits and says why; after, quiesce and mysql-cutback run again, resume does not")
    func cutback() {
        var spec = MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "6.4.1")
        spec.workloads = WorkloadsSpec(selector: LabelSelectorSpec(matchLabels: ["app": "ones"]))
        spec.mysql = MySQLSpec(host: "mysql", credentialsSecret: "root", mode: "replicate", source: .init(host: "old", credentialsSecret: "repl"),
                               cutover: .init(reverseReplication: true))
        spec = spec.withDefaults(namespace: "ones")
        var (s, _) = Engine.prepare(spec: spec, status: MigrationStatus(), generation: 1, rerun: nil)
        #expect(names(s) == ["validate", "quiesce", "mysql-snapshot", "mysql-replicate", "mysql-cutover", "resume", "mysql-reverse", "mysql-cutback"])
        #expect(state(s, "mysql-cutback") == .skipped && s.steps?.first { $0.name == "mysql-cutback" }?.message?.contains("cutover=reverse") == true)
        let (early, earlyEvents) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: nil, cutover: "reverse")
        #expect(state(early, "mysql-cutback") == .skipped && earlyEvents.isEmpty)
        #expect(early.steps?.first { $0.name == "mysql-cutback" }?.message?.contains("waits until the migration is through") == true)
        for _ in 0..<7 { s = step(s, spec, .succeeded(result: nil, message: nil)) }
        #expect(Planner.phase(s.steps ?? [], spec: spec) == .succeeded, "\(s.steps ?? [])")
        let (back, events) = Engine.prepare(spec: spec, status: s, generation: 1, rerun: nil, cutover: " Reverse ")
        #expect(state(back, "quiesce") == .pending && state(back, "mysql-cutback") == .pending && state(back, "resume") == .succeeded)
        #expect(events.map(\.reason) == ["Cutback"])
        #expect(Engine.current(back, spec: spec)?.name == "quiesce")
        var done = step(back, spec, .succeeded(result: nil, message: nil))
        #expect(Engine.current(done, spec: spec)?.name == "mysql-cutback")
        done = step(done, spec, .succeeded(result: nil, message: nil))
        #expect(Engine.current(done, spec: spec) == nil && state(done, "mysql-cutback") == .succeeded)
        let (again, none) = Engine.prepare(spec: spec, status: done, generation: 1, rerun: nil, cutover: "reverse")
        #expect(none.isEmpty && state(again, "quiesce") == .succeeded, "the annotation left in place does not go back twice")
        let (refused, warned) = Engine.prepare(spec: spec, status: done, generation: 1, rerun: "mysql-snapshot")
        #expect(state(refused, "mysql-snapshot") == .succeeded && warned.map(\.reason) == ["RerunRefused"], "no new copy of the old server over the new primary")
    }
}
