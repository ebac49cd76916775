import Foundation
import KubeClient

/// KubeSim's image mode, the container: its process runs in a private mount namespace
/// (`unshare --mount`) whose root is an overlay of the image's tree with a writable layer of the
/// pod's own (made read-only with `readOnlyRootFilesystem`), with /proc, a small /dev holding the
/// termination-message file, and the pod's volumes bind-mounted at their `mountPath`; then
/// `chroot --userspec` drops to the pod's user and runs the command. The whole chain execs in one
/// process, so the pod's process group is the container's. Needs root (mounts, chroot).
struct ContainerSandbox: Equatable {
    struct Mount: Equatable {
        var source: String
        var target: String
        var readOnly: Bool = false
        /// A file (the termination-message path, /etc/hosts), not a folder.
        var file: Bool = false
    }

    var rootfs: String
    /// Holds `upper`, `work` and `merged` (the container's root) for this container.
    var stateDirectory: String
    var uid: Int
    var gid: Int
    var supplementalGroups: [Int] = []
    var readOnlyRoot: Bool
    var mounts: [Mount]
    var workingDir: String = ""

    var merged: String { stateDirectory + "/merged" }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The shell script run by `unshare --mount --propagation private`: mounts, then exec chroot.
    /// The command and its arguments follow as the script's positional parameters.
    func script() -> String {
        let q = Self.quote, m = q(merged)
        var lines = [
            "set -eu",
            "mount -t overlay overlay -o \(q("lowerdir=\(rootfs),upperdir=\(stateDirectory)/upper,workdir=\(stateDirectory)/work")) \(m)",
            // Every path made or mounted on must lie in the container: no link on the way.
            "root=$(realpath -- \(m))",
            "inside() { [ \"$(realpath -m -- \"$root$1\")\" = \"$root$1\" ] || { echo \"kubesim: $1 in the container passes through a symbolic link\" >&2; exit 1; }; }",
            "inside /proc; inside /dev; inside /tmp",
            "mkdir -p \(m)/proc \(m)/dev \(m)/tmp",
            "mount -t proc -o nosuid,nodev,noexec proc \(m)/proc",
            "mount -t tmpfs -o nosuid,mode=755,size=1m dev \(m)/dev",
            "for d in null zero full random urandom tty; do : > \(m)/dev/$d; mount --bind /dev/$d \(m)/dev/$d; done",
            "ln -s /proc/self/fd \(m)/dev/fd; ln -s /proc/self/fd/0 \(m)/dev/stdin; ln -s /proc/self/fd/1 \(m)/dev/stdout; ln -s /proc/self/fd/2 \(m)/dev/stderr",
            "mkdir \(m)/dev/shm; mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m shm \(m)/dev/shm",
        ]
        // Shorter targets first: a volume inside another volume is mounted over it.
        for mount in mounts.sorted(by: { $0.target.count < $1.target.count }) {
            let t = m + q(mount.target)
            lines.append("inside \(q(mount.target))")
            if mount.file {
                lines.append("mkdir -p \"$(dirname \(t))\"; [ -e \(t) ] || : > \(t)")
            } else {
                lines.append("mkdir -p \(t)")
            }
            lines.append("mount --bind \(q(mount.source)) \(t)")
            if mount.readOnly { lines.append("mount -o remount,bind,ro \(t)") }
        }
        if readOnlyRoot { lines.append("mount -o remount,ro \(m)") }
        let groups = supplementalGroups.isEmpty ? "" : " --groups=" + supplementalGroups.map(String.init).joined(separator: ",")
        let user = "--userspec=\(uid):\(gid)\(groups)"
        if workingDir.isEmpty || workingDir == "/" {
            lines.append("exec chroot \(user) \(m) \"$@\"")
        } else {
            lines.append("exec chroot \(user) \(m) /bin/sh -c 'cd \"$0\" && exec \"$@\"' \(q(workingDir)) \"$@\"")
        }
        return lines.joined(separator: "\n")
    }

    /// The program and arguments that run `command` in the sandbox.
    func launch(_ command: [String]) -> (executable: String, args: [String]) {
        ("/usr/bin/unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script(), "kubesim-container"] + command)
    }

    /// Makes the folders the overlay needs; a restarted container starts from a fresh
    /// writable layer, as the kubelet gives it.
    func prepare() throws {
        for dir in ["upper", "work"] { try? FileManager.default.removeItem(atPath: stateDirectory + "/" + dir) }
        for dir in ["upper", "work", "merged"] {
            try FileManager.default.createDirectory(atPath: stateDirectory + "/" + dir, withIntermediateDirectories: true)
        }
    }

    /// Why a container cannot start, in the kubelet's words (`CreateContainerConfigError`).
    struct ConfigError: Error, CustomStringConvertible {
        var description: String
    }

    /// The user a container runs as (``identity(runAsUser:runAsGroup:imageUser:passwd:)`` from the
    /// container's securityContext over the pod's); `runAsNonRoot` with uid 0 is refused.
    static func user(container: JSONValue?, pod: JSONValue?, image: ImageStore.Image, passwd: String, names: (pod: String, container: String)) throws -> (uid: Int, gid: Int) {
        func setting(_ key: String) -> JSONValue? { container?[key] ?? pod?[key] }
        guard let id = identity(runAsUser: setting("runAsUser")?.intValue.map(Int.init), runAsGroup: setting("runAsGroup")?.intValue.map(Int.init),
                                imageUser: image.user, passwd: passwd) else {
            throw ConfigError(description: "unable to find user \(image.user): no matching entries in the image's /etc/passwd")
        }
        if setting("runAsNonRoot")?.boolValue == true && id.uid == 0 {
            throw ConfigError(description: "container has runAsNonRoot and image will run as root (pod: \"\(names.pod)\", container: \(names.container))")
        }
        return id
    }

    /// The user and group a container runs as: `runAsUser`/`runAsGroup` (the container's
    /// securityContext over the pod's), else the image's `USER` (`uid[:gid]` or a name in the
    /// image's /etc/passwd), else root. Nil when the image's user is a name the image does not know.
    static func identity(runAsUser: Int?, runAsGroup: Int?, imageUser: String, passwd: String) -> (uid: Int, gid: Int)? {
        var imageUID = 0, imageGID = 0
        if !imageUser.isEmpty {
            let parts = imageUser.split(separator: ":", maxSplits: 1).map(String.init)
            if let n = Int(parts[0]) {
                imageUID = n
            } else if let entry = passwd.split(separator: "\n").map({ $0.split(separator: ":", omittingEmptySubsequences: false) }).first(where: { $0.count >= 4 && $0[0] == parts[0] }),
                      let u = Int(entry[2]), let g = Int(entry[3]) {
                imageUID = u
                imageGID = g
            } else {
                return nil
            }
            if parts.count > 1 {
                guard let g = Int(parts[1]) else { return nil }
                imageGID = g
            }
        }
        return (runAsUser ?? imageUID, runAsGroup ?? imageGID)
    }
}
