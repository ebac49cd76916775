import Crypto
import Foundation

/// AWS Signature Version 4 for S3 requests (the header form). Pure: the same request, keys and
/// time give the same signature, so the published AWS examples are its tests.
enum S3Signer {
    struct Credentials: Sendable, Equatable {
        var accessKey: String
        var secretKey: String
        /// Temporary credentials' token (`x-amz-security-token`).
        var sessionToken: String?
    }

    /// The SHA-256 of an empty body; and the marker for a body not hashed (streamed files).
    static let emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// `headers` plus `x-amz-date`, `x-amz-content-sha256` (and the token) and `Authorization`.
    /// `path` is the request path as sent (already encoded); `query` unencoded pairs.
    static func sign(method: String, host: String, path: String, query: [(String, String)], headers: [String: String], payloadHash: String,
                     credentials: Credentials, region: String, date: Date) -> [String: String] {
        var all = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        let stamp = S3Time.stamp(date)
        all["host"] = host
        all["x-amz-date"] = stamp
        all["x-amz-content-sha256"] = payloadHash
        if let token = credentials.sessionToken { all["x-amz-security-token"] = token }
        let names = all.keys.sorted()
        let signature = signature(method: method, path: path, canonicalQuery: canonicalQuery(query), headers: names.map { ($0, all[$0]!) }, payloadHash: payloadHash,
                                  secretKey: credentials.secretKey, region: region, stamp: stamp)
        let scope = "\(stamp.prefix(8))/\(region)/s3/aws4_request"
        all["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"
        all.removeValue(forKey: "host")
        return all
    }

    /// The signature of a canonical request: `headers` are the signed ones, lowercased names in
    /// order, as the request carries them. Shared by signing and by the gateway's check.
    static func signature(method: String, path: String, canonicalQuery: String, headers: [(String, String)], payloadHash: String,
                          secretKey: String, region: String, stamp: String) -> String {
        let canonicalHeaders = headers.map { "\($0.0):\(collapse($0.1))\n" }.joined()
        let signedHeaders = headers.map(\.0).joined(separator: ";")
        let canonical = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let day = String(stamp.prefix(8))
        let scope = "\(day)/\(region)/s3/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(hex(SHA256.hash(data: Data(canonical.utf8))))"
        var key = SymmetricKey(data: Data("AWS4\(secretKey)".utf8))
        for part in [day, region, "s3", "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key))
    }

    /// A header value as SigV4 canonicalizes it: trimmed, inner runs of spaces as one.
    static func collapse(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(String, String)] = query.map { (encode($0.0, slash: true), encode($0.1, slash: true)) }
        let sorted = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        return sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters stay, everything else
    /// is %XX of its UTF-8 bytes; `/` too when `slash` (query values), not in a path.
    static func encode(_ s: String, slash: Bool) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: "/") where !slash:
                out.append("/")
            default:
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(upperDigits[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(upperDigits[Int(b & 0xF)]))
            }
        }
        return out
    }


    static let upperDigits = Array("0123456789ABCDEF".utf8), lowerDigits = Array("0123456789abcdef".utf8)

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(lowerDigits[Int(b >> 4)])
            out.append(lowerDigits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
    static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }
    static func hex(_ code: HMAC<SHA256>.MAC) -> String { hex(Array(code)) }
}
