import FerryAPI
import FerryEngine
import FerryOperator
import KubeClient
import Testing

@Suite("Planning", .timeLimit(.minutes(3)))
struct PlannerTests {
    func reference() -> MigrationSpec {
        var s = MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "1")
        s.workloads = WorkloadsSpec(selector: LabelSelectorSpec(matchLabels: ["app": "x"]))
        s.mysql = MySQLSpec(host: "m", credentialsSecret: "s", databases: ["project", "wiki"])
        s.clickhouse = ClickHouseSpec(url: "http://c")
        s.kafka = KafkaSpec(bootstrap: "k:9092")
        s.redis = RedisSpec(host: "r")
        s.files = [FileMapping(name: "a", from: "files", to: .init(persistentVolumeClaim: "p"))]
        s.fileSync = FileSyncSpec(preSync: true)
        s.rebuilds = [RebuildSpec(name: "search", configMap: .init(name: "c", key: "k"))]
        return s
    }

    @Test("steps follow the design's order")
    func order() {
        #expect(Planner.stepNames(for: reference()) == [
            "validate", "presync", "quiesce", "mysql/project", "mysql/wiki", "clickhouse", "kafka", "resume", "cache", "rebuild/search", "files",
        ])
        #expect(Planner.stepNames(for: MigrationSpec(package: PackageSource(hostPath: "/p"), appVersion: "1")) == ["validate"])
    }

    @Test("the checkpoint is kept: finished steps stay finished; skip by kind or name")
    func checkpoint() {
        var spec = reference()
        let existing = [StepStatus(name: "validate", state: .succeeded, attempts: 1), StepStatus(name: "mysql/project", state: .failed, attempts: 3, message: "boom")]
        spec.steps = StepsSpec(skip: ["clickhouse", "mysql/wiki"])
        let plan = Planner.plan(spec: spec, existing: existing)
        #expect(plan.first { $0.name == "validate" }?.state == .succeeded)
        #expect(plan.first { $0.name == "mysql/project" }?.attempts == 3)
        #expect(plan.first { $0.name == "mysql/wiki" }?.state == .skipped)
        #expect(plan.first { $0.name == "clickhouse" }?.state == .skipped)
        #expect(Planner.progress(plan, spec: spec) == "3/11 steps")
        #expect(Planner.phase(plan, spec: spec) == .failed)
    }

    @Test("status planning: a valid spec is planned once; a second pass changes nothing")
    func statusIsStable() {
        var m = Migration(metadata: ObjectMeta(name: "m", namespace: "ns"), spec: reference())
        m.metadata.generation = 1
        let first = StatusPlanner.decide(migration: m, stamp: "2026-01-01T00:00:00Z")
        #expect(first.status.phase == .pending)
        #expect(first.status.progress == "0/11 steps")
        #expect(first.status.step == "validate")
        #expect(first.status.observedGeneration == 1)
        #expect(first.status.conditions?.isTrue("SpecValid") == true)
        m.status = first.status
        let second = StatusPlanner.decide(migration: m, stamp: "2026-01-01T00:05:00Z")
        #expect(second.status == first.status, "no change → no status write (and timestamps do not move)")
    }

    @Test("an invalid spec fails with SpecValid=False naming the field")
    func invalid() {
        var spec = reference()
        spec.mysql?.port = 0
        var m = Migration(metadata: ObjectMeta(name: "m", namespace: "ns"), spec: spec)
        m.metadata.generation = 3
        let d = StatusPlanner.decide(migration: m, stamp: "2026-01-01T00:00:00Z")
        #expect(d.status.phase == .failed)
        #expect(d.status.message?.contains("spec.mysql.port") == true)
        #expect(d.status.conditions?.condition("SpecValid")?.status == "False")
        #expect(d.event?.warning == true)
        #expect(d.status.observedGeneration == 3)
    }
}
