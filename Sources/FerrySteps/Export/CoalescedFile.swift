import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A JSON file rewritten as a value changes, off the caller's path: `save` hands the latest value
/// over and returns; one writer at a time writes it to `<path>.tmp` and renames that over `path`.
/// A value handed over while a write is under way replaces any not yet written, so a burst of
/// saves costs one or two writes, and the file never goes back to an older value. `sync` returns
/// once the latest value is on disk. A write that failed is thrown by the next `save` or `sync`.
final class CoalescedFile<Value: Encodable & Sendable>: @unchecked Sendable {  // state under `condition`
    let path: String
    private let condition = NSCondition()
    private let queue = DispatchQueue(label: "ferry.coalesced-file")
    private var pending: Value?
    private var writing = false
    private var failure: Error?
    /// Hears each value once it is on disk (on the writer's thread).
    private var written: (@Sendable (Value) -> Void)?

    init(_ path: String) { self.path = path }

    /// Hands `value` over to be written; returns at once.
    func save(_ value: Value) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        pending = value
        guard !writing else { return }
        writing = true
        queue.async { self.drain() }
    }

    /// Hands `value` over and waits until it is on disk.
    func sync(_ value: Value) throws {
        try save(value)
        try flush()
    }

    /// Waits until every value handed over is on disk.
    func flush() throws {
        condition.lock()
        defer { condition.unlock() }
        while writing { condition.wait() }
        if let failure { throw failure }
    }

    func onWritten(_ body: (@Sendable (Value) -> Void)?) {
        condition.lock()
        written = body
        condition.unlock()
    }

    private func drain() {
        condition.lock()
        while let value = pending {
            pending = nil
            let heard = written
            condition.unlock()
            let result = Result { try Self.write(value, to: path) }
            if case .success = result { heard?(value) }
            condition.lock()
            if case .failure(let error) = result {
                failure = error
                pending = nil
            }
        }
        writing = false
        condition.broadcast()
        condition.unlock()
    }

    private static func write(_ value: Value, to path: String) throws {
        let data = try JSONEncoder().encode(value)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StepError.io("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { try writeAll(fd, $0, path: tmp) }
        guard rename(tmp, path) == 0 else { throw StepError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}
