import FerryAPI
import Foundation
import KubeClient

/// The bearer token of a Migration's data-files-transfer pod: a Secret
/// `<migration>-mover` (key `token`, 32 random bytes in hex) that the
/// controller creates, owned by the Migration; the pod mounts it, and its
/// control endpoint answers only requests that carry it.
public enum MoverToken {
    public static let key = "token"
    static let mount = "/credentials/mover"

    public static func secretName(_ migration: String) -> String { "\(migration)-mover" }

    /// The token, creating the Secret the first time.
    public static func ensure(_ client: KubeClient, migration: Migration) async throws -> String {
        let name = secretName(migration.metadata.name ?? "")
        let namespace = migration.metadata.namespace ?? "default"
        if let token = try await read(client, name: name, namespace: namespace) { return token }
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        let secret: JSONValue = [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": [
                "name": .string(name), "namespace": .string(namespace),
                "labels": [FerryNames.migrationLabel: .string(migration.metadata.name ?? "")],
                "ownerReferences": [OwnerReference.controller(of: migration)],
            ],
            "data": [.init(key): .string(Data(token.utf8).base64EncodedString())],
        ]
        do {
            _ = try await client.create(.secrets, secret, namespace: namespace)
            return token
        } catch let e as KubeAPIError where e.isAlreadyExists {
            guard let token = try await read(client, name: name, namespace: namespace) else { throw e }
            return token
        }
    }

    /// The token in an existing Secret (nil when there is none).
    public static func read(_ client: KubeClient, name: String, namespace: String) async throws -> String? {
        do {
            let secret = try await client.get(.secrets, name: name, namespace: namespace)
            return secret[path: ["data", key]]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        } catch let e as KubeAPIError where e.isNotFound {
            return nil
        }
    }
}
