@testable import FerrySteps
import Crypto
import Foundation
import NIOCore
import Testing

/// What counts as already there between a file and an object (``ObjectMatch``), and the ETag
/// an upload makes (``ETagHash``). Pure.
@Suite("Object match and ETag hash")
struct ObjectMatchTests {
    let t0 = timespec(tv_sec: 1_700_000_000, tv_nsec: 250_000_000)

    @Test("size mode from a listing: another size differs; an object written well after the file changed is current; within the clocks' uncertainty the metadata decides")
    func listing() {
        let at = Date(timeIntervalSince1970: 1_700_000_000.25)
        #expect(ObjectMatch.upload(fileSize: 5, changed: t0, objectSize: 6, modified: at.addingTimeInterval(3600), skew: 0) == .differs)
        #expect(ObjectMatch.upload(fileSize: 5, changed: t0, objectSize: 5, modified: at.addingTimeInterval(3600), skew: 0) == .same)
        #expect(ObjectMatch.upload(fileSize: 5, changed: t0, objectSize: 5, modified: at.addingTimeInterval(1), skew: 0) == .askMetadata)
        #expect(ObjectMatch.upload(fileSize: 5, changed: t0, objectSize: 5, modified: at.addingTimeInterval(3600), skew: 3600) == .askMetadata, "a server an hour ahead: its times mean an hour earlier here")
        #expect(ObjectMatch.upload(fileSize: 5, changed: t0, objectSize: 5, modified: nil, skew: 0) == .askMetadata)
        // Bucket → folder: a file that still carries its download's stamp, or was given the object's LastModified.
        let etag = "0123456789abcdef0123456789abcdef"
        let stamp = ObjectMatch.stamp(etag: etag, mtime: t0)
        let other = timespec(tv_sec: 1, tv_nsec: 0)
        #expect(ObjectMatch.download(fileSize: 5, mtime: t0, stamp: stamp, objectSize: 5, etag: etag, modified: nil) == .same)
        #expect(ObjectMatch.download(fileSize: 5, mtime: other, stamp: stamp, objectSize: 5, etag: etag, modified: nil) == .askMetadata, "touched here since")
        #expect(ObjectMatch.download(fileSize: 5, mtime: t0, stamp: stamp, objectSize: 5, etag: "ffff", modified: nil) == .differs, "made from another version: the object was written again")
        #expect(ObjectMatch.download(fileSize: 5, mtime: t0, stamp: nil, objectSize: 5, etag: etag, modified: at) == .same)
        #expect(ObjectMatch.download(fileSize: 5, mtime: other, stamp: nil, objectSize: 5, etag: etag, modified: at) == .askMetadata)
        #expect(ObjectMatch.download(fileSize: 4, mtime: t0, stamp: stamp, objectSize: 5, etag: etag, modified: at) == .differs)
        #expect(ObjectMatch.download(fileSize: 5, mtime: t0, stamp: ObjectMatch.stamp(etag: "", mtime: t0), objectSize: 5, etag: "", modified: nil) == .askMetadata, "no ETag: no stamp to go by")
    }

    @Test("size mode from metadata: the same mtime to the nanosecond and the same mode, else sent again; a download's mode never setuid, never none")
    func metadata() {
        let meta = ObjectMatch.metadata(mtime: t0, mode: 0o640)
        #expect(meta == ["mtime": "1700000000.250000000", "mode": "640"])
        #expect(ObjectMatch.upload(mtime: t0, mode: 0o640, metadata: meta))
        #expect(!ObjectMatch.upload(mtime: timespec(tv_sec: t0.tv_sec, tv_nsec: 250_000_001), mode: 0o640, metadata: meta))
        #expect(!ObjectMatch.upload(mtime: t0, mode: 0o644, metadata: meta))
        #expect(!ObjectMatch.upload(mtime: t0, mode: 0o640, metadata: [:]), "another tool's object: nothing to go by")
        #expect(ObjectMatch.download(mtime: t0, mode: S_IFREG | 0o640, metadata: meta))
        #expect(ObjectMatch.fileMode(["mode": "4755"]) == 0o755 && ObjectMatch.fileMode(["mode": "0"]) == 0o644 && ObjectMatch.fileMode(["mode": "zz"]) == 0o644)
        #expect(ObjectMatch.timespec("1700000000.25").map { $0.tv_nsec } == 250_000_000)
        for bad in ["", ".", "1.", ".5", "1.1234567890", "1e9", "١٢", "1.-5", "12a", "1.2.3", "99999999999999999999999"] {
            #expect(ObjectMatch.timespec(bad) == nil, "\(bad)")
        }
        // Generated input: never a crash; what parses prints back the same.
        var g = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789.-+e ٣")
        for _ in 0..<2000 {
            let s = String((0..<Int.random(in: 0...14, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
            if let t = ObjectMatch.timespec(s), t.tv_sec >= 0, s.contains(".") { #expect(ObjectMatch.timespec(ObjectMatch.text(t)).map { $0.tv_nsec } == t.tv_nsec, "\(s)") }
        }
    }

    @Test("ETag: an MD5 for one request; for parts, the MD5 of their MD5s and the count, however the bytes are fed; the part sizes tried for another tool's upload")
    func etag() {
        var empty = ETagHash(partSize: nil)
        #expect(empty.finalize() == "d41d8cd98f00b204e9800998ecf8427e")
        var g = SystemRandomNumberGenerator()
        for _ in 0..<30 {
            let bytes = (0..<Int.random(in: 1...5000, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            let part = Int.random(in: 1...1200, using: &g)
            let expected = ETagHash.combine(stride(from: 0, to: bytes.count, by: part).map { Array(Insecure.MD5.hash(data: bytes[$0..<min(bytes.count, $0 + part)])) })
            var h = ETagHash(partSize: Int64(part))
            var at = 0
            while at < bytes.count {
                let n = min(bytes.count - at, Int.random(in: 1...700, using: &g))
                bytes[at..<at + n].withUnsafeBytes { h.update($0) }
                at += n
            }
            #expect(h.finalize() == expected)
        }
        let mib: Int64 = 1 << 20
        #expect(ETagHash.partSizes(size: 11 * mib, etag: "0123456789abcdef0123456789abcdef-3", own: 8 * mib) == [4 * mib, 5 * mib])
        #expect(ETagHash.partSizes(size: 11 * mib, etag: "0123456789abcdef0123456789abcdef-3", own: 5 * mib) == [5 * mib, 4 * mib])
        #expect(ETagHash.partSizes(size: 11 * mib, etag: "0123456789abcdef0123456789abcdef", own: 5 * mib) == [nil])
        #expect(ETagHash.partSizes(size: 1000 * mib, etag: "0123456789abcdef0123456789abcdef-2", own: 8 * mib).count == 8, "at most 8 tried")
        #expect(ETagHash.comparable("0123456789abcdef0123456789abcdef-12") && !ETagHash.comparable("opaque") && !ETagHash.comparable("0123456789abcdef0123456789abcdef-0"))
        #expect(ETagHash.uploadPartSize(size: 200_000 * mib, partSize: Int(8 * mib)) == Int(20 * mib), "10,000 parts at most")
    }

    @Test("S3's times without a formatter per call: SigV4 stamps (both ways), listing dates (both ways) and HTTP dates agree with Foundation's formatters on generated dates; what is not a date is nil")
    func times() {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stampFormat = DateFormatter()
        stampFormat.locale = Locale(identifier: "en_US_POSIX")
        stampFormat.timeZone = TimeZone(identifier: "UTC")
        stampFormat.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let httpFormat = DateFormatter()
        httpFormat.locale = Locale(identifier: "en_US_POSIX")
        httpFormat.timeZone = TimeZone(identifier: "GMT")
        httpFormat.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var g = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let d = Date(timeIntervalSince1970: (Double(Int.random(in: 0...4_000_000_000, using: &g)) * 1000 + Double(Int.random(in: 0...999, using: &g))) / 1000)
            #expect(S3Time.stamp(d) == stampFormat.string(from: d))
            #expect(S3Time.fromStamp(S3Time.stamp(d)) == Date(timeIntervalSince1970: d.timeIntervalSince1970.rounded(.down)))
            let text = iso.string(from: d)
            #expect(abs((S3Time.iso(text)?.timeIntervalSince1970 ?? 0) - d.timeIntervalSince1970) < 0.001, "\(text)")
            let whole = Date(timeIntervalSince1970: d.timeIntervalSince1970.rounded(.down))
            #expect(S3Time.isoString(whole) == iso.string(from: whole))
            #expect(S3Time.http(d) == httpFormat.string(from: d))
        }
        for bad in ["", "20261201T052600", "20261301T052600Z", "2026120105260Z0", "20261201X052600Z"] {
            #expect(S3Time.fromStamp(bad) == nil, "\(bad)")
        }
        #expect(ObjectMatch.text(timespec(tv_sec: 1_700_000_000, tv_nsec: 7)) == "1700000000.000000007")
        #expect(S3Time.iso("2026-12-01T05:26:00Z")?.timeIntervalSince1970 == 1_796_102_760)
        #expect(S3Time.iso("2026-12-01T05:26:00.500+00:00")?.timeIntervalSince1970 == 1_796_102_760.5)
        for bad in ["", "2026-12-01", "2026-13-01T05:26:00Z", "2026-12-01T05:26:00", "Tue, 01 Dec 2026 05:26:00 GMT", "2026-12-01T05:26:00+02:00", "２０２６-12-01T05:26:00Z"] {
            #expect(S3Time.iso(bad) == nil, "\(bad)")
        }
    }
}
