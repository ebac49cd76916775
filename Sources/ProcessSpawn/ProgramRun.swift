import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension ProcessSpawn {
    /// What a program printed and how it ended.
    public struct Output: Sendable {
        /// Exit code (128 + signal when signalled).
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
    }

    /// Runs a program to completion with `input` on its stdin, capturing stdout and stderr
    /// (read concurrently, so neither can fill up and stall the child). After `timeout`
    /// seconds the child gets SIGTERM. Blocking: see ``run(_:_:environment:input:timeout:)``.
    public static func runBlocking(_ program: String, _ arguments: [String], environment: [String: String], input: Data? = nil, timeout: Double? = nil) throws -> Output {
        let stdinPipe = try pipe(), output = try pipe(), errors = try pipe()
        let pid: pid_t
        do {
            pid = try spawn(program, arguments, environment: environment,
                            fileActions: [.dup(stdinPipe.read, to: 0), .dup(output.write, to: 1), .dup(errors.write, to: 2)])
        } catch {
            for fd in [stdinPipe.read, stdinPipe.write, output.read, output.write, errors.read, errors.write] { close(fd) }
            throw error
        }
        for fd in [stdinPipe.read, output.write, errors.write] { close(fd) }
        let group = DispatchGroup()
        let captured = CapturedOutput()
        for (fd, isOut) in [(output.read, true), (errors.read, false)] {
            group.enter()
            Thread.detachNewThread {
                captured.set(readToEnd(fd), stdout: isOut)
                close(fd)
                group.leave()
            }
        }
        let writer = FileHandle(fileDescriptor: stdinPipe.write, closeOnDealloc: true)
        if let input { try? writer.write(contentsOf: input) }
        try? writer.close()
        let exited = CapturedOutput()
        if let timeout {
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(timeout)
                while !exited.done {
                    if Date() > deadline { kill(pid, SIGTERM); return }
                    usleep(50_000)
                }
            }
        }
        let status = waitStatus(pid)
        exited.finish()
        // The pipes may be held open by daemons the program started: wait a moment, not forever.
        _ = group.wait(timeout: .now() + 5)
        let (out, err) = captured.values
        return Output(status: exitCode(status), stdout: out, stderr: err)
    }

    /// Reads until end of file, retrying reads a signal interrupted (Foundation's
    /// `readDataToEndOfFile` traps on EINTR).
    static func readToEnd(_ fd: Int32) -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { data.append(contentsOf: chunk[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            return data
        }
    }

    /// ``runBlocking(_:_:environment:input:timeout:)`` on a dedicated thread, so waiting never
    /// holds one of Swift concurrency's few pool threads.
    public static func run(_ program: String, _ arguments: [String], environment: [String: String], input: Data? = nil, timeout: Double? = nil) async throws -> Output {
        try await onThread { try runBlocking(program, arguments, environment: environment, input: input, timeout: timeout) }
    }

    /// Runs blocking work on a new thread and awaits it without holding a cooperative-pool thread.
    public static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

/// Output captured by reader threads, and a done flag.
final class CapturedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data(), err = Data(), finished = false
    func set(_ data: Data, stdout: Bool) { lock.withLock { if stdout { out = data } else { err = data } } }
    var values: (Data, Data) { lock.withLock { (out, err) } }
    func finish() { lock.withLock { finished = true } }
    var done: Bool { lock.withLock { finished } }
}
