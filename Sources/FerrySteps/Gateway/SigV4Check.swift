import Crypto
import Foundation

/// Checks a request's SigV4 signature (the Authorization header, or a presigned URL's query)
/// against the keys the gateway gives its application. Pure: the request's parts and the time
/// in, the access key or the S3 error out. The canonical request is rebuilt from the path as
/// sent and the query as sent, decoded and encoded again as SigV4 wants.
enum SigV4Check {
    struct Request {
        var method: String
        /// The path as sent, still percent-encoded, without the query.
        var path: String
        /// The query as sent (after `?`), still percent-encoded.
        var query: String
        /// Header names lowercased; a name sent twice appears twice.
        var headers: [(String, String)]

        func header(_ name: String) -> String? {
            let values = headers.filter { $0.0 == name }.map(\.1)
            return values.isEmpty ? nil : values.joined(separator: ",")
        }
    }

    /// Why a request is refused, as S3 says it.
    struct Refusal: Error, Equatable {
        var status: Int
        var code: String
        var message: String
    }

    /// Longest a signed request may be from now (S3's 15 minutes), and a presigned URL's longest life.
    static let skew: TimeInterval = 15 * 60
    static let longestExpiry = 7 * 24 * 3600

    /// The access key that signed `r`, or why not. `keys`: access key → secret.
    static func verify(_ r: Request, keys: [String: String], now: Date) -> Result<String, Refusal> {
        let query = decodeQuery(r.query)
        if query.contains(where: { $0.0 == "X-Amz-Signature" }) { return presigned(r, query, keys: keys, now: now) }
        guard let auth = r.header("authorization") else { return .failure(Refusal(status: 403, code: "AccessDenied", message: "the request is not signed")) }
        guard auth.hasPrefix("AWS4-HMAC-SHA256 ") else {
            return .failure(Refusal(status: 400, code: "AuthorizationHeaderMalformed", message: "only AWS4-HMAC-SHA256 (SigV4) is taken"))
        }
        var fields: [String: String] = [:]
        for part in auth.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
            return .failure(Refusal(status: 400, code: "AuthorizationHeaderMalformed", message: "Credential, SignedHeaders and Signature are needed"))
        }
        guard let stamp = r.header("x-amz-date") else { return .failure(Refusal(status: 403, code: "AccessDenied", message: "x-amz-date is missing")) }
        guard let payload = r.header("x-amz-content-sha256") else {
            return .failure(Refusal(status: 400, code: "InvalidRequest", message: "x-amz-content-sha256 is missing"))
        }
        if payload.hasPrefix("STREAMING-") {
            return .failure(Refusal(status: 501, code: "NotImplemented", message: "chunked (streaming) signatures are not taken; sign the payload or send UNSIGNED-PAYLOAD"))
        }
        return check(r, credential: credential, signedHeaders: signed, signature: signature, stamp: stamp, payload: payload,
                     canonicalQuery: S3Signer.canonicalQuery(query), keys: keys, now: now, expires: nil)
    }

    static func presigned(_ r: Request, _ query: [(String, String)], keys: [String: String], now: Date) -> Result<String, Refusal> {
        func value(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        guard value("X-Amz-Algorithm") == "AWS4-HMAC-SHA256", let credential = value("X-Amz-Credential"), let signed = value("X-Amz-SignedHeaders"),
              let signature = value("X-Amz-Signature"), let stamp = value("X-Amz-Date"), let expires = value("X-Amz-Expires").flatMap(Int.init) else {
            return .failure(Refusal(status: 400, code: "AuthorizationQueryParametersError", message: "a presigned URL needs X-Amz-Algorithm AWS4-HMAC-SHA256, Credential, Date, Expires, SignedHeaders and Signature"))
        }
        guard (1...longestExpiry).contains(expires) else { return .failure(Refusal(status: 400, code: "AuthorizationQueryParametersError", message: "X-Amz-Expires must be 1–604800 seconds")) }
        let rest = query.filter { $0.0 != "X-Amz-Signature" }
        return check(r, credential: credential, signedHeaders: signed, signature: signature, stamp: stamp, payload: "UNSIGNED-PAYLOAD",
                     canonicalQuery: S3Signer.canonicalQuery(rest), keys: keys, now: now, expires: expires)
    }

    static func check(_ r: Request, credential: String, signedHeaders: String, signature: String, stamp: String, payload: String, canonicalQuery: String,
                      keys: [String: String], now: Date, expires: Int?) -> Result<String, Refusal> {
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[3] == "s3", scope[4] == "aws4_request", stamp.count == 16, stamp.hasPrefix(scope[1]) else {
            return .failure(Refusal(status: 400, code: "AuthorizationHeaderMalformed", message: "the credential scope must be KEY/yyyymmdd/region/s3/aws4_request, of the request's day"))
        }
        guard let secret = keys[scope[0]] else { return .failure(Refusal(status: 403, code: "InvalidAccessKeyId", message: "the access key is not one this gateway gives out")) }
        guard let at = date(stamp) else { return .failure(Refusal(status: 403, code: "AccessDenied", message: "the request's date \(stamp) is not yyyymmddThhmmssZ")) }
        if let expires {
            if now.timeIntervalSince(at) > TimeInterval(expires) { return .failure(Refusal(status: 403, code: "AccessDenied", message: "the presigned URL has expired")) }
            if at.timeIntervalSince(now) > skew { return .failure(Refusal(status: 403, code: "RequestTimeTooSkewed", message: "the URL is signed for a time too far ahead")) }
        } else if abs(now.timeIntervalSince(at)) > skew {
            return .failure(Refusal(status: 403, code: "RequestTimeTooSkewed", message: "the request's time is more than 15 minutes from the gateway's"))
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        guard names.contains("host"), names == names.sorted(), names.allSatisfy({ $0 == $0.lowercased() }) else {
            return .failure(Refusal(status: 400, code: "AuthorizationHeaderMalformed", message: "SignedHeaders must be sorted lowercase names including host"))
        }
        var signed: [(String, String)] = []
        for n in names {
            guard let v = r.header(n) else { return .failure(Refusal(status: 403, code: "SignatureDoesNotMatch", message: "the signed header \(n) is not in the request")) }
            signed.append((n, v))
        }
        let expected = S3Signer.signature(method: r.method, path: r.path.isEmpty ? "/" : r.path, canonicalQuery: canonicalQuery, headers: signed,
                                          payloadHash: payload, secretKey: secret, region: scope[2], stamp: stamp)
        guard constantTimeEqual(Array(expected.utf8), Array(signature.lowercased().utf8)) else {
            return .failure(Refusal(status: 403, code: "SignatureDoesNotMatch", message: "the signature does not match: check the secret key the application was given"))
        }
        return .success(scope[0])
    }

    /// `a=1&b=%2F&c` → [(a, 1), (b, /), (c, "")]: percent-decoded (a `+` stays a plus, as SigV4 clients mean it).
    static func decodeQuery(_ raw: String) -> [(String, String)] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            return (name, value)
        }
    }

    static func date(_ stamp: String) -> Date? { S3Time.fromStamp(stamp) }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// Whether a body matches the payload hash it was signed with (UNSIGNED-PAYLOAD: nothing to check).
    static func bodyMatches(_ payload: String, _ body: [UInt8]) -> Bool {
        payload == S3Signer.unsignedPayload || S3Signer.hex(SHA256.hash(data: body)) == payload.lowercased()
    }
}
