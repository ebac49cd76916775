// controller-bench: `ferry controller` (release build, its own process) against
// KubeSim with 500 Migrations: time until every Migration has a status, then
// the controller's CPU and memory over a steady period.
// Goals (issue 3): idle RSS ≤ 30 MiB, steady CPU < 5% of a core.
import AsyncHTTPClient
import FerryAPI
import Foundation
import KubeClient

let count = Int(ProcessInfo.processInfo.environment["MIGRATIONS"] ?? "") ?? 500
/// Pods that are not Ferry's, made before the controller starts (a busy cluster): the controller
/// caches only what carries ferry.dev/migration, so they must not grow its memory.
let unrelatedPods = Int(ProcessInfo.processInfo.environment["UNRELATED_PODS"] ?? "") ?? 0
let steadySeconds = Double(ProcessInfo.processInfo.environment["STEADY_SECONDS"] ?? "") ?? 60
let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
/// The controller binary measured: FERRY_BIN (e.g. the statically linked build the image ships), else the one beside this tool.
let ferryBinary = ProcessInfo.processInfo.environment["FERRY_BIN"] ?? binDir + "/ferry"
let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let dataDir = NSTemporaryDirectory() + "controller-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

let sim = Process()
sim.executableURL = URL(fileURLWithPath: binDir + "/ferry")
sim.arguments = ["sandbox", "api", "--data-dir", dataDir, "--ephemeral", "--no-workloads"]
sim.standardOutput = FileHandle.nullDevice
try sim.run()
let kubeconfig = dataDir + "/kubeconfig"
for _ in 0..<100 where !FileManager.default.fileExists(atPath: kubeconfig) { usleep(50_000) }
usleep(200_000)
let http = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup)
let client = KubeClient(config: try KubeConfigLoader.load(files: [kubeconfig]), httpClient: http)

// The CRD, through the same YAML users apply (converted by kubectl).
let apply = Process()
apply.executableURL = URL(fileURLWithPath: "/usr/bin/env")
apply.arguments = ["kubectl", "apply", "-f", repo + "/manifests/crd.yaml"]
apply.environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": kubeconfig, "HOME": dataDir]) { _, b in b }
apply.standardOutput = FileHandle.nullDevice
try apply.run()
apply.waitUntilExit()

if unrelatedPods > 0 {
    log("creating \(unrelatedPods) unrelated pods…")
    try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<16 {
            group.addTask {
                var i = w
                while i < unrelatedPods {
                    let pod: JSONValue = [
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": ["name": .string("app-\(i)"), "namespace": "default", "labels": ["app": "shop", "tier": "web", "pod-template-hash": "5d8f7c9b4"]],
                        "spec": ["containers": [["name": "web", "image": "registry.example/shop/web:2026.11.3", "args": ["--port=8080", "--log-level=info"],
                                                 "env": [["name": "SHOP_MODE", "value": "production"], ["name": "SHOP_REGION", "value": "eu-central"]],
                                                 "resources": ["requests": ["cpu": "100m", "memory": "128Mi"]]]]],
                    ]
                    _ = try await client.create(.pods, pod, namespace: "default")
                    i += 16
                }
            }
        }
        try await group.waitForAll()
    }
}

let controller = Process()
controller.executableURL = URL(fileURLWithPath: ferryBinary)
// The lean `ferry-controller` takes the flags directly; `ferry` needs the subcommand.
controller.arguments = (ferryBinary.hasSuffix("ferry-controller") ? [] : ["controller"]) + ["--kubeconfig", kubeconfig, "--no-leader-elect", "--metrics-port=-1", "--log-level", "warning"]
controller.standardError = FileHandle.nullDevice
try controller.run()
let pid = controller.processIdentifier
defer {
    controller.terminate()
    controller.waitUntilExit()
    sim.terminate()
    sim.waitUntilExit()
    try? FileManager.default.removeItem(atPath: dataDir)
}

func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func memoryKiB(_ pid: Int32, _ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

try await Task.sleep(nanoseconds: 1_000_000_000)
let idleRSSBefore = memoryKiB(pid, "VmRSS")
let idleAnonBefore = memoryKiB(pid, "RssAnon")
log("creating \(count) Migrations…")
let start = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for w in 0..<16 {
        group.addTask {
            var i = w
            while i < count {
                var spec = MigrationSpec(package: PackageSource(hostPath: "/data/pkg-\(i)"), appVersion: "6.4.1")
                spec.mysql = MySQLSpec(host: "mysql", credentialsSecret: "mysql-root", databases: ["project", "wiki"])
                spec.redis = RedisSpec(host: "redis")
                spec.files = [FileMapping(name: "attachments", from: "files", to: .init(persistentVolumeClaim: "files"))]
                _ = try await client.create(Migration(metadata: ObjectMeta(name: "mig-\(i)", namespace: "default"), spec: spec))
                i += 16
            }
        }
    }
    try await group.waitForAll()
}
let created = ContinuousClock.now - start
var withStatus = 0
while withStatus < count {
    let list = try await client.list(Migration.resource)
    withStatus = list.items.filter { $0[path: ["status", "phase"]] != nil }.count
    if withStatus < count { try await Task.sleep(nanoseconds: 100_000_000) }
    if ContinuousClock.now - start > .seconds(300) { break }
}
let allStatus = ContinuousClock.now - start
func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
log("steady state for \(Int(steadySeconds)) s…")
let cpu0 = cpuSeconds(pid)
try await Task.sleep(nanoseconds: UInt64(steadySeconds * 1_000_000_000))
let cpu1 = cpuSeconds(pid)
let steadyCPU = (cpu1 - cpu0) / steadySeconds * 100
let rss = memoryKiB(pid, "VmRSS")
let anon = memoryKiB(pid, "RssAnon")
let peak = memoryKiB(pid, "VmHWM")
try await http.shutdown()

print("controller-bench: \(count) Migrations, \(unrelatedPods) unrelated pods, \(ferryBinary) controller against KubeSim, 2 cores")
print("created all (16 in flight)        \(String(format: "%.2f", secs(created))) s")
print("all have status                   \(String(format: "%.2f", secs(allStatus))) s  (\(withStatus)/\(count), \(String(format: "%.0f", Double(withStatus) / secs(allStatus))) Migrations/s)")
func mib(_ kib: Int) -> String { String(format: "%.1f", Double(kib) / 1024) }
print("idle RSS before Migrations        \(mib(idleRSSBefore)) MiB   (of which private heap/stacks \(mib(idleAnonBefore)) MiB; the rest is shared code pages)")
print("RSS after, steady                 \(mib(rss)) MiB   (private \(mib(anon)) MiB; goal ≤ 30 MiB idle)")
print("peak RSS                          \(mib(peak)) MiB")
print("steady CPU over \(Int(steadySeconds)) s              \(String(format: "%.2f", steadyCPU)) % of a core   (goal < 5%)")
