import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress of `ferry export` per phase: a redrawn bar on a terminal, plain
/// lines otherwise (logs, CI). Thread-safe.
public final class ExportProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let tty: Bool
    private let write: @Sendable (String) -> Void
    private var phase = ""
    private var done = 0
    private var total = 0
    private var unit = ""
    private var lastDraw = Date.distantPast

    public init(tty: Bool = isatty(STDERR_FILENO) == 1, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.tty = tty
        self.write = write
    }

    /// `[####------] 4/10 databases`
    static func bar(done: Int, total: Int, width: Int = 24) -> String {
        let filled = total > 0 ? min(width, done * width / total) : width
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }

    public func begin(_ phase: String, total: Int, unit: String) {
        lock.withLock {
            finishLine()
            self.phase = phase
            self.done = 0
            self.total = total
            self.unit = unit
            draw(force: true, note: nil)
        }
    }

    /// One item finished (`note`: what, e.g. a database name and its size).
    public func step(_ note: String) {
        lock.withLock {
            done += 1
            draw(force: !tty, note: note)
        }
    }

    /// A line that stays (skips, warnings, the summary).
    public func say(_ line: String) {
        lock.withLock {
            finishLine()
            write(line + "\n")
            if tty && !phase.isEmpty { draw(force: true, note: nil) }
        }
    }

    public func end() {
        lock.withLock {
            if tty && !phase.isEmpty { draw(force: true, note: nil); write("\n") }
            phase = ""
        }
    }

    private func finishLine() {
        if tty && !phase.isEmpty { write("\r\u{1B}[K") }
    }

    private func draw(force: Bool, note: String?) {
        let now = Date()
        if tty {
            guard force || now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
            lastDraw = now
            write("\r\u{1B}[K\(phase) \(Self.bar(done: done, total: total)) \(done)/\(total) \(unit)\(note.map { "  \($0)" } ?? "")")
        } else if let note {
            write("\(phase): \(done)/\(total) \(unit): \(note)\n")
        } else {
            write("\(phase): \(total) \(unit)\n")
        }
    }
}
