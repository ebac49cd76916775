import FerryAPI
import FerryProtocol
import KubeClient

/// The one pod template every step runs in, a Job's pod or the file sync's transfer pod: the
/// image's `ferry` with the step's argv, its volumes, PodSecurity `restricted`
/// (``RestrictedPod``), the report in the termination message, pinned to the package's node.
enum StepPod {
    static let packageMount = "/package"
    static func credentialsMount(_ kind: String) -> String { "/credentials/\(kind)" }
    static func targetMount(_ name: String) -> String { "/targets/\(name)" }

    /// Volumes and where the container mounts them.
    struct Volumes {
        var volumes: [JSONValue] = []
        var mounts: [JSONValue] = []

        static func + (a: Volumes, b: Volumes) -> Volumes { Volumes(volumes: a.volumes + b.volumes, mounts: a.mounts + b.mounts) }
    }

    /// The package, read-only at /package: a node folder or a claim (+ subPath).
    static func package(_ spec: MigrationSpec) -> Volumes {
        if let path = spec.package.hostPath {
            return Volumes(volumes: [["name": "package", "hostPath": ["path": .string(path), "type": "Directory"]]],
                           mounts: [["name": "package", "mountPath": .string(packageMount), "readOnly": true]])
        }
        guard let claim = spec.package.persistentVolumeClaim else { return Volumes() }
        var m: JSONValue = ["name": "package", "mountPath": .string(packageMount), "readOnly": true]
        if let sub = spec.package.subPath, !sub.isEmpty { m["subPath"] = .string(sub) }
        return Volumes(volumes: [["name": "package", "persistentVolumeClaim": ["claimName": .string(claim), "readOnly": true]]], mounts: [m])
    }

    /// `fileSync.method: move`: the package's claim, once and writable, at /volume. The package
    /// folders and the targets are then paths of one mount, where rename(2) can move them.
    static let volumeMount = "/volume"
    static func sharedVolume(_ spec: MigrationSpec) -> Volumes {
        guard let claim = spec.package.persistentVolumeClaim else { return Volumes() }
        return Volumes(volumes: [["name": "volume", "persistentVolumeClaim": ["claimName": .string(claim)]]],
                       mounts: [["name": "volume", "mountPath": .string(volumeMount)]])
    }

    /// A path under /volume from subPath-like parts (empty parts and stray slashes dropped).
    static func volumePath(_ parts: String?...) -> String {
        ([volumeMount] + parts.compactMap { $0 }.flatMap { $0.split(separator: "/").map(String.init) }).joined(separator: "/")
    }

    /// Each `spec.files[]` target claim (+ subPath) at /targets/<name>.
    static func targets(_ spec: MigrationSpec, readOnly: Bool) -> Volumes {
        var v = Volumes()
        for (i, f) in (spec.files ?? []).enumerated() {
            guard let claim = f.to.persistentVolumeClaim else { continue }  // a bucket: no volume
            v.volumes.append(["name": .string("target-\(i)"), "persistentVolumeClaim": ["claimName": .string(claim)]])
            var m: JSONValue = ["name": .string("target-\(i)"), "mountPath": .string(targetMount(f.name)), "readOnly": .bool(readOnly)]
            if let sub = f.to.subPath, !sub.isEmpty { m["subPath"] = .string(sub) }
            v.mounts.append(m)
        }
        return v
    }

    /// A Secret's keys as files at `path`, 0440 with the pod's fsGroup: readable by the step's
    /// uid 65532, by nobody else.
    static func secret(_ name: String, volume: String, at path: String) -> Volumes {
        Volumes(volumes: [["name": .string(volume), "secret": ["secretName": .string(name), "defaultMode": 0o440]]],
                mounts: [["name": .string(volume), "mountPath": .string(path), "readOnly": true]])
    }

    /// The pod spec. `serviceAccount` nil: no API token is mounted (only the config step talks to the API).
    static func spec(container: String, argv: [String], volumes: Volumes, settings: StepSettings, spec: MigrationSpec, cpu: String,
                     serviceAccount: String? = nil, ports: [JSONValue] = [], env: [JSONValue] = []) -> JSONValue {
        var c: JSONValue = [
            "name": .string(container),
            "image": .string(settings.image),
            "imagePullPolicy": .string(settings.imagePullPolicy),
            "command": .array(([settings.command] + argv).map { .string($0) }),
            "volumeMounts": .array(volumes.mounts),
            "terminationMessagePath": .string(TerminationMessage.path),
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "resources": ["requests": ["cpu": .string(cpu), "memory": "64Mi"]],
        ]
        if !ports.isEmpty { c["ports"] = .array(ports) }
        if !env.isEmpty { c["env"] = .array(env) }
        var podSpec: JSONValue = ["restartPolicy": "Never", "containers": [c], "volumes": .array(volumes.volumes)]
        RestrictedPod.apply(to: &podSpec)
        if let node = spec.package.nodeName, spec.package.hostPath != nil { podSpec["nodeName"] = .string(node) }
        if let serviceAccount {
            podSpec["serviceAccountName"] = .string(serviceAccount)
        } else {
            podSpec["automountServiceAccountToken"] = false
        }
        return podSpec
    }
}
