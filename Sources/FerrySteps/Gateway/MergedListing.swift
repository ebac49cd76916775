import Foundation

/// One ListObjectsV2 page over both sides: target and source merged in key order (the target's
/// object where both have one), what the application deleted left out, keys rolled up into
/// common prefixes at the delimiter. The mover sees the target alone (and deleted keys as
/// taken), so its bulk copy never counts a source object as already copied.
struct MergedListing {
    let service: GatewayService
    let role: GatewayService.Role

    struct Page {
        var prefix: String
        var delimiter: String?
        var maxKeys: Int
        var objects: [ObjectInfo] = []
        var commonPrefixes: [String] = []
        var next: String?

        func xml(bucket: String, query: [String: String]) -> String {
            let url = query["encoding-type"] == "url"
            func enc(_ s: String) -> String { XMLText.escape(url ? S3Signer.encode(s, slash: false) : s) }
            var out = "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>\(XMLText.escape(bucket))</Name><Prefix>\(enc(prefix))</Prefix>"
            out += "<KeyCount>\(objects.count + commonPrefixes.count)</KeyCount><MaxKeys>\(maxKeys)</MaxKeys>"
            if let d = delimiter { out += "<Delimiter>\(enc(d))</Delimiter>" }
            if url { out += "<EncodingType>url</EncodingType>" }
            if let t = query["continuation-token"] { out += "<ContinuationToken>\(XMLText.escape(t))</ContinuationToken>" }
            if let s = query["start-after"] { out += "<StartAfter>\(enc(s))</StartAfter>" }
            out += "<IsTruncated>\(next != nil)</IsTruncated>"
            if let next { out += "<NextContinuationToken>\(Data(next.utf8).base64EncodedString())</NextContinuationToken>" }
            return out + entries(enc) + "</ListBucketResult>"
        }

        /// The objects and common prefixes, as both versions list them.
        func entries(_ enc: (String) -> String) -> String {
            var out = ""
            for o in objects {
                out += "<Contents><Key>\(enc(o.key))</Key><LastModified>\(XMLText.escape(o.lastModified))</LastModified>"
                out += "<ETag>\"\(XMLText.escape(o.etag))\"</ETag><Size>\(o.size)</Size><StorageClass>STANDARD</StorageClass></Contents>"
            }
            for p in commonPrefixes { out += "<CommonPrefixes><Prefix>\(enc(p))</Prefix></CommonPrefixes>" }
            return out
        }

        /// The ListObjects (v1) answer: a marker instead of a token (NextMarker always given, so a
        /// client without a delimiter pages as well).
        func xmlV1(bucket: String, query: [String: String]) -> String {
            let url = query["encoding-type"] == "url"
            func enc(_ s: String) -> String { XMLText.escape(url ? S3Signer.encode(s, slash: false) : s) }
            var out = "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>\(XMLText.escape(bucket))</Name><Prefix>\(enc(prefix))</Prefix>"
            out += "<Marker>\(enc(query["marker"] ?? ""))</Marker><MaxKeys>\(maxKeys)</MaxKeys>"
            if let d = delimiter { out += "<Delimiter>\(enc(d))</Delimiter>" }
            if url { out += "<EncodingType>url</EncodingType>" }
            out += "<IsTruncated>\(next != nil)</IsTruncated>"
            if let next { out += "<NextMarker>\(enc(next))</NextMarker>" }
            return out + entries(enc) + "</ListBucketResult>"
        }
    }

    /// A side read in pages from a cursor. `fetch` gives a page as listed and `keep` what of it
    /// counts: the cursor moves on by what was listed, so a page of nothing but skipped keys
    /// (tombstones) neither ends the side nor is fetched again.
    final class Cursor {
        let fetch: (String) async throws -> [ObjectInfo]
        let keep: (ObjectInfo) -> Bool
        /// Where to resume after a key inside a range that is skipped whole.
        let jump: (String) -> String
        var buffer: [ObjectInfo] = []
        var after: String
        var done = false

        init(after: String, keep: @escaping (ObjectInfo) -> Bool = { _ in true }, jump: @escaping (String) -> String = { $0 }, fetch: @escaping (String) async throws -> [ObjectInfo]) {
            self.after = after
            self.keep = keep
            self.jump = jump
            self.fetch = fetch
        }

        func peek() async throws -> ObjectInfo? {
            while buffer.isEmpty && !done {
                let page = try await fetch(after)
                if page.isEmpty { done = true } else { buffer = page.filter(keep); after = jump(page.last!.key) }
            }
            return buffer.first
        }

        func pop() { buffer.removeFirst() }

        /// Past every key before or at `key` (a common prefix rolled up).
        func skip(through key: String) {
            buffer.removeAll { !GatewayService.before(key, $0.key) }
            if buffer.isEmpty && GatewayService.before(after, key) { after = key }
        }
    }

    func page(prefix: String, delimiter: String?, after: String, maxKeys: Int) async throws -> Page {
        let (target, source) = (service.target, service.source)
        let stones = GatewayService.tombstones
        let batch = max(100, min(1000, maxKeys + 1))
        // The tombstones sit among the target's keys (under the prefix ""): left out, and leapt over whole.
        let isStone: (ObjectInfo) -> Bool = { $0.key.utf8.starts(with: stones.utf8) }
        let targetSide = Cursor(after: after, keep: { !isStone($0) }, jump: { $0.utf8.starts(with: stones.utf8) ? stones + "\u{10FFFF}" : $0 }) {
            try await target.list(prefix: prefix, after: $0, limit: batch)
        }
        let sourceSide = Cursor(after: after) { try await source.list(prefix: prefix, after: $0, limit: batch) }
        let deleted = Cursor(after: after) { a in
            try await target.list(prefix: stones + prefix, after: a.isEmpty ? "" : stones + a, limit: batch).map {
                ObjectInfo(key: String(decoding: $0.key.utf8.dropFirst(stones.utf8.count), as: UTF8.self), size: -1, etag: "", lastModified: $0.lastModified)
            }
        }
        var page = Page(prefix: prefix, delimiter: delimiter, maxKeys: maxKeys)
        var last: String?
        while true {
            // The next key: the smaller of the two sides (the mover sees the target and the deleted keys).
            let t = try await targetSide.peek()
            let s = role == .app ? try await sourceSide.peek() : try await deleted.peek()
            guard t != nil || s != nil else { break }
            let pickTarget = t != nil && (s == nil || !GatewayService.before(s!.key, t!.key))
            var chosen = pickTarget ? t! : s!
            if pickTarget {
                targetSide.pop()
                if let s, s.key.utf8.elementsEqual(chosen.key.utf8) { role == .app ? sourceSide.pop() : deleted.pop() }
            } else {
                role == .app ? sourceSide.pop() : deleted.pop()
                if role == .app {
                    // A source object the application deleted is not listed.
                    while let d = try await deleted.peek(), GatewayService.before(d.key, chosen.key) { deleted.pop() }
                    if let d = try await deleted.peek(), d.key.utf8.elementsEqual(chosen.key.utf8) { deleted.pop(); continue }
                } else {
                    chosen.size = -1  // deleted: never the source's size, so the mover tries it and is told no
                }
            }
            if page.objects.count + page.commonPrefixes.count == maxKeys {
                page.next = last
                break
            }
            if let d = delimiter, let cut = chosen.key.utf8.dropFirst(prefix.utf8.count).firstRange(of: d.utf8) {
                let common = String(decoding: chosen.key.utf8[..<cut.upperBound], as: UTF8.self)
                page.commonPrefixes.append(common)
                last = common + "\u{10FFFF}"
                for c in [targetSide, sourceSide, deleted] { c.skip(through: last!) }
                continue
            }
            page.objects.append(chosen)
            last = chosen.key
        }
        return page
    }
}
