import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The change journal of one source tree: an append-only file of NUL-terminated records, each
/// a tag byte and its text. A watcher (``JournalWatcher``) appends; the final pass reads it.
///
///     S<ms> <mechanism> <root>   a watcher session started (root: the absolute source folder)
///     C<relative path>           this path was created, written, renamed or deleted: look at it
///     T<ms>                      the watcher was alive at this time
///     U<ms> <reason>             untrusted from here (queue overflow, root gone)
///     F<nonce>                   everything up to a flush request with this nonce is above
///     P<ms> <target>             a pass that began at ms copied the whole tree into target, every file
///     R<ms> <target>             the same, and it removed from target what the tree does not hold
///     E<ms>                      the watcher stopped cleanly
///
/// A record torn by a crash (no NUL before the end of the file) is left out.
public enum ChangeJournal {
    public enum Record: Equatable, Sendable {
        case session(ms: Int64, mechanism: String, root: [UInt8])
        case changed([UInt8])
        case alive(ms: Int64)
        case untrusted(ms: Int64, reason: String)
        case flushed(String)
        case passed(ms: Int64, target: [UInt8], removed: Bool = false)
        case ended(ms: Int64)
    }

    /// The bytes of one record, NUL-terminated. A path holds no NUL (the kernel never gives one).
    public static func encode(_ record: Record) -> [UInt8] {
        var out: [UInt8]
        switch record {
        case .session(let ms, let mechanism, let root): out = [UInt8(ascii: "S")] + Array("\(ms) \(mechanism) ".utf8) + root
        case .changed(let path): out = [UInt8(ascii: "C")] + path
        case .alive(let ms): out = [UInt8(ascii: "T")] + Array(String(ms).utf8)
        case .untrusted(let ms, let reason): out = [UInt8(ascii: "U")] + Array("\(ms) \(reason)".utf8)
        case .flushed(let nonce): out = [UInt8(ascii: "F")] + Array(nonce.utf8)
        case .passed(let ms, let target, let removed): out = [UInt8(ascii: removed ? "R" : "P")] + Array("\(ms) ".utf8) + target
        case .ended(let ms): out = [UInt8(ascii: "E")] + Array(String(ms).utf8)
        }
        out.removeAll { $0 == 0 }
        return out + [0]
    }

    /// The records in `bytes`; unknown tags and malformed or torn records are skipped. Pure.
    public static func decode(_ bytes: [UInt8]) -> [Record] {
        var records: [Record] = []
        var start = 0
        while start < bytes.count, let end = bytes[start...].firstIndex(of: 0) {
            defer { start = end + 1 }
            guard end > start else { continue }
            let body = Array(bytes[(start + 1)..<end])
            func fields(_ n: Int) -> [[UInt8]] { body.split(separator: UInt8(ascii: " "), maxSplits: n - 1, omittingEmptySubsequences: false).map(Array.init) }
            func ms(_ b: [UInt8]) -> Int64? { b.isEmpty || b.count > 18 || !b.allSatisfy({ $0 >= 48 && $0 <= 57 }) ? nil : Int64(String(decoding: b, as: UTF8.self)) }
            switch bytes[start] {
            case UInt8(ascii: "S"):
                let f = fields(3)
                if f.count == 3, let t = ms(f[0]), !f[2].isEmpty { records.append(.session(ms: t, mechanism: String(decoding: f[1], as: UTF8.self), root: f[2])) }
            case UInt8(ascii: "C"): if !body.isEmpty { records.append(.changed(body)) }
            case UInt8(ascii: "T"): if let t = ms(body) { records.append(.alive(ms: t)) }
            case UInt8(ascii: "U"):
                let f = fields(2)
                if f.count == 2, let t = ms(f[0]) { records.append(.untrusted(ms: t, reason: String(decoding: f[1], as: UTF8.self))) }
            case UInt8(ascii: "F"): records.append(.flushed(String(decoding: body, as: UTF8.self)))
            case UInt8(ascii: "P"), UInt8(ascii: "R"):
                let f = fields(2)
                if f.count == 2, let t = ms(f[0]), !f[1].isEmpty { records.append(.passed(ms: t, target: f[1], removed: bytes[start] == UInt8(ascii: "R"))) }
            case UInt8(ascii: "E"): if let t = ms(body) { records.append(.ended(ms: t)) }
            default: continue
            }
        }
        return records
    }

    /// The file's records; nil when it cannot be read (missing: no watcher ever wrote it).
    public static func read(_ path: String) -> [Record]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return decode(Array(data))
    }

    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Appends one record from a process that is not the watcher (an `O_APPEND` write of one
    /// record does not interleave with the watcher's).
    public static func append(_ record: Record, to journal: String) throws {
        let fd = open(journal, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw StepError.io("the journal \(journal) cannot be written: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = encode(record)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count, fdatasync(fd) == 0 else {
            throw StepError.io("the journal \(journal) cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}

/// What a journal says about its tree: the paths to look at, and whether they are all the
/// changes since its first session began. Pure.
public struct JournalVerdict: Equatable, Sendable {
    /// Every path recorded, once each, in first-seen order.
    public var paths: [[UInt8]]
    public var trusted: Bool
    /// Why not, in words for `status.files.journal.reason`.
    public var reason: String?
    /// When unrecorded changes may have begun (the watcher's last sign of life before a gap).
    public var gapSince: Int64?
    /// When the first session began: changes before it are not in the journal.
    public var since: Int64?
    public var mechanism: String?

    /// The verdict on `records` for copying the tree at `root` into `target`. Trusted when the
    /// watcher still runs (it answered the flush `flushed`: nil, none was answered), and a
    /// complete pass into `target` began after its session started and after anything that
    /// broke the record (a queue overflow, a gap while no watcher ran): whatever that pass did
    /// not see change since is in the journal. A pass that will remove what the source lacks
    /// (`removing`) needs a complete pass that removed too: else the target may still hold
    /// files no change of the source will ever name.
    public static func of(_ records: [ChangeJournal.Record], root: [UInt8], target: [UInt8], flushed nonce: String?, removing: Bool = false) -> JournalVerdict {
        var seen = Set<[UInt8]>()
        var v = JournalVerdict(paths: [], trusted: false)
        var sessionStart: Int64?
        var lastAlive: Int64?
        var ended: Int64?
        var answered = false
        var passed = false
        // What broke the record last, and since when.
        var broken: (ms: Int64, reason: String)?
        var wrongRoot: [UInt8]?
        for r in records {
            switch r {
            case .session(let ms, let mechanism, let r):
                if sessionStart != nil {
                    let last = ended ?? lastAlive
                    broken = (last ?? ms, "the watcher was down\(last.map { " from \(Self.text($0))" } ?? "") until \(Self.text(ms)): changes in between were not recorded")
                } else {
                    v.since = ms
                }
                sessionStart = ms
                v.mechanism = mechanism
                wrongRoot = r == root ? nil : r
                lastAlive = ms
                (ended, answered, passed) = (nil, false, false)
            case .changed(let p):
                if seen.insert(p).inserted { v.paths.append(p) }
            case .alive(let ms): lastAlive = ms
            case .untrusted(let ms, let reason):
                broken = (ms, reason)
                passed = false
            case .flushed(let n): if n == nonce { answered = true }
            case .passed(let ms, let t, let removed):
                if t == target, removed || !removing, let start = sessionStart, ms >= start, ms >= broken?.ms ?? ms {
                    passed = true
                    broken = nil
                }
            case .ended(let ms): ended = ms
            }
        }
        if sessionStart == nil {
            v.reason = "no watcher has written to the journal"
        } else if let wrongRoot {
            v.reason = Self.display(wrongRoot) == Self.display(root)
                ? "the watched folder \(Self.display(root)) was replaced since the watcher started (another folder, or another filesystem, now has its path)"
                : "the journal watches \(Self.display(wrongRoot)), not \(Self.display(root))"
        } else if let broken {
            v.reason = broken.reason
            v.gapSince = broken.ms
        } else if !passed {
            v.reason = "no pass has copied the whole tree into \(Self.display(target))\(removing ? " and removed what the source lacks" : "") since the watcher started"
        } else if let ended {
            v.reason = "the watcher stopped at \(Self.text(ended)): changes since were not recorded"
            v.gapSince = ended
        } else if !answered {
            v.reason = "the watcher did not answer the flush request (it is not running\(lastAlive.map { "; last alive at \(Self.text($0))" } ?? ""))"
            v.gapSince = lastAlive
        }
        v.trusted = v.reason == nil
        return v
    }

    /// A folder as sessions and passes record it: `<device>:<inode>:` and its resolved path, so
    /// another folder put at the same path (the tree moved away and a new one made, another
    /// disk mounted there) is not taken for it. The path alone when it does not exist.
    public static func place(_ path: String) -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else { return canonical(path) }
        return Array("\(st.st_dev):\(st.st_ino):".utf8) + canonical(path)
    }

    /// A place's path, for messages. Pure.
    static func display(_ place: [UInt8]) -> String {
        let colons = place.indices.filter { place[$0] == UInt8(ascii: ":") }
        if colons.count >= 2, place[..<colons[1]].allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: ":") }) {
            return String(decoding: place[(colons[1] + 1)...], as: UTF8.self)
        }
        return String(decoding: place, as: UTF8.self)
    }

    /// A path as journals record it: resolved (`realpath`), or as given when it does not exist.
    public static func canonical(_ path: String) -> [UInt8] {
        guard let p = realpath(path, nil) else { return Array(path.utf8) }
        defer { free(p) }
        return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)).bindMemory(to: UInt8.self))
    }

    static func text(_ ms: Int64) -> String { S3Time.isoString(Date(timeIntervalSince1970: Double(ms) / 1000)) }
}
