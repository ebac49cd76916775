import Crypto
import Foundation

/// The client side of SCRAM (RFC 5802) with SHA-256 or SHA-512, as Kafka's
/// SCRAM-SHA-256/512 SASL mechanisms use it: no channel binding (`n,,`),
/// no authorization identity. A value type driven by the caller:
/// `clientFirst` → server-first → `clientFinal(serverFirst:)` →
/// server-final → `verify(serverFinal:)`.
///
/// Names and passwords are used as UTF-8 as given (no SASLprep); ASCII
/// credentials, the common case, are unaffected.
struct SCRAMClient {
    enum Hash: Sendable {
        case sha256, sha512
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let hash: Hash
    let username: String
    let password: String
    let clientNonce: String
    private var expectedServerSignature: [UInt8]?

    init(hash: Hash, username: String, password: String, clientNonce: String? = nil) {
        self.hash = hash
        self.username = username
        self.password = password
        self.clientNonce = clientNonce ?? Self.randomNonce()
    }

    static func randomNonce() -> String {
        var g = SystemRandomNumberGenerator()
        return Data((0..<24).map { _ in UInt8.random(in: 0...255, using: &g) }).base64EncodedString()
    }

    /// `=` and `,` are escaped in a SCRAM user name.
    static func saslName(_ s: String) -> String {
        s.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
    }

    var clientFirstBare: String { "n=\(Self.saslName(username)),r=\(clientNonce)" }
    var clientFirst: String { "n,," + clientFirstBare }

    /// Parses `k=v,k=v`; values may contain `=`.
    static func attributes(_ message: String) -> [Character: String] {
        var out: [Character: String] = [:]
        for part in message.split(separator: ",", omittingEmptySubsequences: false) {
            guard let k = part.first, part.dropFirst().first == "=" else { continue }
            out[k] = String(part.dropFirst(2))
        }
        return out
    }

    /// The client-final message for the server's first message; remembers the signature the server must prove.
    mutating func clientFinal(serverFirst: String) throws -> String {
        let a = Self.attributes(serverFirst)
        if let e = a["e"] { throw Failure(description: "the server refused: \(e)") }
        guard let nonce = a["r"], let saltText = a["s"], let salt = Data(base64Encoded: saltText), let iterationsText = a["i"], let iterations = Int(iterationsText), iterations > 0 else {
            throw Failure(description: "the server's first SCRAM message is malformed")
        }
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw Failure(description: "the server's nonce does not extend ours")
        }
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let salted = Self.hi(hash, password: Array(password.utf8), salt: Array(salt), iterations: iterations)
        let clientKey = Self.hmac(hash, key: salted, Array("Client Key".utf8))
        let storedKey = Self.digest(hash, clientKey)
        let clientSignature = Self.hmac(hash, key: storedKey, authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = Self.hmac(hash, key: salted, Array("Server Key".utf8))
        expectedServerSignature = Self.hmac(hash, key: serverKey, authMessage)
        return withoutProof + ",p=" + Data(proof).base64EncodedString()
    }

    /// Checks the server proved it knows the password too.
    func verify(serverFinal: String) throws {
        let a = Self.attributes(serverFinal)
        if let e = a["e"] { throw Failure(description: "the server refused: \(e)") }
        guard let v = a["v"], let signature = Data(base64Encoded: v), let expected = expectedServerSignature else {
            throw Failure(description: "the server's final SCRAM message is malformed")
        }
        guard Array(signature) == expected else { throw Failure(description: "the server's signature is wrong (not the broker we think, or a different password store)") }
    }

    // MARK: - primitives

    static func hmac(_ hash: Hash, key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let k = SymmetricKey(data: key)
        switch hash {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: k))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: k))
        }
    }

    static func digest(_ hash: Hash, _ data: [UInt8]) -> [UInt8] {
        switch hash {
        case .sha256: return Array(SHA256.hash(data: data))
        case .sha512: return Array(SHA512.hash(data: data))
        }
    }

    /// Hi() of RFC 5802: PBKDF2 with HMAC-H and one output block.
    static func hi(_ hash: Hash, password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        var u = hmac(hash, key: password, salt + [0, 0, 0, 1])
        var out = u
        for _ in 1..<max(iterations, 1) {
            u = hmac(hash, key: password, u)
            for i in out.indices { out[i] ^= u[i] }
        }
        return out
    }
}
