import FerryProtocol
import FerrySteps
import Foundation
import KubeClient
import ProcessSpawn
import Testing
import TestSupport

/// `--method reflink|move` on real filesystems: a loop-mounted XFS image for reflinks (skipped,
/// saying why, where the kernel or the tools do not allow one), ext4 and tmpfs for the rest.
@Suite("same disk: reflink and move", .serialized, .timeLimit(.minutes(5)))
struct SameDiskTests {
    static let shm = "/dev/shm"

    /// A loop-mounted XFS with reflink (400 MiB), or the reason none can be made here.
    static func xfs(_ name: String) async throws -> (mount: String, unmount: () async -> Void)? {
        guard getuid() == 0 else { print("SKIPPED (reflink on XFS): not root, cannot loop-mount"); return nil }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs") || FileManager.default.isExecutableFile(atPath: "/sbin/mkfs.xfs") else {
            print("SKIPPED (reflink on XFS): mkfs.xfs missing (apt-get install xfsprogs; scripts/install-servers.sh does)")
            return nil
        }
        let base = try makeTempDir(name)
        let image = base + "/xfs.img", mount = base + "/mnt"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        _ = try await runCommand("/usr/bin/truncate", ["-s", "400M", image])
        let made = try await runCommand("/bin/sh", ["-c", "PATH=/usr/sbin:/sbin:$PATH mkfs.xfs -q -f -m reflink=1 \"$1\"", "sh", image], timeout: 60)
        guard made.status == 0 else { print("SKIPPED (reflink on XFS): mkfs.xfs failed: \(made.combined)"); return nil }
        let mounted = try await runCommand("/usr/bin/mount", ["-o", "loop", image, mount], timeout: 60)
        guard mounted.status == 0 else { print("SKIPPED (reflink on XFS): the kernel does not allow a loop mount here: \(mounted.combined)"); return nil }
        return (mount, {
            _ = try? await runCommand("/usr/bin/umount", [mount], timeout: 60)
            try? FileManager.default.removeItem(atPath: base)
        })
    }

    /// A listing's files and links (folders left out: a merged folder is the target's).
    static func withoutFolders(_ listing: String) -> [Substring] {
        listing.split(separator: "\n").filter { $0.split(separator: " ").dropFirst().first != "d" }
    }

    static func used(_ path: String) -> Int64 {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return -1 }
        return Int64(s.f_blocks - s.f_bfree) * Int64(s.f_frsize)
    }

    static func inode(_ path: String) -> UInt64 {
        var st = stat()
        return lstat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    static func files(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { p in
            var st = stat()
            return lstat(root + "/" + p, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR
        }.sorted()
    }

    @Test("reflink on XFS: every file is a reflink (the result says so) and the space used barely grows; the target is identical; writing the target leaves the source as it was; left out, the method picks reflink itself")
    func reflinkOnXFS() async throws {
        guard let (mount, unmount) = try await Self.xfs("same-disk-xfs") else { return }
        let src = mount + "/package/files", dst = mount + "/target"
        try FileMoverTests.makeTree(src, count: 200)
        let before = try await FileMoverTests.listing(src)
        _ = try await runCommand("/bin/sync", [])
        let usedBefore = Self.used(mount)
        var (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", dst, "--method", "reflink"])
        #expect(status == 0, "\(output)")
        #expect(json[path: ["result", "method"]]?.stringValue == "reflink" && json[path: ["result", "filesCloned"]]?.intValue == 200, "\(json)")
        let bytes = json[path: ["result", "bytesTotal"]]?.intValue ?? 0
        _ = try await runCommand("/bin/sync", [])
        let grew = Self.used(mount) - usedBefore
        #expect(bytes > 10_000_000 && grew < bytes / 4, "the clones share the source's blocks: \(grew) bytes more used for \(bytes) bytes of files")
        #expect(try await FileMoverTests.listing(dst) == before)
        JournalSyncTests.rewriteInPlace(dst + "/d0/e0/f0.bin", "the target changed")
        #expect(try await FileMoverTests.listing(src) == before, "a write to a reflink leaves the other side as it was")

        (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", mount + "/auto"])
        #expect(status == 0 && json[path: ["result", "method"]]?.stringValue == "reflink", "\(json) \(output)")
        await unmount()
    }

    @Test("reflink where the filesystem cannot (ext4): refused before anything is copied, naming the fix; left out, the bytes are copied and the result says copy")
    func reflinkRefused() async throws {
        let base = try makeTempDir("same-disk-ext4")
        let src = base + "/src", dst = base + "/dst"
        try FileMoverTests.makeTree(src, count: 30)
        let fsType = try await runCommand("/usr/bin/stat", ["-f", "-c", "%T", base]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let ext4 = fsType == "ext2/ext3"
        var (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", dst, "--method", "reflink"])
        if ext4 {
            #expect(status != 0, "\(output)")
            #expect(json["error"]?.stringValue?.contains("cannot be cloned") == true && json["error"]?.stringValue?.contains("XFS") == true, "\(json)")
            #expect(Self.files(dst).isEmpty, "nothing was copied: \(Self.files(dst))")
        } else {
            print("the temp folder is \(fsType), not ext4: the refusal is checked against tmpfs below")
        }
        (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", Self.shm + "/ferry-reflink-\(getpid())", "--method", "reflink"])
        #expect(status != 0 && json["error"]?.stringValue?.contains("cannot be cloned") == true, "across filesystems: \(json) \(output)")
        #expect(Self.files(Self.shm + "/ferry-reflink-\(getpid())").isEmpty)
        try? FileManager.default.removeItem(atPath: Self.shm + "/ferry-reflink-\(getpid())")

        (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", dst])
        #expect(status == 0 && json[path: ["result", "method"]]?.stringValue == (ext4 ? "copy" : json[path: ["result", "method"]]?.stringValue), "\(json) \(output)")
        #expect(try await FileMoverTests.listing(src) == (try await FileMoverTests.listing(dst)))
    }

    @Test("move on one filesystem: entries renamed (the same inodes), merged into a target that already holds some (its files replaced, its others kept), the source emptied; a rerun moves nothing and succeeds")
    func moveOneFilesystem() async throws {
        let base = try makeTempDir("same-disk-move")
        let src = base + "/package/files", dst = base + "/target"
        try FileMoverTests.makeTree(src, count: 120)
        try FileManager.default.createSymbolicLink(atPath: src + "/d0/link", withDestinationPath: "e0/f0.bin")
        let before = try await FileMoverTests.listing(src)
        let inode = Self.inode(src + "/d1/e1/f111.bin")
        try JournalSyncTests.put(dst + "/d0/e0/f0.bin", "an older copy")
        try JournalSyncTests.put(dst + "/kept/extra.txt", "the target's own")
        var (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", dst, "--method", "move"])
        #expect(status == 0, "\(output)")
        #expect(json[path: ["result", "method"]]?.stringValue == "move" && json[path: ["result", "filesMoved"]]?.intValue == 121, "\(json)")
        #expect(Self.inode(dst + "/d1/e1/f111.bin") == inode, "renamed, not copied")
        #expect(Self.files(src).isEmpty, "the source is emptied: \(Self.files(src).prefix(5))")
        #expect(FileManager.default.fileExists(atPath: src), "the source folder itself stays")
        try FileManager.default.removeItem(atPath: dst + "/kept")
        #expect(Self.withoutFolders(try await FileMoverTests.listing(dst)) == Self.withoutFolders(before), "the target holds what the source held (folders both had keep the target's mode and times)")
        (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", dst, "--method", "move"])
        #expect(status == 0 && json[path: ["result", "filesMoved"]]?.intValue == 0, "\(json) \(output)")
    }

    @Test("move refused before anything moves: across filesystems (tmpfs), with --delete, with a journal, into its own subfolder, with a FIFO or a symlink leaving the tree, from a folder it cannot write, to a bucket")
    func moveRefused() async throws {
        let base = try makeTempDir("same-disk-move-refused")
        let src = base + "/src"
        try FileMoverTests.makeTree(src, count: 20)
        chmod(base, 0o777)
        let before = try await FileMoverTests.listing(src)
        func refused(_ args: [String], _ phrase: String, as user: String? = nil) async throws {
            let (status, json, output) = try await FileMoverTests.move(args + ["--method", "move"], as: user)
            #expect(status != 0, "\(args): \(output)")
            #expect(json["error"]?.stringValue?.contains(phrase) == true, "\(args): \(json) \(output)")
            #expect(try await FileMoverTests.listing(src) == before, "\(args): nothing moved")
        }
        let other = Self.shm + "/ferry-move-\(getpid())"
        try await refused(["--source", src, "--target", other], "different filesystems or mounts")
        #expect(Self.files(other).isEmpty)
        try? FileManager.default.removeItem(atPath: other)
        try await refused(["--source", src, "--target", base + "/dst", "--delete"], "leave --delete out")
        try await refused(["--source", src, "--target", base + "/dst", "--journal", "\(src)=\(base)/j"], "do not go together")
        try await refused(["--source", src, "--target", src + "/d0/inside"], "must not hold one another")
        try await refused(["--copy", "\(src)=s3://bucket/prefix", "--s3-endpoint", "http://127.0.0.1:1"], "works between folders")

        // Unwritable for the mover's user (nobody): the source would be emptied.
        _ = try await runCommand("/bin/chmod", ["-R", "a+rX,go-w", src])
        try await refused(["--source", src, "--target", base + "/dst-nobody"], "cannot be written", as: "65534")

        #expect(mkfifo(src + "/d0/pipe", 0o644) == 0)
        #expect(symlink("../../../../etc/passwd", src + "/d0/e1/escape") == 0)
        let withBad = try await FileMoverTests.listing(src)
        let (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", base + "/dst", "--method", "move"])
        #expect(status != 0 && json["error"]?.stringValue?.contains("d0/pipe is not a regular file") == true
                && json["error"]?.stringValue?.contains("d0/e1/escape is a symlink") == true, "\(json) \(output)")
        #expect(try await FileMoverTests.listing(src) == withBad && Self.files(base + "/dst").isEmpty, "nothing moved")
    }
}
