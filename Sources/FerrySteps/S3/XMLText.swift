/// The little XML S3 answers with (ListObjectsV2, multipart uploads, errors), read without a
/// parser library: the text of elements by name, in document order. Pure; entities decoded.
enum XMLText {
    /// The text inside each `<name>…</name>` (or nothing for `<name/>`), in order; nested elements' text as is.
    static func values(_ name: String, in xml: Substring) -> [Substring] {
        var out: [Substring] = []
        let open = "<\(name)>", close = "</\(name)>", empty = "<\(name)/>"
        var rest = xml[...]
        while true {
            let a = rest.range(of: open), b = rest.range(of: empty)
            guard let start = [a, b].compactMap({ $0 }).min(by: { $0.lowerBound < $1.lowerBound }) else { break }
            if start == b {
                out.append("")
                rest = rest[start.upperBound...]
                continue
            }
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            out.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return out
    }

    static func values(_ name: String, in xml: String) -> [Substring] { values(name, in: xml[...]) }

    static func first(_ name: String, in xml: Substring) -> String? { values(name, in: xml).first.map { decode($0) } }
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
