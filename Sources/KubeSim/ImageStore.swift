import Foundation
import ProcessSpawn
import Synchronization

/// KubeSim's image mode, the images: a pod image name mapped to a local image (a name in local
/// containers storage, or `oci-archive:PATH`) is made into a root filesystem once — `buildah from`
/// then `buildah mount` — and every container of that image runs in it (``ContainerSandbox``).
/// Names not mapped run as host processes, as before.
public final class ImageStore: Sendable {
    /// A resolved image: its root filesystem and what its config says.
    public struct Image: Sendable, Equatable {
        public var rootfs: String
        public var user: String
        public var entrypoint: [String]
        public var cmd: [String]
        public var env: [String]
        public var workingDir: String
    }

    /// Pod image name → local reference.
    public let references: [String: String]
    private let resolved = Mutex<[String: Result<Image, ImagePullError>]>([:])
    private let containers = Mutex<[String]>([])

    public init(references: [String: String]) {
        self.references = references
    }

    /// Parses `NAME=REF` flags (REF: a containers-storage name, or `oci-archive:PATH`).
    public static func parse(_ flags: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for flag in flags {
            guard let eq = flag.firstIndex(of: "="), eq != flag.startIndex, flag.index(after: eq) != flag.endIndex else {
                throw SimError(400, "BadRequest", "--image \(flag): expected NAME=REF, e.g. ferry/ferry:0.1.0=oci-archive:.build/image/ferry.oci.tar or ferry:demo=localhost/ferry/ferry:0.1.0")
            }
            out[String(flag[..<eq])] = String(flag[flag.index(after: eq)...])
        }
        return out
    }

    public func handles(_ image: String) -> Bool { references[image] != nil }

    /// The image's root filesystem and config, made on first use; a failure is kept, as a
    /// kubelet keeps reporting ErrImagePull for a name that does not resolve.
    public func image(_ name: String) -> Result<Image, ImagePullError> {
        if let known = resolved.withLock({ $0[name] }) { return known }
        let result: Result<Image, ImagePullError>
        do {
            result = .success(try make(name))
        } catch let e as ImagePullError {
            result = .failure(e)
        } catch {
            result = .failure(ImagePullError(image: name, reason: "\(error)"))
        }
        resolved.withLock { $0[name] = result }
        return result
    }

    func make(_ name: String) throws -> Image {
        guard let reference = references[name] else { throw ImagePullError(image: name, reason: "not mapped to a local image") }
        guard let buildah = Self.buildah else {
            throw ImagePullError(image: name, reason: "buildah is not installed on this machine (apt-get install buildah)")
        }
        if reference.hasPrefix("oci-archive:") {
            let path = String(reference.dropFirst("oci-archive:".count).split(separator: ":", maxSplits: 1).first ?? "")
            guard FileManager.default.fileExists(atPath: path) else { throw ImagePullError(image: name, reason: "the OCI archive \(path) does not exist") }
        }
        let from = Self.run(buildah, ["from", "--pull=never", "--quiet", reference])
        guard from.status == 0, let container = from.out.split(separator: "\n").last.map(String.init), !container.isEmpty else {
            throw ImagePullError(image: name, reason: from.err.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        containers.withLock { $0.append(container) }
        let mount = Self.run(buildah, ["mount", container])
        let rootfs = mount.out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard mount.status == 0, !rootfs.isEmpty else { throw ImagePullError(image: name, reason: "buildah mount: " + mount.err) }
        let inspect = Self.run(buildah, ["inspect", "--type", "container", "--format", "{{json .OCIv1.Config}}", container])
        let config = (try? JSONSerialization.jsonObject(with: Data(inspect.out.utf8))) as? [String: Any] ?? [:]
        return Image(rootfs: rootfs, user: config["User"] as? String ?? "", entrypoint: config["Entrypoint"] as? [String] ?? [],
                     cmd: config["Cmd"] as? [String] ?? [], env: config["Env"] as? [String] ?? [], workingDir: config["WorkingDir"] as? String ?? "")
    }

    /// Removes the working containers (server stop).
    public func release() {
        guard let buildah = Self.buildah else { return }
        let all = containers.withLock { c -> [String] in defer { c.removeAll() }; return c }
        for c in all {
            _ = Self.run(buildah, ["umount", c])
            _ = Self.run(buildah, ["rm", c])
        }
    }

    static func run(_ program: String, _ args: [String]) -> (status: Int32, out: String, err: String) {
        guard let r = try? ProcessSpawn.runBlocking(program, args, environment: ProcessInfo.processInfo.environment, timeout: 600) else {
            return (127, "", "cannot start \(program)")
        }
        return (r.status, String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
    }

    static var buildah: String? { PodRunner.findExecutable("buildah", path: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") }
}

/// What the pod shows as `ErrImagePull`, as a kubelet words it.
public struct ImagePullError: Error, Sendable, Equatable, CustomStringConvertible {
    public var image: String
    public var reason: String
    public var description: String { "Failed to pull image \"\(image)\": \(reason)" }
}
