import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether a file and an object already hold the same thing, decided the cheap way first.
/// Pure: the movers bring the stat, the listing and (when asked for) the HEAD.
///
/// `size` mode, as rsync's quick check: the same size, and the same mtime (kept to the
/// nanosecond in the object's `mtime` metadata, or, for an object without it, its
/// LastModified, which the download gives the file). Before a HEAD per file, a listing alone
/// settles most: a copy made here well after the other side last changed is current.
/// `checksum` mode: the contents' MD5 against the ETag (``ETagHash``).
enum ObjectMatch {
    /// A target listed directly (the gateway removed before the copy ended): the tombstones the
    /// gateway left for the application's deletes come out of the listing, and each key they
    /// name is marked deleted (`mark`), so the mover never brings a deleted file back. A key
    /// with an object of its own (written after its delete) keeps it. Pure.
    static func foldTombstones<V>(_ listing: [[UInt8]: V], mark: () -> V) -> [[UInt8]: V] {
        let stones = Array(GatewayService.tombstones.utf8)
        var out: [[UInt8]: V] = [:]
        var deleted: [[UInt8]] = []
        for (key, value) in listing {
            if key.starts(with: stones) { deleted.append(Array(key.dropFirst(stones.count))) } else { out[key] = value }
        }
        for key in deleted where out[key] == nil && !key.isEmpty { out[key] = mark() }
        return out
    }

    /// An object the application wrote through a gateway (`ferry-writer: app`): a mover reading
    /// the bucket directly (the gateway removed mid-copy) neither replaces nor removes it. Pure.
    static func applicationWrote(_ metadata: [String: String]) -> Bool { metadata[GatewayService.writer] == "app" }

    enum Verdict: Equatable {
        case same
        case differs
        /// The listing cannot tell: the object's metadata (a HEAD) decides.
        case askMetadata
    }

    /// What a listing's times are uncertain by: LastModified cut to the second, and a clock
    /// skew that is taken as none below 2 s (``S3Client/skew()``).
    static let margin: TimeInterval = 3

    /// The metadata an upload writes: mtime to the nanosecond, and the permission bits.
    static func metadata(mtime: timespec, mode: mode_t) -> [String: String] {
        ["mtime": text(mtime), "mode": String(mode & 0o7777, radix: 8)]
    }

    static func text(_ t: timespec) -> String { "\(t.tv_sec).\(S3Time.pad(Int(t.tv_nsec), 9))" }

    static func seconds(_ t: timespec) -> TimeInterval { TimeInterval(t.tv_sec) + TimeInterval(t.tv_nsec) / 1e9 }

    /// Folder → bucket, from the listing: `changed` is the file's later of mtime and ctime (an
    /// mtime set back still moves the ctime); `modified` the object's LastModified on the server's clock.
    static func upload(fileSize: Int64, changed: timespec, objectSize: Int64, modified: Date?, skew: TimeInterval) -> Verdict {
        guard fileSize == objectSize else { return .differs }
        if let modified, modified.timeIntervalSince1970 - skew >= seconds(changed) + margin { return .same }
        return .askMetadata
    }

    /// Folder → bucket, from the object's metadata: Ferry's own mtime and mode, or nothing to go by.
    static func upload(mtime: timespec, mode: mode_t, metadata: [String: String]) -> Bool {
        metadata["mtime"].flatMap(timespec(_:)).map { $0.tv_sec == mtime.tv_sec && $0.tv_nsec == mtime.tv_nsec } == true
            && metadata["mode"].flatMap { mode_t($0, radix: 8) } == mode & 0o7777
    }

    /// Bucket → folder, from the listing: a file of the object's size that still carries the
    /// stamp its download left (the ETag it was made from and the mtime it was given, in an
    /// extended attribute), or whose mtime is the object's LastModified (an object without mtime
    /// metadata). A file changed here since has another mtime, so it is fetched again.
    static func download(fileSize: Int64, mtime: timespec, stamp: String?, objectSize: Int64, etag: String, modified: Date?) -> Verdict {
        guard fileSize == objectSize else { return .differs }
        if !etag.isEmpty, stamp == Self.stamp(etag: etag, mtime: mtime) { return .same }
        // Made here from another version of the object: it changed since, whatever its metadata says.
        if !etag.isEmpty, let stamp, !stamp.hasPrefix(etag + " ") { return .differs }
        if let modified, abs(seconds(mtime) - modified.timeIntervalSince1970) < 0.000_5 { return .same }
        return .askMetadata
    }

    /// The extended attribute a download leaves on its file.
    static let stampAttribute = "user.ferry.object"

    static func stamp(etag: String, mtime: timespec) -> String { "\(etag) \(text(mtime))" }

    /// Bucket → folder, from the object's metadata: the file has the mtime and permission bits a download gives it.
    static func download(mtime: timespec, mode: mode_t, metadata: [String: String]) -> Bool {
        guard let want = metadata["mtime"].flatMap(timespec(_:)), want.tv_sec == mtime.tv_sec, want.tv_nsec == mtime.tv_nsec else { return false }
        return mode & 0o777 == fileMode(metadata)
    }

    /// The permission bits a downloaded file gets: the metadata's, never setuid, setgid or sticky, never none.
    static func fileMode(_ metadata: [String: String]) -> mode_t {
        let mode = metadata["mode"].flatMap { mode_t($0, radix: 8) }.map { $0 & 0o777 } ?? 0o644
        return mode == 0 ? 0o644 : mode
    }

    /// `1700000000.123456789` (seconds, then up to nine digits) as a timespec; nil when it is not that.
    static func timespec(_ s: String) -> timespec? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty, first.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), let sec = Int(first) else { return nil }
        var nanos = 0
        if parts.count == 2 {
            let digits = String(parts[1])
            guard (1...9).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) else { return nil }
            nanos = n * Int(pow(10, Double(9 - digits.count)))
        }
        return Glibc.timespec(tv_sec: time_t(sec), tv_nsec: nanos)
    }

    /// A LastModified (ISO 8601, with or without fractions) as a timespec, to give a file.
    static func timespec(_ date: Date) -> timespec {
        let whole = date.timeIntervalSince1970.rounded(.down)
        return Glibc.timespec(tv_sec: time_t(whole), tv_nsec: min(999, Int(((date.timeIntervalSince1970 - whole) * 1000).rounded())) * 1_000_000)
    }
}
