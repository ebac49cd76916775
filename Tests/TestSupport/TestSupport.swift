import AsyncHTTPClient
import NIOCore
import ProcessSpawn
import Foundation
import KubeClient
import KubeSim

/// One HTTP client for the whole test process (as in production: one per process).
public let sharedHTTPClient: HTTPClient = {
    var config = HTTPClient.Configuration()
    config.timeout.connect = .seconds(5)
    return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: config)
}()

/// A running KubeSim with a kubeconfig and a client for it; stop it when done.
public struct SimFixture: Sendable {
    public let server: KubeSimServer
    public let kubeconfig: String
    public let client: KubeClient

    public static func start(_ configure: (inout KubeSimOptions) -> Void = { _ in }) async throws -> SimFixture {
        var options = KubeSimOptions()
        options.dataDirectory = try makeTempDir("kubesim")
        options.bookmarkInterval = 0.3
        configure(&options)
        let server = try await KubeSimServer.start(options)
        let kubeconfig = try server.writeKubeconfig()
        let config = try KubeConfigLoader.load(files: [kubeconfig])
        return SimFixture(server: server, kubeconfig: kubeconfig, client: KubeClient(config: config, httpClient: sharedHTTPClient))
    }

    public func stop() async {
        await server.stop()
    }
}

/// A new empty folder under the system temporary directory, removed when the test process exits
/// (some tests write hundreds of MB; left behind they would eat the disk run after run).
public func makeTempDir(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    TempDirs.shared.add(path)
    return path
}

/// The folders `makeTempDir` made; deleted at exit.
final class TempDirs: @unchecked Sendable {
    static let shared: TempDirs = {
        let t = TempDirs()
        atexit {
            for path in TempDirs.shared.lock.withLock({ TempDirs.shared.paths }) {
                _ = chmod(path, 0o755)
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        return t
    }()
    let lock = NSLock()
    var paths: [String] = []
    func add(_ path: String) { lock.withLock { paths.append(path) } }
}

/// The result of running a command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var combined: String { stdout + stderr }
}

/// Runs a program to completion (stdout and stderr captured). The waiting
/// happens on a Dispatch thread, never on Swift's cooperative pool, so an
/// in-process KubeSim keeps serving while kubectl runs.
@discardableResult
public func runCommand(_ executable: String, _ args: [String], environment: [String: String] = [:], input: String? = nil, timeout: Double = 60) async throws -> CommandResult {
    await commandSlots.acquire()
    defer { Task { await commandSlots.release() } }
    return try await ProcessSpawn.onThread { try runCommandBlocking(executable, args, environment: environment, input: input, timeout: timeout) }
}

/// At most a few commands (kubectl, helm) at once, so parallel tests do not starve 2 cores.
let commandSlots = AsyncSemaphore(3)

/// A counting semaphore for async code.
public actor AsyncSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(_ count: Int) { available = count }

    public func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

extension AsyncSemaphore {
    /// Runs `body` holding one slot, released however it ends.
    nonisolated public func holding<T>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}

/// ProcessSpawn rather than Foundation's Process: Process on Linux sometimes
/// misses a child's exit (its SIGCHLD source never fires) and waits forever.
func runCommandBlocking(_ executable: String, _ args: [String], environment: [String: String], input: String?, timeout: Double) throws -> CommandResult {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    let out = try ProcessSpawn.runBlocking(executable, args, environment: env, input: input.map { Data($0.utf8) }, timeout: timeout)
    return CommandResult(status: out.status, stdout: String(decoding: out.stdout, as: UTF8.self), stderr: String(decoding: out.stderr, as: UTF8.self))
}

/// Waits for a started process to exit without blocking the cooperative pool. Polls rather
/// than `waitUntilExit`, which on Linux spins a core forever when Foundation misses a child's
/// exit (it once hung a whole test run at 100% CPU); a miss now ends in the test's time limit.
/// Returns only once Foundation has seen the exit, so `terminationStatus` is safe to read.
public func waitForExit(_ process: Process) async {
    while process.isRunning {
        try? await Task.sleep(for: .milliseconds(50))
    }
}

/// Polls `condition` until it is true or `timeout` passes. The default is generous: under the
/// full suite on 2 cores a watch took more than 10 s to open in a CI run; a condition that holds
/// returns at once, so only a failure waits the whole minute.
public func eventually(timeout: Double = 60, interval: Double = 0.05, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
    }
    return try await condition()
}

/// GET a URL with the shared client: status code and body text.
public func httpGet(_ url: String, bearer: String? = nil) async throws -> (status: Int, body: String) {
    var request = HTTPClientRequest(url: url)
    if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
    let response = try await sharedHTTPClient.execute(request, timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
    return (Int(response.status.code), String(buffer: body))
}

/// The repository root, found from this file's location.
public let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// kubectl pointed at a KubeSim fixture, with its own HOME (discovery cache).
public struct KubectlEnv: Sendable {
    public let fixture: SimFixture
    public let home: String

    public func kubectl(_ args: String..., input: String? = nil) async throws -> CommandResult {
        try await runCommand("kubectl", args, environment: ["KUBECONFIG": fixture.kubeconfig, "HOME": home], input: input)
    }

    /// `kubectl ferry …`: the plugin found by kubectl's plugin discovery (`kubectl-ferry` on PATH, this build's).
    public func ferry(_ args: String..., input: String? = nil, environment: [String: String] = [:]) async throws -> CommandResult {
        let path = repoRoot + "/.build/debug:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try await runCommand("kubectl", ["ferry"] + args, environment: ["KUBECONFIG": fixture.kubeconfig, "HOME": home, "PATH": path].merging(environment) { _, b in b }, input: input)
    }

    /// `kubectl get OBJECT --watch -o jsonpath={PATH}` in the background: every value the object
    /// takes while it runs, one per line (`stop()` ends it and returns them). Sees each status
    /// write, however slowly a polling test would look on a loaded machine.
    public func watch(_ object: String, _ path: String) throws -> Watching {
        let file = try makeTempDir("kubectl-watch") + "/out"
        FileManager.default.createFile(atPath: file, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["kubectl", "get", object, "--watch", "-o", "jsonpath={\(path)}{\"\\n\"}"]
        var env = ProcessInfo.processInfo.environment
        env["KUBECONFIG"] = fixture.kubeconfig
        env["HOME"] = home
        p.environment = env
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        p.standardError = FileHandle.nullDevice
        try p.run()
        return Watching(process: p, file: file)
    }

    /// A background `kubectl get --watch`.
    public struct Watching: @unchecked Sendable {
        let process: Process
        let file: String
        /// The values seen so far, one per line.
        public var lines: [String] { ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        public func stop() -> [String] {
            process.terminate()
            process.waitUntilExit()
            return lines
        }
    }

    /// `kubectl get OBJECT -o jsonpath={PATH}`.
    public func jsonpath(_ object: String, _ path: String) async throws -> String {
        try await kubectl("get", object, "-o", "jsonpath={\(path)}").stdout
    }

    /// Applies a one-replica Deployment `name` (busybox sleeping) labelled
    /// `app.kubernetes.io/part-of: partOf`, the app a Migration stops and starts.
    public func applyApp(_ name: String = "web", partOf: String) async throws -> CommandResult {
        try await kubectl("apply", "-f", "-", input: """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: \(name), labels: {app.kubernetes.io/part-of: \(partOf)}}
            spec:
              replicas: 1
              selector: {matchLabels: {app: \(name)}}
              template:
                metadata: {labels: {app: \(name)}}
                spec: {terminationGracePeriodSeconds: 1, containers: [{name: \(name), image: busybox, command: [sleep, "3600"]}]}
            """)
    }

    /// Starts KubeSim (HTTPS with client certificates and service-account tokens for pods when `tls`),
    /// runs `body`, stops KubeSim (also when `body` throws).
    /// `images`: KubeSim's image mode (pod image name → local image).
    public static func with(tls: Bool = false, images: [String: String] = [:], _ body: (KubectlEnv) async throws -> Void) async throws {
        let f = try await SimFixture.start { $0.tls = tls; $0.images = images }
        let env = KubectlEnv(fixture: f, home: try makeTempDir("home"))
        do { try await body(env) } catch {
            await f.stop()
            throw error
        }
        await f.stop()
    }
}

/// A TCP port nothing listens on right now (bound to 0 and released), for a helper process to take.
public func freeLocalPort() throws -> Int {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A free TCP port below the kernel's ephemeral range (30000–32767), for a server a test stops
/// and starts again on the same port: a port from the ephemeral range may meanwhile be taken as
/// the local port of any outgoing connection on the machine, and the restart then fails.
public func freeStablePort() throws -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 30000..<32768)
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        close(s)
        if bound == 0 { return port }
    }
    throw TestServersError.startFailed("no free port in 30000–32767")
}

/// A TCP proxy (socat) to a local port, in its own process group: `freeze` (SIGSTOP) stops every
/// connection through it at once, as a frozen server or a cut-off network would.
public struct TCPProxy: Sendable {
    public let port: Int
    public let pid: pid_t

    /// Listens on `port` (a free one when nil) and forwards to 127.0.0.1:`target`.
    public static func start(to target: Int, port: Int? = nil) throws -> TCPProxy {
        let local = try port ?? freeLocalPort()
        let pid = try ProcessSpawn.spawn("socat", ["TCP-LISTEN:\(local),bind=127.0.0.1,reuseaddr,fork", "TCP:127.0.0.1:\(target)"],
                                         environment: ["PATH": "/usr/bin:/bin"], fileActions: [], newSession: true)
        return TCPProxy(port: local, pid: pid)
    }

    public func freeze() { kill(-pid, SIGSTOP) }
    public func thaw() { kill(-pid, SIGCONT) }

    /// Ends it (also when frozen) and waits for it.
    public func stop() {
        kill(-pid, SIGCONT)
        kill(-pid, SIGKILL)
        _ = ProcessSpawn.waitStatus(pid)
    }
}

/// A TLS front (socat) for a local plain-HTTP port, its certificate for 127.0.0.1 signed by a CA
/// made for it: `caFile` is what a client must be given to trust it.
public struct TLSProxy: Sendable {
    public let proxy: TCPProxy
    public let caFile: String
    public var endpoint: String { "https://127.0.0.1:\(proxy.port)" }

    public static func start(to target: Int) async throws -> TLSProxy {
        let dir = try makeTempDir("tls-proxy")
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Ferry test CA", "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.crt"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr"],
            ["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", "\(dir)/san.cnf", "-out", "\(dir)/server.crt"],
        ]
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(dir)/san.cnf", atomically: true, encoding: .utf8)
        for args in steps {
            let r = try await runCommand("/usr/bin/openssl", args, timeout: 60)
            guard r.status == 0 else { throw TestServersError.startFailed("openssl: \(r.combined)") }
        }
        let pem = try String(contentsOfFile: "\(dir)/server.crt", encoding: .utf8) + String(contentsOfFile: "\(dir)/server.key", encoding: .utf8)
        try pem.write(toFile: "\(dir)/server.pem", atomically: true, encoding: .utf8)
        let local = try freeLocalPort()
        let pid = try ProcessSpawn.spawn("socat", ["OPENSSL-LISTEN:\(local),bind=127.0.0.1,reuseaddr,fork,cert=\(dir)/server.pem,verify=0", "TCP:127.0.0.1:\(target)"],
                                         environment: ["PATH": "/usr/bin:/bin"], fileActions: [], newSession: true)
        let tls = TLSProxy(proxy: TCPProxy(port: local, pid: pid), caFile: "\(dir)/ca.crt")
        // Listening once a connection is taken.
        for _ in 0..<100 {
            if (try? await runCommand("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(local)", "-CAfile", tls.caFile], input: "", timeout: 10))?.status == 0 { return tls }
            try await Task.sleep(for: .milliseconds(100))
        }
        tls.proxy.stop()
        throw TestServersError.startFailed("the TLS proxy on \(local) did not answer")
    }

    public func stop() { proxy.stop() }
}
