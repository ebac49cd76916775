import KubeClient

/// What every pod Ferry creates wears so that PodSecurity `restricted` admits
/// it and it works there: a fixed non-root uid (the image's 65532), seccomp
/// `RuntimeDefault`, no capabilities, no privilege escalation, a read-only
/// root filesystem, and an `emptyDir` at /tmp (with `TMPDIR` set) for what a
/// step writes outside its volumes.
public enum RestrictedPod {
    /// The uid and gid the image runs as (`USER 65532:65532` in the Dockerfile).
    public static let uid: Int64 = 65532
    public static let tmpMount = "/tmp"

    public static let podSecurityContext: JSONValue = [
        "runAsNonRoot": true, "runAsUser": .int(uid), "runAsGroup": .int(uid), "fsGroup": .int(uid),
        "seccompProfile": ["type": "RuntimeDefault"],
    ]

    public static let containerSecurityContext: JSONValue = [
        "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
        "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
    ]

    /// Adds the security contexts, the /tmp emptyDir and TMPDIR to a pod spec.
    public static func apply(to podSpec: inout JSONValue) {
        podSpec["securityContext"] = podSecurityContext
        var volumes = podSpec["volumes"]?.arrayValue ?? []
        volumes.append(["name": "tmp", "emptyDir": ["sizeLimit": "1Gi"]])
        podSpec["volumes"] = .array(volumes)
        var containers = podSpec["containers"]?.arrayValue ?? []
        for i in containers.indices {
            containers[i]["securityContext"] = containerSecurityContext
            var mounts = containers[i]["volumeMounts"]?.arrayValue ?? []
            mounts.append(["name": "tmp", "mountPath": .string(tmpMount)])
            containers[i]["volumeMounts"] = .array(mounts)
            var env = containers[i]["env"]?.arrayValue ?? []
            env.append(["name": "TMPDIR", "value": .string(tmpMount)])
            containers[i]["env"] = .array(env)
        }
        podSpec["containers"] = .array(containers)
    }
}
