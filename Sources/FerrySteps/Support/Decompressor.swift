import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// `zstd -dc FILE` (or `gzip -dc FILE`) with its output on a pipe: read it in chunks as it comes (blocking: from a
/// thread of its own, or through ``chunks()``). Its error output goes to a private file.
final class Decompressor: @unchecked Sendable {
    let pid: pid_t
    let fd: Int32
    let path: String
    private let stderrPath: String
    private var finished = false

    let tool: String

    init(_ path: String, tool: String = "zstd") throws {
        guard let program = MySQLClient.findProgram([tool]) else {
            throw StepError.configuration("\(tool) is not installed, and \(path) is \(tool)-compressed: install the \(tool) package (the Ferry image has it)")
        }
        self.tool = tool
        let out = try ProcessSpawn.pipe()
        self.path = path
        stderrPath = NSTemporaryDirectory() + "/ferry-zstd-\(UUID().uuidString.prefix(8)).err"
        do {
            pid = try ProcessSpawn.spawn(program, (tool == "zstd" ? ["-dc", "-q", "--no-progress", "--"] : ["-dc", "--"]) + [path], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
                                         fileActions: [.open(0, path: "/dev/null", flags: O_RDONLY, mode: 0), .dup(out.write, to: 1),
                                                       .open(2, path: stderrPath, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)])
        } catch {
            close(out.read)
            close(out.write)
            throw StepError.io("cannot start \(tool): \(error)")
        }
        close(out.write)
        fd = out.read
    }

    deinit {
        if !finished { kill(pid, SIGKILL); _ = ProcessSpawn.waitStatus(pid) }
        close(fd)
        unlink(stderrPath)
    }

    /// Up to `into.count` bytes; 0 at the end. Blocking.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw StepError.io("reading the decompressed \(path): \(String(cString: strerror(errno)))") }
        }
    }

    /// Waits for zstd; throws its own message when it failed (a damaged or truncated file).
    func finish() throws {
        finished = true
        let code = ProcessSpawn.exitCode(ProcessSpawn.waitStatus(pid))
        guard code == 0 else {
            let message = ((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            throw StepError.badPackage("\(path) does not decompress (\(tool) exit \(code): \(message.suffix(300))); the file is damaged or not \(tool): export it again")
        }
    }

    /// Stops early (after reading what was wanted).
    func stop() {
        finished = true
        kill(pid, SIGKILL)
        _ = ProcessSpawn.waitStatus(pid)
    }

    /// The first `count` decompressed bytes of a file (or all, when shorter).
    static func head(_ path: String, count: Int = 65_536) throws -> [UInt8] {
        let d = try Decompressor(path)
        var out = [UInt8](repeating: 0, count: count)
        var have = 0
        while have < count {
            let n = try out.withUnsafeMutableBytes { try d.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[have...])) }
            if n == 0 { break }
            have += n
        }
        if have < count { try d.finish() } else { d.stop() }
        return Array(out.prefix(have))
    }
}
