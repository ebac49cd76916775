import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// One client connection kept open, so statements share a session (a transaction across
/// queries: `START TRANSACTION WITH CONSISTENT SNAPSHOT`, then reads at that snapshot). Each
/// query's answer ends at a marker row the session asks for after it. Blocking: use from a
/// dedicated thread.
final class MySQLSession {
    private let client: MySQLClient
    private let child: ChildProcess
    private let output: Int32
    private var buffer: [UInt8] = []
    /// Where in `buffer` the last line not yet searched for the marker starts.
    private var searched = 0
    private var asked = 0
    private var exitCode: Int32?

    init(_ client: MySQLClient) throws {
        self.client = client
        child = try client.start(database: nil, extra: ["--skip-column-names", "--unbuffered"])
        output = open(child.stdoutPath, O_RDONLY | O_CLOEXEC)
        guard output >= 0 else {
            _ = child.wait()
            child.removeOutputs()
            throw StepError.io("cannot read the client's output \(child.stdoutPath): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close() }

    /// Ends the session (an open transaction is rolled back by the server).
    func close() {
        if exitCode == nil {
            child.closeStdin()
            exitCode = ProcessSpawn.exitCode(ProcessSpawn.waitStatus(child.pid))
            Glibc.close(output)
            child.removeOutputs()
        }
    }

    /// Runs `sql` (one or more statements) in this session and returns the rows it printed,
    /// tab-separated fields unescaped. An error ends the session and is thrown, with the server.
    func query(_ sql: String, what: String, timeout: TimeInterval = 3600) throws -> [[String]] {
        guard exitCode == nil else { throw StepError.target("\(what) on \(client.endpoint.host):\(client.endpoint.port): the session has ended") }
        asked += 1
        let marker = "ferry-session-end-\(asked)"
        guard child.write("\(sql);\nSELECT '\(marker)';\n") else { throw ended(what) }
        let deadline = Date().addingTimeInterval(timeout)
        let end = Array((marker + "\n").utf8)
        var chunk = [UInt8](repeating: 0, count: 65536)
        var pause: UInt32 = 200
        while true {
            if let at = Self.lineStart(of: end, in: buffer, from: searched) {
                let text = String(decoding: buffer[..<at], as: UTF8.self)
                buffer.removeSubrange(..<(at + end.count))
                searched = 0
                return text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }.map { line in
                    line.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape(String($0)) }
                }
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if n > 0 {
                searched = (buffer.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
                buffer.append(contentsOf: chunk[..<n])
                pause = 200
                continue
            }
            var status: Int32 = 0
            if waitpid(child.pid, &status, WNOHANG) == child.pid {
                // Drain what it wrote before it ended, then say why it ended.
                exitCode = ProcessSpawn.exitCode(status)
                while case let n = chunk.withUnsafeMutableBytes({ Glibc.read(output, $0.baseAddress, $0.count) }), n > 0 { buffer.append(contentsOf: chunk[..<n]) }
                if Self.lineStart(of: end, in: buffer, from: 0) != nil { continue }
                let message = MySQLClient.failure(child, what: what, endpoint: client.endpoint, code: exitCode ?? -1)
                Glibc.close(output)
                child.removeOutputs()
                throw StepError.target(message)
            }
            guard Date() < deadline else {
                kill(child.pid, SIGKILL)
                throw StepError.target("\(what) on \(client.endpoint.host):\(client.endpoint.port) did not answer within \(Int(timeout)) s")
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    private func ended(_ what: String) -> StepError {
        close()
        return StepError.target("\(what) on \(client.endpoint.host):\(client.endpoint.port): the client ended (exit \(exitCode ?? -1))")
    }

    /// Where a line equal to `line` (newline included) starts in `bytes`, looking at the lines
    /// from `from` (a line start) on.
    static func lineStart(of line: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        var at = from
        while at + line.count <= bytes.count {
            if (at == 0 || bytes[at - 1] == UInt8(ascii: "\n")) && bytes[at..<(at + line.count)].elementsEqual(line) { return at }
            guard let next = bytes[at...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            at = next + 1
        }
        return nil
    }
}
