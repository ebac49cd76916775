import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Records every change under a source tree into its ``ChangeJournal``: a thread polls the
/// kernel's events (``ChangeSource``), appends them, and writes and fsyncs in batches (every
/// 100 ms, or sooner when 4,096 are waiting). It holds an exclusive lock on the journal: one
/// watcher per journal. A flush request (``requestFlush(journal:)`` from another process, or
/// ``flush(nonce:)`` in this one) is answered once every event queued before it is on disk.
public final class JournalWatcher: @unchecked Sendable {
    public let root: [UInt8]
    /// The root as the session records it (``JournalVerdict/place(_:)``).
    public let place: [UInt8]
    public let journal: String
    public var mechanism: String { source.mechanism }

    private let source: ChangeSource
    private let fd: Int32
    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var pendingRecords = 0
    private var recent = Set<[UInt8]>()
    private var recorded: Int64 = 0
    private var lastAlive: Int64 = 0
    private var lastRequest: String?
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    private var failure: String?

    /// Opens (or creates) the journal and starts watching. Throws when the journal cannot be
    /// written or is held by another watcher, or the tree cannot be watched.
    public init(root: String, journal: String, say: @escaping @Sendable (String) -> Void = { print($0) }) throws {
        guard let real = realpath(root, nil) else { throw StepError.configuration("the watched folder \(root) cannot be resolved: \(String(cString: strerror(errno)))") }
        // The bytes as they are (a name need not be UTF-8).
        self.root = Array(UnsafeRawBufferPointer(start: real, count: strlen(real)).bindMemory(to: UInt8.self))
        free(real)
        place = JournalVerdict.place(root)
        self.journal = journal
        let fd = open(journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StepError.configuration("the journal \(journal) cannot be written (\(String(cString: strerror(errno)))): give a writable folder for it (--journal)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StepError.configuration("the journal \(journal) is held by another watcher; stop it first, or give another journal")
        }
        self.fd = fd
        // The session starts before anything of the tree is read: every later change is in it.
        // A tree no mechanism can watch gets an untrusted journal: the final pass walks it all.
        var refusal: String?
        do {
            source = try ChangeSources.open(root: self.root, note: say)
        } catch {
            source = UnwatchedSource()
            refusal = "\(error)"
        }
        append(.session(ms: ChangeJournal.now(), mechanism: source.mechanism, root: place))
        if let refusal { append(.untrusted(ms: ChangeJournal.now(), reason: refusal)) }
        do {
            try writeOut()
        } catch {
            close(fd)
            throw StepError.configuration("the journal \(journal) cannot be written (\(error)): give a writable folder for it (--journal)")
        }
        say(refusal.map { "cannot watch \(String(decoding: self.root, as: UTF8.self)): \($0); the final pass will walk the whole tree" }
            ?? "watching \(String(decoding: self.root, as: UTF8.self)) with \(source.mechanism); journal \(journal)")
    }

    /// Starts the event thread.
    public func start() {
        let t = Thread { [self] in loop() }
        t.stackSize = 1 << 20
        thread = t
        t.start()
    }

    /// Paths recorded so far (a path written twice in a row counts once).
    public var pathsRecorded: Int64 { lock.lock(); defer { lock.unlock() }; return recorded }

    /// Why the watcher stopped on its own (the journal could not be written), if it did.
    public var failed: String? { lock.lock(); defer { lock.unlock() }; return failure }

    /// Drains what the kernel has queued, then records `nonce` as answered, on disk.
    public func flush(nonce: String) throws {
        lock.lock()
        defer { lock.unlock() }
        drainLocked()
        append(.flushed(nonce))
        try writeOut()
    }

    /// Appends a record of the caller's (a pass that copied the whole tree), after what is queued.
    public func record(_ record: ChangeJournal.Record) throws {
        lock.lock()
        defer { lock.unlock() }
        drainLocked()
        append(record)
        try writeOut()
    }

    /// Drains, records a clean end, and closes the journal.
    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        if thread != nil { done.wait() }
        lock.lock()
        defer { lock.unlock() }
        drainLocked()
        append(.ended(ms: ChangeJournal.now()))
        try? writeOut()
        source.close()
        close(fd)
    }

    private func loop() {
        defer { done.signal() }
        var poller = pollfd(fd: source.descriptor, events: Int16(POLLIN), revents: 0)
        var lastWrite = ChangeJournal.now()
        while true {
            // Woken by the kernel's events, else every 20 ms: a flush request is answered soon.
            _ = poll(&poller, 1, 20)
            lock.lock()
            if stopping {
                lock.unlock()
                return
            }
            drainLocked()
            let now = ChangeJournal.now()
            if now - lastAlive >= 1000 {
                append(.alive(ms: now))
                lastAlive = now
            }
            if let nonce = Self.readRequest(journal), nonce != lastRequest {
                lastRequest = nonce
                drainLocked()
                append(.flushed(nonce))
            }
            if pendingRecords > 0 && (now - lastWrite >= 100 || pendingRecords >= 4096 || pending.count >= 1 << 20) {
                do {
                    try writeOut()
                } catch {
                    failure = "\(error)"
                    lock.unlock()
                    return
                }
                lastWrite = now
            }
            lock.unlock()
        }
    }

    private func drainLocked() {
        source.drain { event in
            switch event {
            case .changed(let path):
                // A file written in many calls gives many events; once is enough until the next batch.
                if recent.insert(path).inserted {
                    append(.changed(path))
                    recorded += 1
                }
                if recent.count >= 65536 { recent.removeAll(keepingCapacity: true) }
            case .untrusted(let reason): append(.untrusted(ms: ChangeJournal.now(), reason: reason))
            }
            if pendingRecords >= 4096, (try? writeOut()) == nil { failure = failure ?? "the journal \(journal) cannot be written" }
        }
    }

    private func append(_ record: ChangeJournal.Record) {
        pending += ChangeJournal.encode(record)
        pendingRecords += 1
    }

    /// Writes the batch and syncs it.
    private func writeOut() throws {
        guard !pending.isEmpty else { return }
        var offset = 0
        while offset < pending.count {
            let n = pending.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                // What is on disk stays; the rest is written next time, starting with the whole
                // record that was cut (a NUL first ends the cut piece as a record of its own).
                let cut = pending[..<offset].lastIndex(of: 0).map { $0 + 1 } ?? 0
                if offset > 0 {
                    pending = (cut < offset ? [0] : []) + Array(pending[cut...])
                    pendingRecords = max(1, pendingRecords)
                }
                throw StepError.io("the journal \(journal) cannot be written: \(String(cString: strerror(e)))")
            }
            offset += n
        }
        guard fdatasync(fd) == 0 else { throw StepError.io("the journal \(journal) cannot be synced: \(String(cString: strerror(errno)))") }
        pending.removeAll(keepingCapacity: true)
        pendingRecords = 0
        recent.removeAll(keepingCapacity: true)
    }

    // MARK: flush requests between processes

    /// The file a consumer writes a nonce into; the watcher answers with an `F<nonce>` record.
    public static func requestFile(_ journal: String) -> String { journal + ".flush" }

    static func readRequest(_ journal: String) -> String? {
        guard let data = FileManager.default.contents(atPath: requestFile(journal)), data.count <= 64 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// Whether a watcher holds the journal now.
    public static func isHeld(_ journal: String) -> Bool {
        let fd = open(journal, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0
    }

    /// Asks the watcher of `journal` (in any process) to flush, and waits up to `timeout` for
    /// its answer. Returns the verdict on the journal for `root`: untrusted at once when no
    /// watcher holds the journal.
    public static func flushAndJudge(journal: String, root: String, target: String, removing: Bool = false, timeout: TimeInterval = 30) -> JournalVerdict {
        let rootBytes = JournalVerdict.place(root), target = JournalVerdict.place(target)
        guard FileManager.default.fileExists(atPath: journal) else { return JournalVerdict.of([], root: rootBytes, target: target, flushed: nil, removing: removing) }
        var answered: String?
        if isHeld(journal) {
            let nonce = UUID().uuidString
            let request = requestFile(journal)
            // Only what is appended after the request can hold the answer.
            let from = (try? FileManager.default.attributesOfItem(atPath: journal)[.size] as? Int) ?? 0
            let answer = [0] + ChangeJournal.encode(.flushed(nonce))
            if (try? Data(nonce.utf8).write(to: URL(fileURLWithPath: request + ".tmp"))) != nil, rename(request + ".tmp", request) == 0,
               let handle = FileHandle(forReadingAtPath: journal) {
                defer { try? handle.close() }
                let deadline = Date().addingTimeInterval(timeout)
                while Date() < deadline {
                    try? handle.seek(toOffset: UInt64(max(0, from - 1)))
                    var tail = [UInt8](handle.readDataToEndOfFile())
                    if from == 0 { tail.insert(0, at: 0) }
                    if tail.count >= answer.count, tail.indices.dropLast(answer.count - 1).contains(where: { tail[$0] == 0 && tail[$0..<($0 + answer.count)].elementsEqual(answer) }) {
                        answered = nonce
                        break
                    }
                    usleep(10_000)
                }
            }
        }
        return JournalVerdict.of(ChangeJournal.read(journal) ?? [], root: rootBytes, target: target, flushed: answered, removing: removing)
    }
}
