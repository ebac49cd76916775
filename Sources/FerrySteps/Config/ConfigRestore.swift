import FerryProtocol
import Foundation
import KubeClient

/// `ferry restore config`: the package's sealed operations config, decrypted
/// with the export's key (a mounted Secret) and written into a Secret, one key
/// per file. Values never leave the process except into that Secret: the
/// result names the keys only.
public enum ConfigRestore {

    /// The config files: the sealed bundle decrypted (its sha256 checked against the manifest
    /// first), or the old tool's unsealed `conf/` files decoded (``LegacyConfig``).
    public static func files(packageRoot: String, keyDirectory: String?) throws -> [String: Data] {
        let pkg = try BackupPackage.open(packageRoot)
        if pkg.manifest?.config == nil, !LegacyConfig.present(pkg).isEmpty { return try LegacyConfig.read(pkg) }
        guard let bundle = pkg.manifest?.config else {
            throw StepError.badPackage("the package has no sealed config (manifest.json: config) and no conf/latest_config.json or conf/options.json; export it with a config section, or remove spec.config")
        }
        guard let keyDirectory else {
            throw StepError.configuration("the package's config is sealed (ferry export): set spec.config.keySecret to the Secret holding the export's key")
        }
        let path = try pkg.resolve(bundle.sealed)
        if let want = pkg.manifest?.sha256[bundle.sealed], try ManifestBuilder.sha256(of: path) != want {
            throw StepError.badPackage("\(bundle.sealed): sha256 differs from the manifest: the file changed or is corrupt; export it again")
        }
        guard let keyText = FileManager.default.contents(atPath: keyDirectory + "/key") else {
            throw StepError.configuration("spec.config.keySecret has no key \"key\" (\(keyDirectory)/key): put the export's key (base64 of 32 bytes) there")
        }
        let key = try ConfigSeal.key(fromBase64: String(decoding: keyText, as: UTF8.self), source: "spec.config.keySecret (key \"key\")")
        guard let sealed = FileManager.default.contents(atPath: path) else { throw StepError.badPackage("\(bundle.sealed) cannot be read") }
        do {
            return try ConfigSeal.open(sealed, key: key, path: bundle.sealed)
        } catch let StepError.configuration(message) {
            throw StepError.configuration(message + " (spec.config.keySecret)")
        }
    }

    /// Creates or replaces the Secret's data with `files`.
    public static func store(_ files: [String: Data], secret: String, namespace: String, client: KubeClient, labels: [String: String] = [:]) async throws -> ConfigResult {
        let data = JSONValue.object(files.mapValues { .string($0.base64EncodedString()) })
        var meta: [String: JSONValue] = ["name": .string(secret), "namespace": .string(namespace)]
        var allLabels = labels
        allLabels["app.kubernetes.io/managed-by"] = "ferry"
        meta["labels"] = .object(allLabels.mapValues { .string($0) })
        let keys = files.keys.sorted()
        do {
            var existing = try await client.get(.secrets, name: secret, namespace: namespace)
            // Only a Secret Ferry wrote is replaced: a Migration must not be a way to overwrite any Secret.
            guard existing[path: ["metadata", "labels", "app.kubernetes.io/managed-by"]]?.stringValue == "ferry" else {
                throw StepError.configuration("Secret \(namespace)/\(secret) already exists and Ferry did not write it (no label app.kubernetes.io/managed-by=ferry); Ferry does not overwrite Secrets it did not make. Choose another spec.config.secretName, or delete that Secret if it is yours to replace")
            }
            if existing["data"] == data { return ConfigResult(secret: secret, namespace: namespace, keys: keys, action: "unchanged") }
            existing["data"] = data
            existing["stringData"] = nil
            _ = try await client.replace(.secrets, existing, namespace: namespace)
            return ConfigResult(secret: secret, namespace: namespace, keys: keys, action: "updated")
        } catch let e as KubeAPIError where e.isNotFound {
            let object: JSONValue = ["apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": .object(meta), "data": data]
            _ = try await client.create(.secrets, object, namespace: namespace)
            return ConfigResult(secret: secret, namespace: namespace, keys: keys, action: "created")
        } catch let e as KubeAPIError {
            guard case .forbidden(let status) = e else { throw e }
            throw StepError.configuration("not allowed to write Secret \(namespace)/\(secret) (\(status.message ?? "forbidden")); the step runs as ServiceAccount <migration>-config, which the controller creates with a Role for exactly this Secret")
        }
    }
}
