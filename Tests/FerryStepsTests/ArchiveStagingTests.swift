import FerryProtocol
@testable import FerrySteps
import Foundation
import KubeClient
import Testing
import TestSupport

/// A SaaS export's `files/<name>.tar.gz` (`spec.files[].unpack`): archives made by Python's
/// tarfile, unpacked by Ferry's own reader into a staging folder and copied by the mover; the
/// hostile ones refused by archive and entry with nothing of them written.
@Suite("SaaS archives unpacked before the copy", .timeLimit(.minutes(3)))
struct ArchiveStagingTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    /// Every file under `root` with its content, relative.
    static func tree(_ root: String) -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: root)
        while let p = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + p, isDirectory: &isDir), !isDir.boolValue {
                out[p] = (try? String(contentsOfFile: root + "/" + p, encoding: .utf8)) ?? "<binary>"
            }
        }
        return out
    }

    @Test("attachment archives (no folder level inside, ./ prefixes, nested folders, a 180-character name in GNU and pax form, an empty file) are unpacked into <name>/ and copied by ferry mover files --unpack; a plain file beside them is copied as it is; a second run copies nothing; validate reads them through")
    func unpacksAndCopies() async throws {
        let base = try makeTempDir("saas")
        let files = base + "/package/files", target = base + "/target"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let long = String(repeating: "deep/", count: 20) + String(repeating: "n", count: 80) + ".pdf"
        try await ArchiveStagingHelpers.archive(files, "project-1", [("./", "d", ""), ("./a.png", "f", "png bytes"), ("sub", "d", ""), ("sub/b.txt", "f", "b\ttab\nline"), ("empty.txt", "f", ""), (long, "f", "long name")])
        try await ArchiveStagingHelpers.archive(files, "project-2", [("c.txt", "f", "c"), (long, "f", "gnu long"), ("a", "f", "one-character name")], format: "gnu")
        try Data("readme".utf8).write(to: URL(fileURLWithPath: files + "/README.txt"))
        try Data(#"{"version":"6.4.1"}"#.utf8).write(to: URL(fileURLWithPath: base + "/package/info.json"))
        let out = try makeTempDir("saas-out")
        let tmp = try makeTempDir("saas-tmp")
        let r = try await runCommand(Self.ferry, ["mover", "files", "--copy", "\(files)=\(target)", "--unpack", files, "--control-port=-1", "--result-file", out + "/r.json"],
                                     environment: ["TMPDIR": tmp], timeout: 120)
        #expect(r.status == 0, "\(r.combined)")
        let got = Self.tree(target)
        #expect(got == ["project-1/a.png": "png bytes", "project-1/sub/b.txt": "b\ttab\nline", "project-1/empty.txt": "", "project-1/\(long)": "long name",
                        "project-2/c.txt": "c", "project-2/\(long)": "gnu long", "project-2/a": "one-character name", "README.txt": "readme"], "\(got.keys.sorted())")
        let mode = (try FileManager.default.attributesOfItem(atPath: target + "/project-1")[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o755, "an unpacked folder is readable by the application's user: \(String(describing: mode))")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? ["?"]).filter { $0.hasPrefix("ferry-unpack") }.isEmpty, "the staging folder is removed when the copy ends")
        let mtime = try FileManager.default.attributesOfItem(atPath: target + "/project-1/a.png")[.modificationDate] as? Date
        #expect(mtime == Date(timeIntervalSince1970: 1_700_000_000), "the archive's time kept: \(String(describing: mtime))")
        let again = try await runCommand(Self.ferry, ["mover", "files", "--copy", "\(files)=\(target)", "--unpack", files, "--control-port=-1", "--result-file", out + "/r2.json"], timeout: 120)
        let second = try JSONWire.parse(Array(try Data(contentsOf: URL(fileURLWithPath: out + "/r2.json"))))
        #expect(again.status == 0 && second["result"]?["filesCopied"]?.intValue == 0, "a second pass copies nothing: \(second)")
        // Validate reads the archives through and says so.
        let v = try ValidateArguments(package: base + "/package", appVersion: "6.4.1", folders: ["files"]).run(say: { _ in })
        #expect(!v.notes.contains { $0.contains("archives checked") }, "without unpack nothing is said of them")
        var withUnpack = ValidateArguments(package: base + "/package", appVersion: "6.4.1", folders: ["files"])
        withUnpack.unpack = ["files"]
        #expect(try withUnpack.run(say: { _ in }).notes.contains { $0.contains("2 archives checked") })
    }

    @Test("hostile archives are refused naming the archive and the entry, before anything of them is written: ../ and absolute paths (in the name, a GNU long name and a pax path), a symlink, a hard link, a FIFO, a name twice, a cut-off archive, not gzip")
    func hostile() async throws {
        let cases: [(String, [(String, String, String)], String, String)] = [
            ("dotdot", [("ok.txt", "f", "fine"), ("../escape.txt", "f", "x")], "pax", "../escape.txt"),
            ("absolute", [("/tmp/ferry-absolute-\(UUID().uuidString.prefix(6)).txt", "f", "x")], "pax", "/tmp/ferry-absolute"),
            ("gnulong", [(String(repeating: "a/", count: 60) + "../../" + String(repeating: "../", count: 60) + "x", "f", "x")], "gnu", "would be written outside"),
            ("paxlong", [(String(repeating: "b/", count: 60) + String(repeating: "../", count: 70) + "y", "f", "x")], "pax", "would be written outside"),
            ("symlink", [("link", "l", "/etc"), ("link/passwd", "f", "x")], "pax", "symbolic link to /etc"),
            ("hardlink", [("h", "h", "/etc/passwd")], "pax", "hard link"),
            ("fifo", [("pipe", "p", "")], "pax", "FIFO"),
            ("twice", [("same.txt", "f", "1"), ("same.txt", "f", "2")], "pax", "twice"),
        ]
        for (name, entries, format, words) in cases {
            let base = try makeTempDir("hostile")
            let files = base + "/files"
            try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
            try await ArchiveStagingHelpers.archive(files, name, entries, format: format)
            #expect(throws: StepError.self, "\(name): check") { try ArchiveStaging.check(files) }
            do {
                _ = try ArchiveStaging.stage(files, into: base + "/staging", say: { _ in })
                Issue.record("\(name) was unpacked")
            } catch {
                #expect("\(error)".contains("\(name).tar.gz") && "\(error)".contains(words), "\(name): \(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: base + "/escape.txt") && !FileManager.default.fileExists(atPath: base + "/staging/link/passwd"), "\(name): nothing escaped")
        }
        // Cut off, and not gzip at all.
        let base = try makeTempDir("hostile-bytes")
        try FileManager.default.createDirectory(atPath: base + "/files", withIntermediateDirectories: true)
        try await ArchiveStagingHelpers.archive(base + "/files", "whole", [("big.bin", "f", String(repeating: "z", count: 200_000))])
        let whole = try Data(contentsOf: URL(fileURLWithPath: base + "/files/whole.tar.gz"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: base + "/files/whole.tar.gz"))
        #expect(throws: StepError.self) { try ArchiveStaging.check(base + "/files") }
        try Data("not gzip at all".utf8).write(to: URL(fileURLWithPath: base + "/files/whole.tar.gz"))
        do { _ = try ArchiveStaging.check(base + "/files"); Issue.record("not gzip was read") } catch { #expect("\(error)".contains("whole.tar.gz"), "\(error)") }
    }

    @Test("around the archives: a FIFO or a link beside them is refused, never waited on; names that would land on one folder (a.tgz and a.tar.gz, x and x.tar.gz) or on none (..tar.gz); a header claiming a size near Int.max — each refused by validate's check and by the copy, naming the file")
    func aroundTheArchives() async throws {
        func folder(_ setUp: (String) async throws -> Void) async throws -> String {
            let f = try makeTempDir("around") + "/files"
            try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
            try await setUp(f)
            return f
        }
        let fifo = try await folder { f in
            try await ArchiveStagingHelpers.archive(f, "ok", [("a.txt", "f", "a")])
            #expect(mkfifo(f + "/pipe", 0o644) == 0)
        }
        let link = try await folder { f in try FileManager.default.createSymbolicLink(atPath: f + "/etc", withDestinationPath: "/etc") }
        let twoNames = try await folder { f in
            try await ArchiveStagingHelpers.archive(f, "a", [("1", "f", "1")])
            try FileManager.default.copyItem(atPath: f + "/a.tar.gz", toPath: f + "/a.tgz")
        }
        let fileAndArchive = try await folder { f in
            try await ArchiveStagingHelpers.archive(f, "x", [("1", "f", "1")])
            try Data("x".utf8).write(to: URL(fileURLWithPath: f + "/x"))
        }
        let dots = try await folder { f in
            try await ArchiveStagingHelpers.archive(f, "ok", [("1", "f", "1")])
            try FileManager.default.moveItem(atPath: f + "/ok.tar.gz", toPath: f + "/..tar.gz")
        }
        let huge = try await folder { f in
            // One ustar header whose base-256 size is Int.max - 256, checksum right, then gzip'd.
            var h = [UInt8](repeating: 0, count: 512)
            for (i, b) in Array("big".utf8).enumerated() { h[i] = b }
            h.replaceSubrange(124..<136, with: [0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff])
            h[156] = UInt8(ascii: "0")
            for (i, b) in (Array("ustar".utf8) + [0, 0x30, 0x30]).enumerated() { h[257 + i] = b }
            for i in 148..<156 { h[i] = 32 }
            let sum = h.reduce(0) { $0 + Int($1) }
            for (i, b) in (Array(String(sum, radix: 8).leftPadded(6).utf8) + [0, 32]).enumerated() { h[148 + i] = b }
            try Data(h + [UInt8](repeating: 0, count: 1024)).write(to: URL(fileURLWithPath: f + "/big.tar"))
            let g = try await runCommand("/usr/bin/gzip", ["-n", f + "/big.tar"])
            #expect(g.status == 0, "\(g.combined)")
        }
        for (name, f, words) in [("fifo", fifo, "a FIFO"), ("link", link, "a symbolic link"), ("two names", twoNames, "would both become a"),
                                 ("file and archive", fileAndArchive, "would both become x"), ("dots", dots, "names no folder"), ("huge", huge, "not a tar archive")] {
            do { _ = try ArchiveStaging.check(f); Issue.record("\(name): validate's check passed") } catch { #expect("\(error)".contains(words), "\(name): \(error)") }
            let staging = try makeTempDir("around-staging")
            do { _ = try ArchiveStaging.stage(f, into: staging + "/s", say: { _ in }); Issue.record("\(name): staged") } catch { #expect("\(error)".contains(words), "\(name): \(error)") }
            #expect(!FileManager.default.fileExists(atPath: staging + "/s"), "\(name): nothing of it left")
        }
    }

    @Test("tar headers: checksums, octal and base-256 sizes, the ustar prefix; fuzzed headers never crash and never yield a path that leaves the folder")
    func headers() {
        #expect(ArchiveStaging.safePath("./a//b/./c") == "a/b/c")
        #expect(ArchiveStaging.safePath("a/../b") == nil && ArchiveStaging.safePath("/a") == nil && ArchiveStaging.safePath("") == nil && ArchiveStaging.safePath("./") == nil)
        #expect(ArchiveStaging.folderName("p.tar.gz") == "p" && ArchiveStaging.folderName("p.tgz") == "p" && ArchiveStaging.folderName(".tar.gz") == nil && ArchiveStaging.folderName("p.zip") == nil)
        var seed: UInt64 = 0x7A2_0019
        for _ in 0..<3000 {
            var h = [UInt8](repeating: 0, count: 512)
            for i in h.indices { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; h[i] = seed % 4 == 0 ? UInt8(truncatingIfNeeded: seed >> 3) : h[i] }
            if let e = ArchiveStaging.parse(h), let p = ArchiveStaging.safePath(e.path) { #expect(!p.split(separator: "/").contains("..") && !p.hasPrefix("/")) }
        }
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
