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
    static func resolve(_ path: String, readlink: (String) throws -> String?) throws -> String {
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
            guard let target = try readlink(candidate) else {
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
    static func hostReadlink(_ path: String) throws -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { throw UnreadableLink(path: path, reason: String(cString: strerror(errno))) }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    struct UnreadableLink: Error, CustomStringConvertible {
        var path: String, reason: String
        var description: String { "cannot read the symbolic link \(path): \(reason)" }
    }

    /// A volume's `subPath` as a path inside the volume, its links resolved inside the volume
    /// (the API server refuses absolute ones and `..`; so does this).
    static func subPath(_ sub: String, in volume: String) throws -> String {
        if sub.hasPrefix("/") || components(sub).contains("..") {
            throw ContainerSandbox.ConfigError(description: "subPath \"\(sub)\" must be a relative path without '..'")
        }
        return volume + (try resolve("/" + sub) { try hostReadlink(volume + $0) })
    }
}

extension ContainerSandbox {
    /// The sandbox with each mount's target resolved inside the container: through the image's
    /// tree and the volumes mounted at a resolved target above it, until nothing changes (a
    /// resolved target can move a mount before or after another); the script mounts them
    /// shortest first, and checks again on the spot that no target passes through a link.
    func resolvingTargets() throws -> ContainerSandbox {
        var resolved = mounts.map(\.target)
        for _ in 0...mounts.count {
            let current = resolved
            let next = try mounts.indices.map { i in
                let others = mounts.indices.filter { $0 != i && !mounts[$0].file }.map { (target: current[$0], source: mounts[$0].source) }
                return try ContainerPath.resolve(mounts[i].target) { try ContainerPath.hostReadlink(ContainerPath.host($0, rootfs: rootfs, mounts: others)) }
            }
            if next == current { break }
            resolved = next
        }
        var copy = self
        copy.mounts = zip(mounts, resolved).map { m, t in var m = m; m.target = t; return m }
        return copy
    }
}
