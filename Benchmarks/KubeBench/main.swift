// kube-bench: KubeClient against KubeSim (separate process), with kubectl as the peer.
//
// Prints objects/s for a 10,000-object list, events/s for a watch delivering
// 10,000 events, and the client's peak RSS; kubectl's list time and peak RSS
// on the same data in the same run.
import AsyncHTTPClient
import Foundation
import KubeClient

let count = Int(ProcessInfo.processInfo.environment["OBJECTS"] ?? "") ?? 10_000
let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
let dataDir = NSTemporaryDirectory() + "kube-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)

func peakRSSKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

// Start KubeSim as its own process so the client's RSS is the client's alone.
let sim = Process()
sim.executableURL = URL(fileURLWithPath: binDir + "/ferry")
sim.arguments = ["sandbox", "api", "--data-dir", dataDir, "--ephemeral", "--history-limit", String(count * 2 + 100)]
let simOut = Pipe()
sim.standardOutput = simOut
try sim.run()
defer {
    sim.terminate()
    sim.waitUntilExit()
    try? FileManager.default.removeItem(atPath: dataDir)
}
let kubeconfig = dataDir + "/kubeconfig"
for _ in 0..<100 where !FileManager.default.fileExists(atPath: kubeconfig) { usleep(50_000) }
usleep(100_000)

let http = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup)
let client = KubeClient(config: try KubeConfigLoader.load(files: [kubeconfig]), httpClient: http)

func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try await body()
    let d = ContinuousClock.now - start
    return (value, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}

/// Runs `body(i)` for i in 0..<count with 16 requests in flight.
func forEachConcurrently(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        let workers = 16
        for w in 0..<workers {
            group.addTask {
                var i = w
                while i < count {
                    try await body(i)
                    i += workers
                }
            }
        }
        try await group.waitForAll()
    }
}

log("creating \(count) ConfigMaps…")
let (_, createSeconds) = try await timed {
    try await forEachConcurrently { i in
        _ = try await client.create(.configMaps, ["metadata": ["name": .string("cm-\(i)"), "labels": ["bench": "yes"]], "data": ["key": .string(String(repeating: "v", count: 200)), "index": .string(String(i))]])
    }
}

// List: one request, and paginated (500 per page).
let (single, listSeconds) = try await timed { try await client.list(.configMaps) }
let (paged, pagedSeconds) = try await timed { try await client.listAll(.configMaps, pageSize: 500) }
precondition(single.items.count == count && paged.items.count == count, "list returned \(single.items.count)/\(paged.items.count)")

// Watch: 10,000 changes recorded, then one watch replays them all.
let startRV = single.resourceVersion
log("patching \(count) ConfigMaps…")
try await forEachConcurrently { i in
    _ = try await client.patch(.configMaps, name: "cm-\(i)", .merge(["data": ["changed": "yes"]]))
}
let (events, watchSeconds) = try await timed { () async throws -> Int in
    var n = 0
    for try await _ in client.watch(.configMaps, options: WatchOptions(resourceVersion: startRV, allowWatchBookmarks: false, timeoutSeconds: 60)) {
        n += 1
        if n == count { break }
    }
    return n
}
precondition(events == count, "watch delivered \(events)")
let clientRSS = peakRSSKiB()
try await http.shutdown()

// Peer: kubectl listing the same 10,000 objects (JSON), timed and measured by GNU time.
func kubectl(_ args: [String]) throws -> (seconds: Double, rssKiB: Int) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/time")
    p.arguments = ["-f", "%e %M", "kubectl"] + args
    var env = ProcessInfo.processInfo.environment
    env["KUBECONFIG"] = kubeconfig
    env["HOME"] = dataDir
    p.environment = env
    p.standardOutput = FileHandle.nullDevice
    let err = Pipe()
    p.standardError = err
    try p.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last ?? ""
    let parts = last.split(separator: " ")
    return (Double(parts.first ?? "") ?? 0, Int(parts.last ?? "") ?? 0)
}
_ = try kubectl(["get", "ns"])  // warm discovery cache
let kList = try kubectl(["get", "configmaps", "-o", "json"])
let kPaged = try kubectl(["get", "configmaps", "-o", "json", "--chunk-size=500"])

func row(_ cells: [String]) -> String { cells.map { $0.padding(toLength: 34, withPad: " ", startingAt: 0) }.joined() }
print("kube-bench: \(count) ConfigMaps (~300 B each) in KubeSim, 2 cores")
print(row(["what", "seconds", "rate"]))
print(row(["create (16 in flight)", String(format: "%.2f", createSeconds), String(format: "%.0f objects/s", Double(count) / createSeconds)]))
print(row(["KubeClient list, 1 request", String(format: "%.3f", listSeconds), String(format: "%.0f objects/s", Double(count) / listSeconds)]))
print(row(["KubeClient list, 500/page", String(format: "%.3f", pagedSeconds), String(format: "%.0f objects/s", Double(count) / pagedSeconds)]))
print(row(["kubectl get -o json (peer)", String(format: "%.3f", kList.seconds), String(format: "%.0f objects/s", Double(count) / max(kList.seconds, 0.001))]))
print(row(["kubectl --chunk-size=500 (peer)", String(format: "%.3f", kPaged.seconds), String(format: "%.0f objects/s", Double(count) / max(kPaged.seconds, 0.001))]))
print(row(["KubeClient watch, \(count) events", String(format: "%.3f", watchSeconds), String(format: "%.0f events/s", Double(count) / watchSeconds)]))
print(row(["peak RSS KubeClient (whole run)", "", "\(clientRSS / 1024) MiB"]))
print(row(["peak RSS kubectl get -o json", "", "\(kList.rssKiB / 1024) MiB"]))
