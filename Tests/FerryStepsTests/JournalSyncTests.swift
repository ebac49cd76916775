import FerryProtocol
import FerrySteps
import Foundation
import KubeClient
import ProcessSpawn
import Testing
import TestSupport

/// The change journal with real processes on real trees: `ferry mover watch` records, the
/// first pass copies while the tree changes, the final pass copies only what was recorded, or
/// walks the whole tree and says why.
@Suite("change journal: watcher and final pass", .serialized, .timeLimit(.minutes(5)))
struct JournalSyncTests {
    static let ferry = FileMoverTests.ferry

    struct Watcher {
        var pid: pid_t
        var log: String
    }

    /// `ferry mover watch` as a process (as `user` through setpriv: no fanotify, so inotify),
    /// returned once its session is in the journal.
    static func watch(_ root: String, journal: String, as user: String? = nil) async throws -> Watcher {
        let log = journal + ".watcher-\(UUID().uuidString.prefix(6)).log"
        var program = ferry, args = ["mover", "watch", "--root", root, "--journal", journal]
        if let user {
            program = "/usr/bin/setpriv"
            args = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", ferry] + args
        }
        let before = (ChangeJournal.read(journal) ?? []).count
        let pid = try ProcessSpawn.spawn(program, args, environment: ["PATH": "/usr/bin:/bin"],
                                         fileActions: [.open(1, path: log, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644), .open(2, path: log, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)])
        let started = try await eventually(timeout: 60) {
            (ChangeJournal.read(journal) ?? []).dropFirst(before).contains { if case .session = $0 { return true }; return false }
        }
        if !started {
            kill(pid, SIGKILL)
            throw FileMoverTests.Failure(description: "the watcher did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return Watcher(pid: pid, log: log)
    }

    static func stop(_ w: Watcher, _ signal: Int32 = SIGTERM) async {
        kill(w.pid, signal)
        _ = await Task.detached { ProcessSpawn.waitStatus(w.pid) }.value
    }

    /// `mover files` with the journal; the journal report of its result.
    static func sync(_ source: String, _ target: String, journal: String, as user: String? = nil, extra: [String] = []) async throws -> (Int32, JSONValue, JSONValue, String) {
        let (status, json, output) = try await FileMoverTests.move(["--source", source, "--target", target, "--journal", "\(source)=\(journal)"] + extra, as: user)
        return (status, json, json[path: ["result", "journals"]]?.arrayValue?.first ?? .null, output)
    }

    /// Lines of the two trees' listings that are not in both (empty: identical trees). A
    /// folder's size is left out: it is the filesystem's, and follows the folder's history.
    static func differences(_ a: String, _ b: String) async throws -> [String] {
        func lines(_ root: String) async throws -> Set<String> {
            Set(try await FileMoverTests.listing(root).split(separator: "\n").map { line in
                var f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                if f.count == 6, f[1] == "d" { f[3] = "-" }
                return f.joined(separator: " ")
            })
        }
        let (x, y) = (try await lines(a), try await lines(b))
        let d = x.symmetricDifference(y).sorted().prefix(6).map { (x.contains($0) ? "source: " : "target: ") + $0 }
        if !d.isEmpty { print("differences between \(a) and \(b): \(d)") }
        return Array(d)
    }

    static func put(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Rewrites a file in place (truncate and write through one descriptor), as the reference
    /// application rewrites its latest.json.
    static func rewriteInPlace(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_TRUNC)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// A tree open to every user (the inotify runs go as nobody).
    static func base(_ name: String) throws -> String {
        let base = try makeTempDir(name)
        chmod(base, 0o777)
        return base
    }

    /// The same scenario for either mechanism: changes while the first pass runs and after it,
    /// then a final pass that looks only at what the journal recorded.
    func changesCaught(as user: String?) async throws {
        let base = try Self.base("journal-caught")
        let src = base + "/src", dst = base + "/dst", journal = base + "/src.journal"
        try FileMoverTests.makeTree(src, count: 300)
        try Self.put(src + "/latest.json", "{\"v\": 0}")
        try Self.put(base + "/incoming.bin", "from outside the tree")
        try FileManager.default.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        _ = try await runCommand("/bin/chmod", ["-R", "a+rwX", base])
        let watcher = try await Self.watch(src, journal: journal, as: user)

        // The first pass, slowed to a few seconds so the changes below land while it runs.
        let first = Task { try await Self.sync(src, dst, journal: journal, as: user, extra: ["--bandwidth", "12000000", "--delete"]) }
        try await Task.sleep(nanoseconds: 300_000_000)
        try Self.put(src + "/new/deep/x.txt", "new folder")
        try Self.put(src + "/d0/added.bin", "new file")
        for i in 1...5 { Self.rewriteInPlace(src + "/latest.json", "{\"v\": \(i)}") }
        #expect(rename(src + "/d0/e0/f0.bin", src + "/d0/e0/f0-renamed.bin") == 0)
        #expect(rename(src + "/d1/e1", src + "/d1/e1-moved") == 0, "a folder renamed inside the tree")
        #expect(rename(src + "/d2/e2/f220.bin", base + "/outside/f220.bin") == 0, "a file renamed out of the tree")
        #expect(rename(base + "/incoming.bin", src + "/d2/incoming.bin") == 0, "a file renamed into the tree")
        #expect(unlink(src + "/d1/e4/f144.bin") == 0)
        _ = try await runCommand("/bin/rm", ["-rf", src + "/d2/e5"])
        let (firstStatus, _, firstJournal, firstOutput) = try await first.value
        #expect(firstStatus == 0, "\(firstOutput)")
        #expect(firstJournal["pass"]?.stringValue == "walk", "the first pass walks: no pass had copied the tree yet")

        // After the first pass, until the application stops.
        Self.rewriteInPlace(src + "/latest.json", "{\"v\": \"final\"}")
        try Self.put(src + "/after/late.txt", "late")
        #expect(unlink(src + "/d2/e6/f266.bin") == 0)

        let (status, json, report, output) = try await Self.sync(src, dst, journal: journal, as: user, extra: ["--delete"])
        #expect(status == 0, "\(output)")
        #expect(report["pass"]?.stringValue == "journal", "\(report)")
        #expect(report["trusted"]?.boolValue == true)
        #expect(report["mechanism"]?.stringValue == (user == nil ? "fanotify" : "inotify"))
        #expect((report["sampled"]?.intValue ?? 0) > 0 && report["sampleDiffering"]?.intValue == 0)
        let looked = json[path: ["result", "filesTotal"]]?.intValue ?? 0
        #expect(looked > 0 && looked < 60, "the final pass looked at the changed paths only, not the 300 files: \(looked)")
        #expect(try await Self.differences(src, dst).isEmpty, "the target is identical")
        #expect(!FileManager.default.fileExists(atPath: dst + "/d2/e2/f220.bin"), "renamed out: removed")
        await Self.stop(watcher)
        let log = (try? String(contentsOfFile: watcher.log, encoding: .utf8)) ?? ""
        #expect(log.contains("paths recorded"), "\(log)")
    }

    @Test("fanotify: new files and folders, in-place rewrites, renames in, out and within, deletes, during and after the first pass: the final pass copies only those and the target is identical")
    func changesCaughtFanotify() async throws { try await changesCaught(as: nil) }

    @Test("without CAP_SYS_ADMIN (as nobody) the watcher falls back to inotify, and the same changes are caught")
    func changesCaughtInotify() async throws { try await changesCaught(as: "65534") }

    @Test("the watcher killed: the journal is not trusted, the final pass walks the whole tree and says why, and the target is identical")
    func watcherKilled() async throws {
        let base = try Self.base("journal-killed")
        let src = base + "/src", dst = base + "/dst", journal = base + "/j"
        try FileMoverTests.makeTree(src, count: 40)
        let watcher = try await Self.watch(src, journal: journal)
        #expect(try await Self.sync(src, dst, journal: journal, extra: ["--delete"]).0 == 0)
        await Self.stop(watcher, SIGKILL)
        try Self.put(src + "/d0/e0/changed-while-nobody-watched.txt", "unrecorded")
        let (status, _, report, output) = try await Self.sync(src, dst, journal: journal, extra: ["--delete"])
        #expect(status == 0, "\(output)")
        #expect(report["trusted"]?.boolValue == false && report["pass"]?.stringValue == "walk", "\(report)")
        #expect(report["reason"]?.stringValue?.contains("did not answer the flush request") == true, "\(report)")
        #expect(report["gapSince"]?.stringValue != nil)
        #expect(output.contains("walking the whole tree"), "the log says so too: \(output)")
        #expect(try await Self.differences(src, dst).isEmpty)
    }

    @Test("a change written while the watcher was stopped and restarted: the gap is caught, and a complete walk makes the journal whole again")
    func gapCaught() async throws {
        let base = try Self.base("journal-gap")
        let src = base + "/src", dst = base + "/dst", journal = base + "/j"
        try FileMoverTests.makeTree(src, count: 40)
        var watcher = try await Self.watch(src, journal: journal)
        #expect(try await Self.sync(src, dst, journal: journal).0 == 0)
        await Self.stop(watcher)
        try Self.put(src + "/d0/e1/behind-its-back.txt", "unrecorded")
        watcher = try await Self.watch(src, journal: journal)
        var (status, _, report, output) = try await Self.sync(src, dst, journal: journal)
        #expect(status == 0, "\(output)")
        #expect(report["pass"]?.stringValue == "walk" && report["reason"]?.stringValue?.contains("the watcher was down from") == true, "\(report)")
        #expect(FileManager.default.contents(atPath: dst + "/d0/e1/behind-its-back.txt") == Data("unrecorded".utf8))
        // That walk was complete and began after the restart: the next pass may trust the journal.
        try Self.put(src + "/d0/e1/recorded.txt", "recorded")
        (status, _, report, output) = try await Self.sync(src, dst, journal: journal)
        #expect(status == 0 && report["pass"]?.stringValue == "journal", "\(report) \(output)")
        #expect(try await Self.differences(src, dst).isEmpty)
        await Self.stop(watcher)
    }

    @Test("files that differ without a journal record are found by the sample of untouched files; the final pass then walks and repairs them")
    func sampleCatches() async throws {
        let base = try Self.base("journal-sample")
        let src = base + "/src", dst = base + "/dst", journal = base + "/j"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        for i in 0..<20 { try Self.put(src + "/f\(i).txt", "file \(i)") }
        let watcher = try await Self.watch(src, journal: journal)
        #expect(try await Self.sync(src, dst, journal: journal).0 == 0)
        // Half of the target changed behind the journal (it watches the source, not the target).
        for i in 0..<10 { try Self.put(dst + "/f\(i).txt", "damaged \(i) with another size") }
        let (status, _, report, output) = try await Self.sync(src, dst, journal: journal)
        #expect(status == 0, "\(output)")
        #expect(report["trusted"]?.boolValue == false && report["pass"]?.stringValue == "walk" && report["sampleDiffering"]?.intValue == 1, "\(report)")
        #expect(report["reason"]?.stringValue?.contains("found by the sample of untouched files") == true)
        #expect(try await Self.differences(src, dst).isEmpty)
        await Self.stop(watcher)
    }

    @Test("the kernel's queue overflows while the watcher is frozen: the journal turns untrusted, and the final pass walks")
    func overflow() async throws {
        let base = try Self.base("journal-overflow")
        let src = base + "/src", dst = base + "/dst", journal = base + "/j"
        try FileMoverTests.makeTree(src, count: 20)
        _ = try await runCommand("/bin/chmod", ["-R", "a+rwX", base])
        // inotify (as nobody): its queue has the kernel's limit (fs.inotify.max_queued_events).
        let watcher = try await Self.watch(src, journal: journal, as: "65534")
        #expect(try await Self.sync(src, dst, journal: journal, as: "65534").0 == 0)
        kill(watcher.pid, SIGSTOP)
        let limit = Int((try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 16384
        let made = try await runCommand("/usr/bin/python3", ["-c", "import os,sys\nd=sys.argv[1]\nfor i in range(int(sys.argv[2])): open(f'{d}/{i}','w').close()", src + "/d0/e0", String(limit + 2000)], timeout: 120)
        #expect(made.status == 0, "\(made.combined)")
        kill(watcher.pid, SIGCONT)
        _ = try await runCommand("/bin/chmod", ["-R", "a+rwX", base])
        let (status, _, report, output) = try await Self.sync(src, dst, journal: journal, as: "65534")
        #expect(status == 0, "\(output)")
        #expect(report["pass"]?.stringValue == "walk" && report["reason"]?.stringValue?.contains("overflowed (inotify)") == true, "\(report)")
        #expect(try await Self.differences(src, dst).isEmpty)
        await Self.stop(watcher)
    }

    @Test("bad journals: a folder that cannot be written, a second watcher on one journal, a journal for no copied folder — each refused by name before anything is copied")
    func refusals() async throws {
        let base = try Self.base("journal-refused")
        let src = base + "/src"
        try FileMoverTests.makeTree(src, count: 5)
        var (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", base + "/dst", "--watch", "--journal", "\(src)=/proc/ferry/none.journal"])
        #expect(status != 0, "\(output)")
        #expect(json["error"]?.stringValue?.contains("the journal /proc/ferry/none.journal cannot be written") == true, "\(json)")
        #expect(json["error"]?.stringValue?.contains("--journal") == true)
        #expect(!FileManager.default.fileExists(atPath: base + "/dst"), "nothing was copied")

        let watcher = try await Self.watch(src, journal: base + "/j")
        let second = try await runCommand(Self.ferry, ["mover", "watch", "--root", src, "--journal", base + "/j"], timeout: 30)
        #expect(second.status != 0 && second.combined.contains("is held by another watcher"), "\(second.combined)")
        await Self.stop(watcher)

        (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", base + "/dst", "--journal", "\(base)/elsewhere=\(base)/j"])
        #expect(status != 0 && json["error"]?.stringValue?.contains("no --copy from the folder") == true, "\(json) \(output)")
        (status, json, output) = try await FileMoverTests.move(["--source", src, "--target", base + "/dst", "--watch"])
        #expect(status != 0 && json["error"]?.stringValue?.contains("--watch needs a --journal") == true, "\(json) \(output)")
        #expect(!FileManager.default.fileExists(atPath: base + "/dst"), "nothing was copied")
    }

    @Test("a folder replacing a symlink to another folder: the final pass with --delete replaces the target's link with a folder and never removes or writes through it (the linked folder's files stay); the same on a full walk")
    func symlinkReplacedByFolder() async throws {
        for journaled in [true, false] {
            let base = try Self.base("journal-symlink")
            let src = base + "/src", dst = base + "/dst", journal = base + "/j"
            try Self.put(src + "/e/1", "one")
            try Self.put(src + "/e/2", "two")
            #expect(symlink("e", src + "/d") == 0)
            let watcher = try await Self.watch(src, journal: journal)
            #expect(try await Self.sync(src, dst, journal: journal, extra: ["--delete"]).0 == 0)
            #expect(unlink(src + "/d") == 0)
            try Self.put(src + "/d/new", "a folder now")
            let (status, _, report, output) = journaled ? try await Self.sync(src, dst, journal: journal, extra: ["--delete"])
                : try await { let r = try await FileMoverTests.move(["--source", src, "--target", dst, "--delete"]); return (r.0, r.1, JSONValue.null, r.2) }()
            #expect(status == 0, "\(output)")
            if journaled { #expect(report["pass"]?.stringValue == "journal", "\(report)") }
            #expect(FileManager.default.fileExists(atPath: dst + "/e/1") && FileManager.default.fileExists(atPath: dst + "/e/2"), "the linked folder's files stay: \(output)")
            #expect(!FileManager.default.fileExists(atPath: dst + "/e/new"), "nothing written through the old link")
            #expect(try await Self.differences(src, dst).isEmpty)
            await Self.stop(watcher)
        }
    }

    @Test("the watched folder moved away and a new one made at its path, or the target replaced by a copy: the journal is not trusted for them, and the final pass walks")
    func replacedFolders() async throws {
        let base = try Self.base("journal-replaced")
        let src = base + "/src", dst = base + "/dst", journal = base + "/j"
        try FileMoverTests.makeTree(src, count: 20)
        let watcher = try await Self.watch(src, journal: journal)
        #expect(try await Self.sync(src, dst, journal: journal, extra: ["--delete"]).0 == 0)
        _ = try await runCommand("/bin/cp", ["-a", dst, base + "/dst-copy"])
        #expect(rename(dst, base + "/dst-old") == 0 && rename(base + "/dst-copy", dst) == 0)
        var (status, _, report, output) = try await Self.sync(src, dst, journal: journal, extra: ["--delete"])
        #expect(status == 0 && report["pass"]?.stringValue == "walk" && report["reason"]?.stringValue?.contains("no pass has copied the whole tree into \(dst)") == true, "\(report) \(output)")
        #expect(rename(src, base + "/src-old") == 0)
        try Self.put(src + "/only-this.txt", "a new tree at the old path")
        (status, _, report, output) = try await Self.sync(src, dst, journal: journal, extra: ["--delete"])
        #expect(status == 0 && report["reason"]?.stringValue?.contains("was replaced since the watcher started") == true, "\(report) \(output)")
        #expect(try await Self.differences(src, dst).isEmpty, "the walk with --delete makes the target the new tree")
        await Self.stop(watcher)
    }

    @Test("a journaled path the mover cannot read (a folder closed to its user) is an error, never taken for copied")
    func unreadableJournaledPath() async throws {
        let base = try Self.base("journal-unreadable")
        let src = base + "/src", dst = base + "/dst", journal = base + "/j"
        try FileMoverTests.makeTree(src, count: 10)
        _ = try await runCommand("/bin/chmod", ["-R", "a+rwX", base])
        let watcher = try await Self.watch(src, journal: journal)
        chmod(journal, 0o666)
        #expect(try await Self.sync(src, dst, journal: journal, as: "65534").0 == 0)
        try Self.put(src + "/closed/inner/secret.txt", "for root only")
        chmod(src + "/closed", 0o700)
        let (status, json, _, output) = try await Self.sync(src, dst, journal: journal, as: "65534")
        #expect(output.contains("3 journaled paths"), "the journal pass itself finds it: \(output)")
        #expect(status != 0 && json["error"]?.stringValue?.contains("closed") == true, "\(json) \(output)")
        await Self.stop(watcher)
    }

    @Test("ferry export --watch, then --final once the application stops: only the recorded paths are copied into the package, the manifest's counts follow, --verify passes and the folder is identical; without a live watcher --final walks the folder and says why")
    func exportWatchFinal() async throws {
        let base = try Self.base("journal-export")
        let src = base + "/attachments", output = base + "/package"
        try FileMoverTests.makeTree(src, count: 200)
        let log = base + "/export.log"
        let args = ["export", "--output", output, "--app-version", "6.4.1", "--files", "attachments=\(src)"]
        let pid = try ProcessSpawn.spawn(Self.ferry, args + ["--watch"], environment: ["PATH": "/usr/bin:/bin"],
                                         fileActions: [.open(1, path: log, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644), .open(2, path: log, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)])
        let watching = try await eventually(timeout: 120, interval: 0.2) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("watching 1 folders") }
        #expect(watching, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        // The application keeps writing after the export.
        try Self.put(src + "/d0/e0/new.txt", "new")
        try Self.put(src + "/late/folder/x.txt", "new folder")
        Self.rewriteInPlace(src + "/d1/e1/f111.bin", "rewritten in place")
        #expect(rename(src + "/d1/e2/f121.bin", src + "/d1/renamed.bin") == 0)
        #expect(unlink(src + "/d0/e3/f31.bin") == 0)
        let final = try await runCommand(Self.ferry, args + ["--final", "--json"], timeout: 120)
        #expect(final.status == 0, "\(final.combined)")
        let reports = (try? JSONWire.parse(Array(final.stdout.utf8)))?.arrayValue ?? []
        #expect(reports.first?["pass"]?.stringValue == "journal" && reports.first?["trusted"]?.boolValue == true, "\(final.stdout)")
        let verify = try await runCommand(Self.ferry, ["export", "--verify", output], timeout: 120)
        #expect(verify.status == 0, "the manifest's counts follow the changes: \(verify.combined)")
        #expect(try await Self.differences(src, output + "/attachments").isEmpty, "the package's folder is the application's, deletes and renames included")
        kill(pid, SIGINT)
        let status = await Task.detached { ProcessSpawn.waitStatus(pid) }.value
        #expect(status == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

        // The watcher has stopped: a change now is not recorded, and --final walks, saying why.
        try Self.put(src + "/d2/after-the-watcher.txt", "unrecorded")
        let again = try await runCommand(Self.ferry, args + ["--final", "--json"], timeout: 120)
        let report = (try? JSONWire.parse(Array(again.stdout.utf8)))?.arrayValue?.first
        #expect(again.status == 0 && report?["pass"]?.stringValue == "walk" && report?["reason"]?.stringValue?.contains("the watcher stopped") == true, "\(again.combined)")
        #expect(try await runCommand(Self.ferry, ["export", "--verify", output], timeout: 120).status == 0)
        #expect(try await Self.differences(src, output + "/attachments").isEmpty)
    }
}
