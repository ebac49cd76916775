import ArgumentParser
import FerryAPI
@testable import FerryCLI
@testable import FerryOperator
import FerryProtocol
import KubeClient
import Testing

/// The contract between the controller and the step binary cannot drift: every argument struct
/// goes through argv and back, through FerryProtocol's reader and through the binary's own
/// parser, with careless and hostile values; and every Job the controller builds parses.
@Suite("Step arguments round-trip through argv")
struct ArgvRoundTripTests {
    /// A deterministic generator (the same cases every run; a failure names its seed).
    struct Gen {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func bool() -> Bool { next() % 2 == 0 }
        /// Text a user or a package may put in a field: dashes first, `=`, `:`, spaces, commas, non-ASCII.
        mutating func text(allowEquals: Bool = true, nonEmpty: Bool = false) -> String {
            let alphabet = Array("ab-_=:/ ,.é☃x--0") .filter { allowEquals || $0 != "=" }
            let n = int(nonEmpty ? 1...12 : 0...12)
            return String((0..<n).map { _ in alphabet[int(0...(alphabet.count - 1))] })
        }
        mutating func maybe(_ make: (inout Gen) -> String) -> String? { bool() ? make(&self) : nil }
        mutating func list(_ make: (inout Gen) -> String) -> [String] { (0..<int(0...3)).map { _ in make(&self) } }
    }

    func check<A: StepArguments>(_ a: A, binary parse: ([String]) throws -> A, _ note: String) throws {
        let argv = a.argv
        #expect(try A(argv: argv) == a, "FerryProtocol reads back what it wrote (\(note)): \(argv)")
        #expect(try parse(Array(argv.dropFirst(A.command.count))) == a, "the ferry binary reads what the controller wrote (\(note)): \(argv)")
    }

    @Test("every argument struct, with hostile values, reads back the same through FerryProtocol and through the ferry binary's parser")
    func fuzz() throws {
        for seed in 1...150 {
            var g = Gen(state: UInt64(seed))
            let note = "seed \(seed)"
            try check(MySQLArguments(package: g.text(nonEmpty: true), database: g.text(), targetDatabase: g.maybe { $0.text() }, host: g.text(), port: g.int(-5...70000),
                                     credentialsDir: g.maybe { $0.text() }, parallelism: g.int(-1...80), resultFile: g.text()),
                      binary: { try RestoreMySQL.parse($0).arguments }, note)
            try check(ClickHouseArguments(package: g.text(), tables: g.list { $0.text() }, url: g.text(), credentialsDir: g.maybe { $0.text() },
                                          maxInsertBlockSize: g.int(0...2_000_000), parallelism: g.int(0...70), resultFile: g.text()),
                      binary: { try RestoreClickHouse.parse($0).arguments }, note)
            try check(KafkaArguments(package: g.text(), bootstrap: g.text(), mode: g.text(), groups: g.list { $0.text() }, timestamp: g.maybe { $0.text() }, tls: g.bool(),
                                     tlsServerName: g.maybe { $0.text() }, tlsInsecureSkipVerify: g.bool(), credentialsDir: g.maybe { $0.text() }, resultFile: g.text()),
                      binary: { try RestoreKafka.parse($0).arguments }, note)
            try check(ConfigArguments(package: g.text(), keyDir: g.maybe { $0.text() }, secret: g.text(), namespace: g.maybe { $0.text() }, resultFile: g.text()),
                      binary: { try RestoreConfig.parse($0).arguments }, note)
            try check(CacheArguments(host: g.text(), port: g.int(-1...70000), database: g.bool() ? g.int(-3...20) : nil, credentialsDir: g.maybe { $0.text() }, resultFile: g.text()),
                      binary: { try RestoreCache.parse($0).arguments }, note)
            try check(ValidateArguments(package: g.text(), appVersion: g.text(), allowVersionMismatch: g.bool(), databases: g.list { $0.text() }, tables: g.list { $0.text() },
                                        folders: g.list { $0.text() }, required: g.list { $0.text() },
                                        endpoints: (0..<g.int(0...3)).map { _ in .init(name: g.text(allowEquals: false), host: g.text(), port: g.int(0...65535)) },
                                        volumes: (0..<g.int(0...3)).map { _ in .init(name: g.text(allowEquals: false, nonEmpty: true), path: g.text()) },
                                        external: g.bool() ? .init(host: g.text(), port: g.bool() ? g.int(-1...70000) : nil, credentialsDir: g.text()) : nil, resultFile: g.text()),
                      binary: { try RestoreValidate.parse($0).arguments() }, note)
            let (shardCount, shardIndex) = (g.int(1...64), g.int(0...63))
            try check(FileSyncArguments(copies: (0..<g.int(0...3)).map { _ in .init(source: g.text(allowEquals: false, nonEmpty: true), target: g.text(nonEmpty: true)) },
                                        parallelism: g.int(0...300), verify: g.text(), delete: g.bool(), bandwidth: g.int(0...1 << 30),
                                        window: g.bool() ? .init(start: g.text(), end: g.text(), timeZone: g.text()) : nil, controlPort: g.int(-1...65535),
                                        controlHostEnv: g.maybe { $0.text() }, controlTokenFile: g.maybe { $0.text() }, startPaused: g.bool(),
                                        s3: g.bool() ? .init(endpoint: g.text(), region: g.text(), pathStyle: g.bool(), credentialsDir: g.maybe { $0.text() }, caFile: g.maybe { $0.text() },
                                                             partSize: g.int(-1...1 << 30), parts: g.int(-1...70)) : nil,
                                        stores: Dictionary((0..<g.int(0...3)).map { _ in (g.text(allowEquals: false, nonEmpty: true), FileSyncArguments.S3(endpoint: g.text(), region: g.text(), pathStyle: g.bool(),
                                                            credentialsDir: g.maybe { $0.text() }, caFile: g.maybe { $0.text() }, partSize: g.int(-1...1 << 30), parts: g.int(-1...70))) },
                                                           uniquingKeysWith: { a, _ in a }),
                                        resultFile: g.text(),
                                        journals: (0..<g.int(0...2)).map { _ in .init(source: g.text(allowEquals: false, nonEmpty: true), target: g.text(nonEmpty: true)) }, watch: g.bool(),
                                        method: FileSyncMethod.allCases[g.int(0...3)], shard: g.bool() ? Shard(index: shardIndex % shardCount, count: shardCount) : nil),
                      binary: { try MoverFiles.parse($0).arguments() }, note)
            try check(GatewayArguments(target: g.text(nonEmpty: true), source: g.text(nonEmpty: true),
                                       stores: Dictionary((0..<g.int(0...2)).map { _ in (g.text(allowEquals: false, nonEmpty: true), FileSyncArguments.S3(endpoint: g.text(), credentialsDir: g.maybe { $0.text() })) },
                                                          uniquingKeysWith: { a, _ in a }),
                                       bucket: g.maybe { $0.text() }, appKeysDir: g.text(nonEmpty: true), moverKeysDir: g.text(nonEmpty: true), host: g.text(nonEmpty: true), hostEnv: g.maybe { $0.text() }, port: g.int(0...65535), metricsPort: g.int(-1...65535), resultFile: ""),
                      binary: { try GatewayCommand.parse($0).arguments() }, note)
            let servers = MySQLServers(sourceHost: g.text(), sourcePort: g.int(-1...70000), sourceCredentialsDir: g.maybe { $0.text() }, host: g.text(),
                                       port: g.int(0...70000), credentialsDir: g.maybe { $0.text() })
            try check(MySQLSnapshotArguments(servers: servers, databases: g.list { $0.text() }, parallelism: g.int(0...70), workDir: g.maybe { $0.text() },
                                             replaceExisting: g.bool(), reversible: g.bool(), package: g.maybe { $0.text() }, resultFile: g.text()),
                      binary: { try MySQLSnapshot.parse($0).arguments }, note)
            try check(MySQLStatusArguments(servers: servers, resultFile: g.text()), binary: { try MySQLStatus.parse($0).arguments }, note)
            try check(MySQLWatchArguments(servers: servers, intervalSeconds: g.int(-1...100), verify: g.bool(), chunkRows: g.int(-1...100_000), databases: g.list { $0.text() }, resultFile: g.text()), binary: { try MySQLWatch.parse($0).arguments }, note)
            try check(MySQLCutoverArguments(servers: servers, timeoutSeconds: g.int(-5...600), maxLagSeconds: g.bool() ? g.int(-1...100) : nil, killWriters: g.bool(), back: g.bool(),
                                            reverseHost: g.maybe { $0.text() }, reversePort: g.bool() ? g.int(-1...70000) : nil, databases: g.list { $0.text() }, resultFile: g.text()),
                      binary: { try MySQLCutover.parse($0).arguments }, note)
            try check(MySQLReverseArguments(servers: servers, from: g.text(), databases: g.list { $0.text() }, reverseHost: g.text(), reversePort: g.int(-1...70000), resultFile: g.text()),
                      binary: { try MySQLReverse.parse($0).arguments }, note)
            try check(ClickHouseCopyArguments(tables: g.list { $0.text() }, source: g.text(), sourceCredentialsDir: g.maybe { $0.text() }, url: g.text(),
                                              credentialsDir: g.maybe { $0.text() }, concurrency: g.int(-1...70), concurrencyFile: g.maybe { $0.text() }, rounds: g.int(-1...30),
                                              splitMinRows: g.int(-1...1_000_000), splitPieces: g.int(-1...300), splitBy: g.list { $0.text() }, verify: g.maybe { $0.text() },
                                              syncLast: g.int(-1...50), syncEvery: g.int(-1...5000), resultFile: g.text()),
                      binary: { try ClickHouseCopy.parse($0).arguments }, note)
            try check(ClickHouseSchemaArguments(tables: g.list { $0.text() }, source: g.text(), sourceCredentialsDir: g.maybe { $0.text() }, url: g.text(),
                                                credentialsDir: g.maybe { $0.text() }, engineMap: g.list { $0.text() }, cluster: g.maybe { $0.text() }, shardingKeyDefault: g.text(),
                                                resultFile: g.text()),
                      binary: { try ClickHouseSchemaCommand.parse($0).arguments }, note)
        }
    }

    @Test("a value that starts with a dash is written --name=value, so neither side takes it for a flag")
    func dashValues() throws {
        let a = MySQLArguments(package: "/p", database: "--drop-everything", host: "-h")
        #expect(a.argv.contains("--database=--drop-everything"))
        #expect(try RestoreMySQL.parse(Array(a.argv.dropFirst(2))).arguments.database == "--drop-everything")
    }

    @Test("FerryProtocol refuses what the controller never writes: unknown flags, a missing value, a single option twice, a flag with a value")
    func refusals() {
        #expect(throws: ArgvError.self) { try MySQLArguments(argv: ["restore", "mysql", "--package", "/p", "--database", "d", "--password", "x"]) }
        #expect(throws: ArgvError.self) { try MySQLArguments(argv: ["restore", "mysql", "--package", "/p", "--database"]) }
        #expect(throws: ArgvError.self) { try MySQLArguments(argv: ["restore", "mysql", "--package", "/p", "--database", "a", "--database", "b"]) }
        #expect(throws: ArgvError.self) { try MySQLArguments(argv: ["restore", "clickhouse", "--package", "/p", "--database", "a"]) }
        #expect(throws: ArgvError.self) { try KafkaArguments(argv: ["restore", "kafka", "--package", "/p", "--bootstrap", "k:1", "--tls=yes"]) }
        #expect(throws: ArgvError.self) { try FileSyncArguments(argv: ["mover", "files", "--copy", "=x"]) }
        #expect(throws: ArgvError.self) { try FileSyncArguments(argv: ["mover", "files", "--window-start", "22:00"]) }
        #expect(throws: ArgvError.self) { try FileSyncArguments(argv: ["mover", "files", "--method", "hardlink"]) }
        for bad in ["4/4", "-1/2", "1/0", "1/65", "a/b", "1", "1/2/3"] {
            #expect(throws: ArgvError.self, "\(bad)") { try FileSyncArguments(argv: ["mover", "files", "--shard", bad]) }
        }
        #expect(throws: ArgvError.self) { try FileSyncArguments(argv: ["mover", "files", "--s3-store", "a={\"endpoint\":1}"]) }
        #expect(throws: ArgvError.self) { try FileSyncArguments(argv: ["mover", "files", "--s3-store", "a={\"endpoint\":\"http://x\"}", "--s3-store", "a={\"endpoint\":\"http://y\"}"]) }
        #expect(throws: ArgvError.self) { try ValidateArguments(argv: ["restore", "validate", "--package", "/p", "--app-version", "1", "--endpoint", "mysql:3306"]) }
    }

    /// A spec with every section, as a user would write it.
    func everything() -> (Migration, MigrationSpec) {
        var s = MigrationSpec(package: PackageSource(hostPath: "/srv/backup", nodeName: "node-1"), appVersion: "6.4.1")
        s.mysql = MySQLSpec(host: "mysql.ones", credentialsSecret: "mysql-creds", parallelism: .auto)
        s.clickhouse = ClickHouseSpec(url: "https://ch.ones:8443", credentialsSecret: "ch-creds")
        s.kafka = KafkaSpec(bootstrap: "k-0:9093,k-1:9093", credentialsSecret: "kafka-creds", tls: KafkaTLSSpec(serverName: "kafka.internal", insecureSkipVerify: true), groups: ["billing", "mail"])
        s.config = ConfigSpec(secretName: "app-config", keySecret: "config-key")
        s.redis = RedisSpec(host: "redis", credentialsSecret: "redis-creds", database: 2)
        s.files = [FileMapping(name: "attachments", from: "files", to: .init(persistentVolumeClaim: "data", subPath: "files"))]
        s.fileSync = FileSyncSpec(parallelism: 8, bandwidth: 1 << 20, window: .init(start: "22:00", end: "06:00", timeZone: "Europe/Berlin"))
        var m = Migration(metadata: ObjectMeta(name: "ones", namespace: "ones"), spec: s)
        m.metadata.uid = "uid-1"
        return (m, s.withDefaults(namespace: "ones"))
    }

    @Test("every Job the controller builds runs a command the ferry binary parses into the same arguments FerryProtocol reads")
    func controllerJobsParse() throws {
        let (m, spec) = everything()
        let settings = StepSettings(image: "ferry:test", command: "/ferry")
        var seen: Set<String> = []
        for step in ["validate", "mysql/project", "clickhouse/audit.events", "kafka", "config", "cache"] {
            let job = try #require(StepJobs.job(for: step, attempt: 1, migration: m, spec: spec, settings: settings), "\(step)")
            let command = job[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["command"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(command.first == "/ferry")
            let argv = Array(command.dropFirst())
            let parsed = try Ferry.parseAsRoot(argv)
            switch parsed {
            case let c as RestoreValidate: #expect(try c.arguments() == ValidateArguments(argv: argv)); seen.insert(step)
            case let c as RestoreMySQL:
                #expect(try c.arguments == MySQLArguments(argv: argv)); seen.insert(step)
                #expect(c.arguments.parallelism == 0 && argv.joined(separator: " ").contains("--parallelism auto"), "spec.mysql.parallelism: auto reaches the step as --parallelism auto: \(argv)")
            case let c as RestoreClickHouse: #expect(try c.arguments == ClickHouseArguments(argv: argv)); seen.insert(step)
            case let c as RestoreKafka: #expect(try c.arguments == KafkaArguments(argv: argv)); seen.insert(step)
            case let c as RestoreConfig: #expect(try c.arguments == ConfigArguments(argv: argv)); seen.insert(step)
            case let c as RestoreCache: #expect(try c.arguments == CacheArguments(argv: argv)); seen.insert(step)
            default: Issue.record("\(step): \(argv) parsed as \(type(of: parsed))")
            }
        }
        #expect(seen.count == 6)
        let mover = FileSyncStep.arguments(spec, settings: settings, paused: true)
        let parsed = try #require(try Ferry.parseAsRoot(mover.argv) as? MoverFiles)
        #expect(try parsed.arguments() == mover)
        #expect(mover.window == .init(start: "22:00", end: "06:00", timeZone: "Europe/Berlin") && mover.startPaused)
    }
}
