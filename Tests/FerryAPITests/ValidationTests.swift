import FerryAPI
import Testing

@Suite("Migration spec validation", .timeLimit(.minutes(3)))
struct ValidationTests {
    func base() -> MigrationSpec { MigrationSpec(package: PackageSource(hostPath: "/data/pkg"), appVersion: "6.4.1") }

    func fields(_ spec: MigrationSpec) -> [String] { spec.validate().map(\.field) }

    @Test("a minimal spec is valid")
    func minimal() { #expect(base().validate().isEmpty) }

    @Test("package needs exactly one source, absolute hostPath, safe subPath")
    func package() {
        var s = base()
        s.package = PackageSource()
        #expect(fields(s) == ["spec.package"])
        #expect(s.validate()[0].message.contains("hostPath"))
        s.package = PackageSource(hostPath: "/a", persistentVolumeClaim: "c")
        #expect(fields(s) == ["spec.package"])
        s.package = PackageSource(hostPath: "relative", subPath: "../up")
        #expect(Set(fields(s)) == ["spec.package.hostPath", "spec.package.subPath"])
    }

    @Test("each section's mistakes name their field and the fix")
    func sections() {
        var s = base()
        s.appVersion = " "
        s.workloads = WorkloadsSpec(selector: LabelSelectorSpec())
        s.mysql = MySQLSpec(host: "", port: 0, credentialsSecret: "", parallelism: 100)
        s.clickhouse = ClickHouseSpec(url: "clickhouse:8123", tables: ["noDot"])
        s.kafka = KafkaSpec(bootstrap: "kafka", mode: "timestamp")
        s.redis = RedisSpec(host: "r", database: -1)
        s.files = [FileMapping(name: "A", from: "../etc", to: .init(persistentVolumeClaim: "")), FileMapping(name: "A", from: "x", to: .init(persistentVolumeClaim: "p"))]
        s.fileSync = FileSyncSpec(bandwidth: 0, verify: "md5", window: .init(start: "25:00", end: "6", timeZone: "Mars/Base"))
        s.rebuilds = [RebuildSpec(name: "r"), RebuildSpec(name: "r", configMap: .init(name: "c", key: "k"))]
        s.steps = StepsSpec(skip: ["validate", "typo"])
        let f = Set(fields(s))
        for expected in [
            "spec.appVersion", "spec.workloads.selector", "spec.mysql.host", "spec.mysql.credentialsSecret", "spec.mysql.port",
            "spec.mysql.parallelism", "spec.clickhouse.url", "spec.clickhouse.tables[0]", "spec.kafka.bootstrap", "spec.kafka.timestamp",
            "spec.redis.database", "spec.files[0].name", "spec.files[0].from", "spec.files[0].to.persistentVolumeClaim", "spec.files[1].name",
            "spec.fileSync.bandwidth", "spec.fileSync.verify", "spec.fileSync.window.start", "spec.fileSync.window.end",
            "spec.fileSync.window.timeZone", "spec.rebuilds[0]", "spec.rebuilds[1].name", "spec.steps.skip[0]", "spec.steps.skip[1]",
        ] {
            #expect(f.contains(expected), "missing \(expected) in \(f.sorted())")
        }
        for e in s.validate() { #expect(e.message.count > 10, "message too thin: \(e)") }
    }
}
