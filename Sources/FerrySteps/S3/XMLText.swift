import Foundation

/// The little XML S3 answers with (ListObjectsV2, multipart uploads, errors), read without a
/// parser library: the text of elements by name, in document order. Pure; entities decoded.
enum XMLText {
    /// The text inside each `<name>…</name>` (or nothing for `<name/>`), in order; nested elements' text as is.
    /// One pass over the bytes (a listing page of 1,000 objects is read once, not once per object).
    static func values(_ name: String, in xml: Substring, limit: Int = .max) -> [Substring] {
        let open = Array("<\(name)".utf8), close = Array("</\(name)>".utf8)
        let spans: [(Int, Int)] = xml.utf8.withContiguousStorageIfAvailable { elementSpans(open, close, in: $0, limit: limit) }
            ?? Array(xml.utf8).withUnsafeBufferPointer { elementSpans(open, close, in: $0, limit: limit) }
        let u = xml.utf8
        return spans.map { xml[u.index(u.startIndex, offsetBy: $0.0)..<u.index(u.startIndex, offsetBy: $0.1)] }
    }

    /// Byte offsets of each element's text: `open` is `<name`, followed by `>` (then text up to
    /// `close`) or `/>` (empty); a longer name that starts the same (`<KeyCount>` for `Key`) is passed over.
    private static func elementSpans(_ open: [UInt8], _ close: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, limit: Int) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var i = 0
        while out.count < limit, let at = find(open, in: bytes, from: i) {
            let after = at + open.count
            guard after < bytes.count else { break }
            if bytes[after] == UInt8(ascii: ">") {
                guard let end = find(close, in: bytes, from: after + 1) else { break }
                out.append((after + 1, end))
                i = end + close.count
            } else if bytes[after] == UInt8(ascii: "/"), after + 1 < bytes.count, bytes[after + 1] == UInt8(ascii: ">") {
                out.append((after, after))
                i = after + 2
            } else {
                i = after
            }
        }
        return out
    }

    /// Where `needle` first starts in `bytes` at or after `from`.
    private static func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        var i = from
        while i + needle.count <= bytes.count {
            guard let base = bytes.baseAddress, let hit = memchr(base + i, Int32(first), bytes.count - i - needle.count + 1) else { return nil }
            let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + at, needle, needle.count) == 0 { return at }
            i = at + 1
        }
        return nil
    }

    static func values(_ name: String, in xml: String) -> [Substring] { values(name, in: xml[...]) }

    static func first(_ name: String, in xml: Substring) -> String? { values(name, in: xml, limit: 1).first.map { decode($0) } }
    static func first(_ name: String, in xml: String) -> String? { first(name, in: xml[...]) }

    /// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&#NN;` `&#xNN;` decoded; anything else kept.
    static func decode(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        var out = "", i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            guard c == "&", let semi = s[i...].prefix(12).firstIndex(of: ";") else {
                out.append(c)
                i = s.index(after: i)
                continue
            }
            let entity = s[s.index(after: i)..<semi]
            var scalar: Unicode.Scalar?
            switch entity {
            case "amp": scalar = "&"
            case "lt": scalar = "<"
            case "gt": scalar = ">"
            case "quot": scalar = "\""
            case "apos": scalar = "'"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") { scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init) }
                else if entity.hasPrefix("#") { scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init) }
            }
            if let scalar {
                out.unicodeScalars.append(scalar)
                i = s.index(after: semi)
            } else {
                out.append(c)
                i = s.index(after: i)
            }
        }
        return out
    }

    /// Text escaped for an XML body (the multipart completion list).
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&apos;")
    }
}
