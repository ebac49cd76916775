import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// `zstd -1` between a writer and a new file: bytes written go to zstd's stdin; a thread of its
/// own drains zstd's output into a ``HashingWriter``, so the compressed file's sha256 is taken as
/// it is written. Blocking.
final class Compressor: @unchecked Sendable {
    let path: String
    private let pid: pid_t
    private let input: Int32
    private let done = DispatchSemaphore(value: 0)
    private let drained = Locked<Result<(String, Int64), Error>?>(nil)
    private var finished = false

    init(_ path: String) throws {
        guard let program = MySQLClient.findProgram(["zstd"]) else {
            throw StepError.configuration("mysql.compression: zstd is not installed here; install the zstd package, or leave compression out")
        }
        self.path = path
        let writer = try HashingWriter(path)
        let inPipe = try ProcessSpawn.pipe()
        let outPipe: (read: Int32, write: Int32)
        do { outPipe = try ProcessSpawn.pipe() } catch { close(inPipe.read); close(inPipe.write); throw error }
        do {
            pid = try ProcessSpawn.spawn(program, ["-q", "-1", "-c", "--no-progress"], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
                                         fileActions: [.dup(inPipe.read, to: 0), .dup(outPipe.write, to: 1), .open(2, path: "/dev/null", flags: O_WRONLY, mode: 0)])
        } catch {
            for fd in [inPipe.read, inPipe.write, outPipe.read, outPipe.write] { close(fd) }
            throw StepError.io("cannot start zstd: \(error)")
        }
        close(inPipe.read)
        close(outPipe.write)
        input = inPipe.write
        let source = outPipe.read
        let drained = self.drained, done = self.done
        Thread.detachNewThread {
            let r = Result { () throws -> (String, Int64) in
                defer { close(source) }
                try writer.drain(source)
                return (writer.finish(), writer.count)
            }
            drained.withLock { $0 = r }
            done.signal()
        }
    }

    deinit {
        if !finished {
            close(input)
            kill(pid, SIGKILL)
            _ = ProcessSpawn.waitStatus(pid)
            done.wait()
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeAll(input, bytes, path: "zstd's input for \(path)")
    }

    /// Ends the input; the compressed file's sha256 and size once zstd is done.
    func finish() throws -> (sha256: String, bytes: Int64) {
        finished = true
        close(input)
        done.wait()
        let code = ProcessSpawn.exitCode(ProcessSpawn.waitStatus(pid))
        let result = try drained.withLock { $0 }!.get()
        guard code == 0 else { throw StepError.io("zstd failed (exit \(code)) compressing \(path)") }
        return result
    }
}
