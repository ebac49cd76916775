import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// A client program (mariadb, ...) started with a pipe on its stdin and its
/// stdout and stderr written to files (no pipe to drain, so no deadlock),
/// found on PATH. Blocking: call from a dedicated thread, never from Swift
/// concurrency's pool.
final class ChildProcess {
    let pid: pid_t
    /// Write end of the child's stdin (-1 when closed or not piped).
    private(set) var stdinFD: Int32
    let stdoutPath: String
    let stderrPath: String
    let program: String

    /// Starts `program args`. `outputDirectory` receives the stdout/stderr files.
    /// `inherit`: a descriptor the child gets as fd 3 (a secret's memory file: `/dev/fd/3`).
    /// `stdout`: a descriptor the child writes its output to instead of the file (a pipe's write end).
    init(_ program: String, _ args: [String], pipeStdin: Bool, outputDirectory: String, environment: [String: String]? = nil, inherit: Int32? = nil, stdout: Int32? = nil) throws {
        ChildProcess.ignoreSIGPIPE
        self.program = program
        let tag = UUID().uuidString.prefix(8)
        stdoutPath = "\(outputDirectory)/\(program)-\(tag).out"
        stderrPath = "\(outputDirectory)/\(program)-\(tag).err"
        let stdinPipe = pipeStdin ? try ProcessSpawn.pipe() : nil
        var actions: [ProcessSpawn.FileAction] = [
            stdout.map { .dup($0, to: 1) } ?? .open(1, path: stdoutPath, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600),
            .open(2, path: stderrPath, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600),
        ]
        actions.insert(stdinPipe.map { .dup($0.read, to: 0) } ?? .open(0, path: "/dev/null", flags: O_RDONLY, mode: 0), at: 0)
        if let inherit { actions.append(.dup(inherit, to: 3)) }
        do {
            pid = try ProcessSpawn.spawn(program, args, environment: environment ?? ProcessInfo.processInfo.environment, fileActions: actions)
        } catch {
            if let stdinPipe { close(stdinPipe.read); close(stdinPipe.write) }
            throw StepError.io("\(error) (is it installed and on PATH?)")
        }
        if let stdinPipe { close(stdinPipe.read) }
        stdinFD = stdinPipe?.write ?? -1
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
        return ProcessSpawn.exitCode(ProcessSpawn.waitStatus(pid))
    }

    /// The outputs as text; bytes that are not UTF-8 (a latin1 value in a server's message) are
    /// replaced, never the whole text lost.
    var stdout: String { Self.text(stdoutPath) }
    var stderr: String { Self.text(stderrPath) }

    static func text(_ path: String) -> String {
        (FileManager.default.contents(atPath: path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    func removeOutputs() {
        unlink(stdoutPath)
        unlink(stderrPath)
    }
}
