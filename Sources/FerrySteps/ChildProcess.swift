import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A client program (mariadb, ...) started with a pipe on its stdin and its
/// stdout and stderr written to files, found on PATH, with default signal
/// handling whatever this process set. Blocking: call from a dedicated
/// thread, never from Swift concurrency's pool.
final class ChildProcess {
    let pid: pid_t
    /// Write end of the child's stdin (-1 when closed or not piped).
    private(set) var stdinFD: Int32
    let stdoutPath: String
    let stderrPath: String
    let program: String

    /// Starts `program args`. `outputDirectory` receives the stdout/stderr files.
    init(_ program: String, _ args: [String], pipeStdin: Bool, outputDirectory: String, environment: [String: String]? = nil) throws {
        ChildProcess.ignoreSIGPIPE
        self.program = program
        let tag = UUID().uuidString.prefix(8)
        stdoutPath = "\(outputDirectory)/\(program)-\(tag).out"
        stderrPath = "\(outputDirectory)/\(program)-\(tag).err"
        var fds: [Int32] = [-1, -1]
        if pipeStdin {
            guard pipe(&fds) == 0 else { throw StepError.io("cannot create a pipe: \(String(cString: strerror(errno)))") }
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        }
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
        if pipeStdin {
            posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
            posix_spawn_file_actions_addclose(&actions, fds[0])
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([program] + args).map { strdup($0) } + [nil]
        let env = environment ?? ProcessInfo.processInfo.environment
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, program, &actions, &attr, argv, envp)
        if pipeStdin { close(fds[0]) }
        guard rc == 0 else {
            if pipeStdin { close(fds[1]) }
            throw StepError.io("cannot start \(program): \(String(cString: strerror(rc))) (is it installed and on PATH?)")
        }
        pid = child
        stdinFD = pipeStdin ? fds[1] : -1
    }

    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN); return () }()

    /// Writes all bytes to the child's stdin; false when the child stopped reading (it exited).
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard stdinFD >= 0, var base = bytes.baseAddress else { return stdinFD >= 0 }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(stdinFD, base, left)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            left -= n
            base += n
        }
        return true
    }

    func write(_ text: String) -> Bool {
        var copy = text
        return copy.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    func closeStdin() {
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
    }

    /// Closes stdin, waits, and returns the exit code (128 + signal when signalled).
    func wait() -> Int32 {
        closeStdin()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func removeOutputs() {
        unlink(stdoutPath)
        unlink(stderrPath)
    }
}

/// Runs blocking work on a new thread and awaits it without holding a cooperative-pool thread.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
    }
}
