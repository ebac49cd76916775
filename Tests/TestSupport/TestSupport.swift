import AsyncHTTPClient
import NIOCore
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

/// A new empty folder under the system temporary directory.
public func makeTempDir(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
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
    return try await withCheckedThrowingContinuation { cont in
        // A dedicated thread: blocking waits must not occupy Dispatch's or Swift's shared pools.
        Thread.detachNewThread {
            do {
                cont.resume(returning: try runCommandBlocking(executable, args, environment: environment, input: input, timeout: timeout))
            } catch {
                cont.resume(throwing: error)
            }
        }
    }
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

/// posix_spawn + waitpid rather than Foundation's Process: Process on Linux
/// sometimes misses a child's exit (its SIGCHLD source never fires) and
/// waits forever on a zombie.
func runCommandBlocking(_ executable: String, _ args: [String], environment: [String: String], input: String?, timeout: Double) throws -> CommandResult {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    var inFDs: [Int32] = [-1, -1], outFDs: [Int32] = [-1, -1], errFDs: [Int32] = [-1, -1]
    guard pipe(&inFDs) == 0, pipe(&outFDs) == 0, pipe(&errFDs) == 0 else { throw POSIXError(.EMFILE) }
    for fd in [inFDs[1], outFDs[0], errFDs[0]] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attr, &all)
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inFDs[0], 0)
    posix_spawn_file_actions_adddup2(&actions, outFDs[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errFDs[1], 2)
    for fd in [inFDs[0], outFDs[1], errFDs[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
    let argv = ([executable] + args).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for p in argv { free(p) }
        for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, executable, &actions, &attr, argv, envp)
    for fd in [inFDs[0], outFDs[1], errFDs[1]] { close(fd) }
    guard rc == 0 else {
        for fd in [inFDs[1], outFDs[0], errFDs[0]] { close(fd) }
        throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .ENOENT)
    }
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    for (fd, isOut) in [(outFDs[0], true), (errFDs[0], false)] {
        group.enter()
        Thread.detachNewThread {
            let data = FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile()
            if isOut { outData = data } else { errData = data }
            group.leave()
        }
    }
    let writer = FileHandle(fileDescriptor: inFDs[1], closeOnDealloc: true)
    if let input { try? writer.write(contentsOf: Data(input.utf8)) }
    try? writer.close()
    let exited = ManagedAtomicFlag()
    let child = pid
    Thread.detachNewThread {
        let deadline = Date().addingTimeInterval(timeout)
        while !exited.isSet {
            if Date() > deadline { kill(child, SIGTERM); return }
            usleep(50_000)
        }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    exited.set()
    // Output pipes may be held open by daemons the command started: wait a moment, not forever.
    _ = group.wait(timeout: .now() + 5)
    let signal = status & 0x7f
    let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
    return CommandResult(status: code, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// A flag set once, read from other threads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Waits for a started process to exit without blocking the cooperative pool.
public func waitForExit(_ process: Process) async {
    await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
        Thread.detachNewThread {
            process.waitUntilExit()
            cont.resume()
        }
    }
}

/// Polls `condition` until it is true or `timeout` passes.
public func eventually(timeout: Double = 10, interval: Double = 0.05, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
    }
    return try await condition()
}

/// GET a URL with the shared client: status code and body text.
public func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let response = try await sharedHTTPClient.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
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

    /// `kubectl get OBJECT -o jsonpath={PATH}`.
    public func jsonpath(_ object: String, _ path: String) async throws -> String {
        try await kubectl("get", object, "-o", "jsonpath={\(path)}").stdout
    }

    /// Starts KubeSim, runs `body`, stops KubeSim (also when `body` throws).
    public static func with(_ body: (KubectlEnv) async throws -> Void) async throws {
        let f = try await SimFixture.start()
        let env = KubectlEnv(fixture: f, home: try makeTempDir("home"))
        do { try await body(env) } catch {
            await f.stop()
            throw error
        }
        await f.stop()
    }
}
