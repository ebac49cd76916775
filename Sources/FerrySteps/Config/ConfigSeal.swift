import Crypto
import Foundation

/// The operations config in a package: named files sealed with AES-256-GCM.
///
/// File layout: the 8 bytes `FERRYCF1`, then AES-GCM's combined form (12-byte
/// nonce, ciphertext, 16-byte tag) of a JSON object `{"name": base64}`; the
/// magic is authenticated too. The key is 32 bytes, given base64-encoded (as
/// `openssl rand -base64 32` prints it) in a file or the environment.
public enum ConfigSeal {
    static let magic = Array("FERRYCF1".utf8)

    /// A 32-byte key from its base64 text (surrounding whitespace ignored).
    public static func key(fromBase64 text: String, source: String) throws -> SymmetricKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: trimmed), data.count == 32 else {
            throw StepError.configuration("the config key in \(source) must be 32 bytes, base64-encoded (make one with: openssl rand -base64 32)")
        }
        return SymmetricKey(data: data)
    }

    /// Seals `files` (name → contents).
    public static func seal(_ files: [String: Data], key: SymmetricKey) throws -> Data {
        let plain = try JSONSerialization.data(withJSONObject: files.mapValues { $0.base64EncodedString() }, options: [.sortedKeys])
        let box = try AES.GCM.seal(plain, using: key, authenticating: magic)
        guard let combined = box.combined else { throw StepError.io("AES-GCM gave no combined form") }
        return Data(magic) + combined
    }

    /// Opens a sealed bundle; a wrong key or a changed file fails with a message saying which.
    public static func open(_ sealed: Data, key: SymmetricKey, path: String) throws -> [String: Data] {
        guard sealed.count > magic.count + 28, Array(sealed.prefix(magic.count)) == magic else {
            throw StepError.badPackage("\(path) is not a Ferry config bundle; export it again")
        }
        let plain: Data
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.dropFirst(magic.count))
            plain = try AES.GCM.open(box, using: key, authenticating: magic)
        } catch {
            throw StepError.configuration("\(path) cannot be decrypted with this key: the key is wrong (or the file was changed); use the key the export used")
        }
        guard let object = try? JSONSerialization.jsonObject(with: plain) as? [String: String] else {
            throw StepError.badPackage("\(path) decrypts to something that is not a config bundle")
        }
        var out: [String: Data] = [:]
        for (name, b64) in object {
            guard let d = Data(base64Encoded: b64) else { throw StepError.badPackage("\(path): entry \(name) is not base64") }
            out[name] = d
        }
        return out
    }
}
