import FerryAPI
import FerryProtocol
import Foundation
import KubeClient

/// The gateway of a Migration whose `spec.files[]` entry has `fallback: true`: Secrets
/// `<migration>-gateway-app` (the keys the application signs with: mount them into the app)
/// and `<migration>-gateway-mover` (the transfer pod's), a one-replica Deployment running
/// `ferry gateway` (data plane: FerrySteps/Gateway) and a Service `<migration>-gateway`
/// (port 9000 S3, 9090 metrics). It runs from the start of the Migration for as long as the
/// entry has fallback, so the application keeps every file the whole time; the mover copies
/// through it, never over what the application wrote or deleted.
enum Gateway {
    static let port = 9000
    static let metricsPort = 9090
    static let appLabel = "ferry-gateway"

    static func name(_ migration: String) -> String { "\(migration)-gateway" }
    static func appSecret(_ migration: String) -> String { "\(migration)-gateway-app" }
    static func moverSecret(_ migration: String) -> String { "\(migration)-gateway-mover" }
    static let templateAnnotation = "ferry.dev/gateway-template"
    static let appKeysMount = "/credentials/gateway-app"
    static let moverKeysMount = "/credentials/gateway-mover"

    /// The entry the gateway serves (validation allows one).
    static func entry(_ spec: MigrationSpec) -> (index: Int, mapping: FileMapping)? {
        (spec.files ?? []).enumerated().first { $0.element.fallback == true && $0.element.to.s3 != nil }.map { ($0.offset, $0.element) }
    }

    /// `ferry gateway`'s arguments: the entry's target bucket and its source, the stores' Secrets mounted as for the transfer pod.
    static func arguments(_ spec: MigrationSpec, index i: Int, _ f: FileMapping) -> GatewayArguments {
        guard let to = f.to.s3 else { preconditionFailure("a gateway entry has an s3 target") }
        var stores: [String: FileSyncArguments.S3] = [:]
        func store(_ end: String, _ b: S3Spec) -> String {
            stores["\(f.name)-\(end)"] = .init(endpoint: b.endpoint, region: b.region ?? "us-east-1", pathStyle: b.pathStyle ?? true,
                                               credentialsDir: FileSyncStep.credentials(i, f.name, end, b).mount,
                                               caFile: FileSyncStep.ca(i, f.name, end, b).map { "\($0.mount)/\(FileSyncStep.caKey)" })
            return "s3://\(f.name)-\(end)@\(b.bucket)/\(b.prefix ?? "")"
        }
        let target = store("to", to)
        let source = f.from.bucket.map { store("from", $0) } ?? "\(StepPod.packageMount)/\(f.from.folder ?? "")"
        return GatewayArguments(target: target, source: source, stores: stores, bucket: to.bucket, appKeysDir: appKeysMount, moverKeysDir: moverKeysMount,
                                hostEnv: "POD_IP", port: port, metricsPort: metricsPort)
    }

    static func labels(_ migration: String) -> JSONValue { ["app": .string(appLabel), FerryNames.migrationLabel: .string(migration)] }

    /// Whether the gateway keeps the package's claim mounted for the whole migration (a folder source on a claim).
    static func holdsPackageClaim(_ spec: MigrationSpec) -> Bool {
        guard let (_, f) = entry(spec) else { return false }
        return f.from.folder != nil && spec.package.hostPath == nil && spec.package.persistentVolumeClaim != nil
    }

    static let nodeTopology = "kubernetes.io/hostname"

    /// A step pod that mounts the package runs on the gateway's node while the gateway holds the
    /// package's claim: a ReadWriteOnce volume is mounted by one node at a time, and a pod elsewhere
    /// would wait on it for good (Multi-Attach). Pure.
    static func colocate(_ podSpec: inout JSONValue, migration: String, spec: MigrationSpec) {
        guard holdsPackageClaim(spec) else { return }
        podSpec["affinity"] = ["podAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
            ["labelSelector": ["matchLabels": labels(migration)], "topologyKey": .string(nodeTopology)],
        ]]]
    }

    static func deployment(_ migration: Migration, spec: MigrationSpec, settings: StepSettings) -> JSONValue? {
        guard let (i, f) = entry(spec), let owner = migration.metadata.name else { return nil }
        let stores = FileSyncStep.secrets(spec).filter { $0.kind.hasPrefix("s3-\(i)-") || $0.kind.hasPrefix("s3-ca-\(i)-") }
        let volumes = (f.from.folder != nil ? StepPod.package(spec) : StepPod.Volumes())
            + StepPod.secret(appSecret(owner), volume: "gateway-app", at: appKeysMount)
            + StepPod.secret(moverSecret(owner), volume: "gateway-mover", at: moverKeysMount)
            + stores.map { StepPod.secret($0.name, volume: $0.kind, at: $0.mount) }.reduce(StepPod.Volumes(), +)
        var pod = StepPod.spec(container: "gateway", argv: arguments(spec, index: i, f).argv, volumes: volumes, settings: settings, spec: spec, cpu: "100m",
                               ports: [["name": "s3", "containerPort": .int(Int64(port))], ["name": "metrics", "containerPort": .int(Int64(metricsPort))]],
                               env: [["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]]])
        pod["restartPolicy"] = "Always"
        if holdsPackageClaim(spec) {
            // Started again (a crash, a spec edit), it goes where the migration's pods already hold the claim.
            pod["affinity"] = ["podAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": [
                ["weight": 100, "podAffinityTerm": ["labelSelector": ["matchLabels": [FerryNames.migrationLabel: .string(owner)]], "topologyKey": .string(nodeTopology)]],
            ]]]
        }
        return [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": .string(name(owner)), "namespace": .string(migration.metadata.namespace ?? "default"), "labels": labels(owner),
                         "ownerReferences": [OwnerReference.controller(of: migration)]],
            "spec": [
                // One writer per key is the gateway's promise: never two replicas, not even during a rollout.
                "replicas": 1, "strategy": ["type": "Recreate"],
                "selector": ["matchLabels": labels(owner)],
                "template": ["metadata": ["labels": labels(owner)], "spec": pod],
            ],
        ]
    }

    static func service(_ migration: Migration) -> JSONValue {
        let owner = migration.metadata.name ?? ""
        return [
            "apiVersion": "v1", "kind": "Service",
            "metadata": ["name": .string(name(owner)), "namespace": .string(migration.metadata.namespace ?? "default"), "labels": labels(owner),
                         "ownerReferences": [OwnerReference.controller(of: migration)]],
            "spec": ["selector": labels(owner), "ports": [["name": "s3", "port": .int(Int64(port)), "targetPort": "s3"],
                                                           ["name": "metrics", "port": .int(Int64(metricsPort)), "targetPort": "metrics"]]],
        ]
    }

    /// The Secrets, Deployment and Service, created when missing and the Deployment kept to the
    /// spec; all removed when no entry has fallback. The gateway's endpoint (its Service's cluster IP).
    @discardableResult
    static func ensure(_ client: KubeClient, migration: Migration, spec: MigrationSpec, settings: StepSettings) async throws -> String? {
        let owner = migration.metadata.name ?? "", namespace = migration.metadata.namespace ?? "default"
        guard let wanted = deployment(migration, spec: spec, settings: settings) else {
            for (resource, n) in [(ResourceDescriptor.deployments, name(owner)), (.services, name(owner)), (.secrets, appSecret(owner)), (.secrets, moverSecret(owner))] {
                do { _ = try await client.delete(resource, name: n, namespace: namespace) } catch let e as KubeAPIError where e.isNotFound {}
            }
            return nil
        }
        for (secret, prefix) in [(appSecret(owner), "FERRYAPP"), (moverSecret(owner), "FERRYMOVER")] {
            try await ensureKeys(client, migration: migration, name: secret, prefix: prefix)
        }
        // The template's digest in an annotation: the server's defaults never look like a change, a spec edit does.
        let digest = String(JSONWire.serialize(wanted["spec"]?["template"] ?? .null, sortedKeys: true).reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }, radix: 16)
        var stamped = wanted
        stamped["metadata"]?["annotations"] = [templateAnnotation: .string(digest)]
        do {
            let have = try await client.get(.deployments, name: name(owner), namespace: namespace)
            if have[path: ["metadata", "annotations", templateAnnotation]]?.stringValue != digest {
                _ = try await client.patch(.deployments, name: name(owner), namespace: namespace,
                                           .merge(["metadata": ["annotations": [templateAnnotation: .string(digest)]], "spec": ["template": wanted["spec"]?["template"] ?? .null]]))
            }
        } catch let e as KubeAPIError where e.isNotFound {
            _ = try await client.create(.deployments, stamped, namespace: namespace)
        }
        let svc: JSONValue
        do {
            svc = try await client.get(.services, name: name(owner), namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            svc = try await client.create(.services, service(migration), namespace: namespace)
        }
        // A headless Service has no address; an IPv6 one goes in brackets.
        return svc[path: ["spec", "clusterIP"]]?.stringValue.flatMap { $0.isEmpty || $0 == "None" ? nil : "http://\($0.contains(":") ? "[\($0)]" : $0):\(port)" }
    }

    /// A Secret of generated keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), created once.
    static func ensureKeys(_ client: KubeClient, migration: Migration, name: String, prefix: String) async throws {
        let namespace = migration.metadata.namespace ?? "default"
        do {
            _ = try await client.get(.secrets, name: name, namespace: namespace)
            return
        } catch let e as KubeAPIError where e.isNotFound {}
        var rng = SystemRandomNumberGenerator()
        let upper = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), any = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let id = prefix + String((0..<(20 - prefix.count)).map { _ in upper.randomElement(using: &rng)! })
        let secret = String((0..<40).map { _ in any.randomElement(using: &rng)! })
        let object: JSONValue = [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": labels(migration.metadata.name ?? ""),
                         "ownerReferences": [OwnerReference.controller(of: migration)]],
            "data": ["AWS_ACCESS_KEY_ID": .string(Data(id.utf8).base64EncodedString()), "AWS_SECRET_ACCESS_KEY": .string(Data(secret.utf8).base64EncodedString())],
        ]
        do { _ = try await client.create(.secrets, object, namespace: namespace) } catch let e as KubeAPIError where e.isAlreadyExists {}
    }
}

extension Gateway {
    /// `status.gateway`, the gateway kept to the spec on the way: made while an entry has
    /// fallback, removed when none has any more.
    static func observe(_ client: KubeClient, migration: Migration, spec: MigrationSpec, settings: StepSettings, status: MigrationStatus) async throws -> GatewayStatus? {
        guard entry(spec) != nil else {
            if status.gateway != nil { try await ensure(client, migration: migration, spec: spec, settings: settings) }
            return nil
        }
        let endpoint = try await ensure(client, migration: migration, spec: spec, settings: settings)
        return describe(spec: spec, status: status, endpoint: endpoint, migration: migration.metadata.name ?? "")
    }

    /// What status says of the gateway: where, with which keys, and whether the copy is done. Pure.
    static func describe(spec: MigrationSpec, status: MigrationStatus, endpoint: String?, migration: String) -> GatewayStatus? {
        guard let (_, f) = entry(spec), let target = f.to.s3 else { return nil }
        let copied = status.steps?.first { $0.name == "files" }?.state == .succeeded
        let place = "s3://\(target.bucket)/\(target.prefix ?? "") at \(target.endpoint)"
        return GatewayStatus(endpoint: endpoint, bucket: target.bucket, keysSecret: appSecret(migration), copied: copied,
                             message: copied ? "every file is in \(place) and verified: point the application at the store directly, then remove fallback"
                                 : "the application reads and writes through the gateway (keys in Secret \(appSecret(migration))) while the files move to \(place)")
    }
}
