import Foundation

/// Where a path inside a container really is, with the container's symbolic links followed
/// inside its root (as runc's securejoin does): an absolute link starts again at the container's
/// root, `..` stops there. The sandbox creates and mounts on the result, so an image whose
/// /var/run is a link to /run gets its service account at /run/secrets/…, and no link in an
/// image or a volume makes KubeSim create or mount anything outside the container.
enum ContainerPath {
    struct TooManyLinks: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path): too many levels of symbolic links in the container" }
    }

    /// `path` with every symbolic link resolved inside the container; `readlink` gives the target
    /// of a container path that is a link (nil for anything else, missing included).
    static func resolve(_ path: String, readlink: (String) -> String?) throws -> String {
        var pending = components(path)
        var done: [String] = []
        var links = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == ".." {
                if !done.isEmpty { done.removeLast() }
                continue
            }
            let candidate = "/" + (done + [part]).joined(separator: "/")
            guard let target = readlink(candidate) else {
                done.append(part)
                continue
            }
            links += 1
            if links > 40 { throw TooManyLinks(path: path) }
            if target.hasPrefix("/") { done = [] }
            pending = components(target) + pending
        }
        return "/" + done.joined(separator: "/")
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    /// Where the container path `path` lies on the host: in the longest of `mounts` (container
    /// target → host source) holding it, else in the image's tree.
    static func host(_ path: String, rootfs: String, mounts: [(target: String, source: String)]) -> String {
        let holder = mounts.filter { path == $0.target || path.hasPrefix($0.target == "/" ? "/" : $0.target + "/") }.max { $0.target.count < $1.target.count }
        guard let holder else { return rootfs + path }
        return holder.source + String(path.dropFirst(holder.target.count))
    }

    /// The symbolic link at `path` on the host, if it is one.
    static func hostReadlink(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return nil }
        return try? FileManager.default.destinationOfSymbolicLink(atPath: path)
    }
}

extension ContainerSandbox {
    /// The sandbox with each mount's target resolved inside the container: through the image's
    /// tree and the volumes mounted before it (shorter targets first, as the script mounts them).
    func resolvingTargets() throws -> ContainerSandbox {
        var resolved: [Mount] = []
        for mount in mounts.sorted(by: { $0.target.count < $1.target.count }) {
            let earlier = resolved.filter { !$0.file }.map { (target: $0.target, source: $0.source) }
            var m = mount
            m.target = try ContainerPath.resolve(mount.target) { ContainerPath.hostReadlink(ContainerPath.host($0, rootfs: rootfs, mounts: earlier)) }
            resolved.append(m)
        }
        var copy = self
        copy.mounts = resolved
        return copy
    }
}
