import FerryProtocol
import Foundation
import FerrySteps
import KubeClient
import ProcessSpawn
import Testing
import TestSupport

/// `ferry mover files` on real directories, as a real process.
@Suite("ferry mover files", .serialized, .timeLimit(.minutes(3)))
struct FileMoverTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// A tree of `count` files of 1–200 KiB (random bytes) in nested folders.
    static func makeTree(_ root: String, count: Int, seed: UInt64 = 1) throws {
        var rng = seed
        func next() -> UInt64 {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return rng >> 33
        }
        for i in 0..<count {
            let dir = "\(root)/d\(i / 100 % 10)/e\(i / 10 % 10)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let size = 1024 + Int(next() % 200_000)
            var bytes = [UInt8](repeating: 0, count: size)
            for j in stride(from: 0, to: size, by: 8) { bytes[j] = UInt8(truncatingIfNeeded: next()) }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/f\(i).bin"))
        }
    }

    /// Every entry with type, mode, size, mtime (seconds), link text and a content hash: equal listings mean equal trees.
    static func listing(_ root: String) async throws -> String {
        let r = try await runCommand("/bin/sh", ["-c", "cd \"$1\" && find . -mindepth 1 -printf '%p %y %m %s %T@ %l\\n' | sed 's/\\(\\.[0-9]\\)[0-9]* / /' | sort && find . -type f -print0 | sort -z | xargs -0 -r md5sum", "sh", root], timeout: 60)
        guard r.status == 0 else { throw Failure(description: r.combined) }
        return r.stdout
    }

    static func temps(_ root: String) async throws -> [String] {
        let r = try await runCommand("/usr/bin/find", [root, "-name", ".ferry-part-*"])
        return r.stdout.split(separator: "\n").map(String.init)
    }

    static func move(_ args: [String], as user: String? = nil, timeout: Double = 60) async throws -> (Int32, JSONValue, String) {
        let out = try makeTempDir("mover-result")
        chmod(out, 0o777)
        var command = [ferry, "mover", "files", "--control-port=-1", "--result-file", out + "/r.json"] + args
        var program = ferry
        if let user {
            program = "/usr/bin/setpriv"
            command = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups"] + command
        } else {
            command.removeFirst()
        }
        let r = try await runCommand(program, command, timeout: timeout)
        let json = (try? JSONWire.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: out + "/r.json"))) ?? Data()))) ?? .null
        return (r.status, json, r.combined)
    }

    @Test("kill -9 at 10 random moments, rerun each time: no partial file ever has a final name, no temporary file is left, source and target end identical")
    func killAndRerun() async throws {
        let base = try makeTempDir("mover-kill")
        let source = base + "/src", target = base + "/dst"
        try Self.makeTree(source, count: 600)
        var killedMidway = 0
        for round in 0..<10 {
            // 1 MB/s makes the whole copy take ~60 s over all rounds (each kill comes within 0.9 s, or
            // a few seconds when a loaded machine oversleeps), so kills land mid-copy however loaded it is.
            let pid = try ProcessSpawn.spawn(Self.ferry, ["mover", "files", "--source", source, "--target", target, "--control-port=-1", "--bandwidth", "1000000", "--result-file", base + "/r.json"],
                                             environment: ["PATH": "/usr/bin:/bin"], fileActions: [.open(1, path: "/dev/null", flags: O_WRONLY, mode: 0), .open(2, path: "/dev/null", flags: O_WRONLY, mode: 0)])
            try await Task.sleep(nanoseconds: UInt64.random(in: 50_000_000...(round < 5 ? 400_000_000 : 900_000_000)))
            // Still running when killed (not yet exited, not a zombie): read from /proc, not from the
            // exit status, which another suite's child reaper may collect first under a full parallel run.
            let alive = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).map { !$0.contains(") Z ") } ?? false
            kill(pid, SIGKILL)
            _ = await Task.detached { ProcessSpawn.waitStatus(pid) }.value
            if alive { killedMidway += 1 }
            // Whatever has its final name is complete.
            let check = try await runCommand("/bin/sh", ["-c", "cd \"$1\" && find . -type f ! -name '.ferry-part-*' | while read -r f; do cmp -s \"$f\" \"$2/$f\" || echo \"partial: $f\"; done", "sh", target, source], timeout: 60)
            #expect(check.stdout.isEmpty, "round \(round): \(check.stdout.prefix(300))")
        }
        #expect(killedMidway >= 5, "most kills should land while copying")
        let (status, json, output) = try await Self.move(["--source", source, "--target", target])
        #expect(status == 0, "\(output)")
        #expect(json[path: ["result", "verify", "differing"]]?.intValue == 0)
        #expect(try await Self.temps(target).isEmpty)
        #expect(try await Self.listing(source) == (try await Self.listing(target)))
        // A second rerun copies nothing.
        let (_, again, _) = try await Self.move(["--source", source, "--target", target])
        #expect(again[path: ["result", "filesCopied"]]?.intValue == 0)
        #expect(again[path: ["result", "filesSkipped"]]?.intValue == 600)
    }

    @Test("awkward trees: spaces and non-UTF-8 names, 0-byte files, deep nesting, empty folders, modes, mtimes and links inside the tree are kept; a link out of the tree is refused")
    func awkwardTree() async throws {
        let base = try makeTempDir("mover-awkward")
        let made = try await runCommand("/usr/bin/python3", ["-c", """
            import os, sys
            root = sys.argv[1].encode()
            os.makedirs(root + b"/with space/sub dir", exist_ok=True)
            open(root + b"/with space/sub dir/a file.txt", "wb").write(b"hello")
            open(root + b"/latin1-\\xe9\\xff.bin", "wb").write(os.urandom(5000))
            open(root + b"/empty.bin", "wb").close()
            deep = root + b"/deep" + b"/n" * 60
            os.makedirs(deep, exist_ok=True)
            open(deep + b"/leaf.txt", "wb").write(b"deep")
            os.makedirs(root + b"/empty folder/inner", exist_ok=True)
            os.chmod(root + b"/with space/sub dir/a file.txt", 0o600)
            os.utime(root + b"/empty.bin", (1000000000, 1000000000))
            os.symlink(b"../with space/sub dir/a file.txt", root + b"/deep/inside-link")
            os.symlink(b"latin1-\\xe9\\xff.bin", root + b"/sibling-link")
            """, base + "/src"])
        #expect(made.status == 0, "\(made.combined)")
        var (status, json, output) = try await Self.move(["--source", base + "/src", "--target", base + "/dst"])
        #expect(status == 0, "\(output)")
        #expect(try await Self.listing(base + "/src") == (try await Self.listing(base + "/dst")))

        symlink("/etc/passwd", base + "/src/absolute-out")
        symlink("../../outside", base + "/src/with space/climb-out")
        (status, json, output) = try await Self.move(["--source", base + "/src", "--target", base + "/dst"])
        #expect(status == 1)
        let error = json["error"]?.stringValue ?? ""
        #expect(error.contains("absolute-out: symlink to /etc/passwd points outside the tree"), "\(error)")
        #expect(error.contains("climb-out: symlink to ../../outside points outside the tree"), "\(error)")
        #expect(FileManager.default.fileExists(atPath: base + "/dst/with space/sub dir/a file.txt"), "the rest was copied")
        var st = stat()
        #expect(lstat(base + "/dst/absolute-out", &st) != 0, "the escaping link was not created")
    }

    @Test("an unreadable file is reported and skipped, the rest is copied, the run ends non-zero with the list")
    func permissionDenied() async throws {
        let base = try makeTempDir("mover-perm")
        chmod(base, 0o755)
        try Self.makeTree(base + "/src", count: 30)
        chmod(base + "/src/d0/e1/f12.bin", 0o000)
        try FileManager.default.createDirectory(atPath: base + "/dst", withIntermediateDirectories: true)
        chmod(base + "/dst", 0o777)
        // As nobody: root reads everything.
        let (status, json, output) = try await Self.move(["--source", base + "/src", "--target", base + "/dst"], as: "65534")
        #expect(status == 1, "\(output)")
        #expect(json["error"]?.stringValue?.contains("f12.bin: Permission denied; skipped") == true, "\(json)")
        #expect(json["error"]?.stringValue?.contains("1 files could not be copied") == true)
        #expect(FileManager.default.fileExists(atPath: base + "/dst/d0/e1/f13.bin"))
        #expect(!FileManager.default.fileExists(atPath: base + "/dst/d0/e1/f12.bin"))
    }

    /// Whether this machine lets us mount a small tmpfs (root with CAP_SYS_ADMIN).
    static let canMountTmpfs: Bool = {
        let dir = NSTemporaryDirectory() + "ferry-mount-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard (try? runCommandSync("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir])) == 0 else { return false }
        _ = try? runCommandSync("/bin/umount", [dir])
        return true
    }()

    @Test("a full target stops the run with a clear message and keeps nothing half-written", .enabled(if: FileMoverTests.canMountTmpfs, "needs to mount a small tmpfs (root)"))
    func fullTarget() async throws {
        let base = try makeTempDir("mover-full")
        try Self.makeTree(base + "/src", count: 200)  // ~20 MB
        let target = base + "/small"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let mounted = try await runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", target])
        #expect(mounted.status == 0, "a 4 MB tmpfs is needed for this test: \(mounted.combined)")
        defer { _ = try? runCommandSync("/bin/umount", [target]) }
        let (status, json, _) = try await Self.move(["--source", base + "/src", "--target", target + "/dst"])
        #expect(status == 1)
        #expect(json["error"]?.stringValue?.contains("the target is full") == true, "\(json)")
        #expect(try await Self.temps(target).isEmpty, "no temporary file kept")
        let check = try await runCommand("/bin/sh", ["-c", "cd \"$1\" && find . -type f | while read -r f; do cmp -s \"$f\" \"$2/$f\" || echo \"partial: $f\"; done", "sh", target + "/dst", base + "/src"], timeout: 60)
        #expect(check.stdout.isEmpty, "\(check.stdout.prefix(300))")
    }

    @Test("a file that changes while it is copied is copied again, never kept torn")
    func changingFile() async throws {
        let base = try makeTempDir("mover-change")
        try FileManager.default.createDirectory(atPath: base + "/src", withIntermediateDirectories: true)
        let big = base + "/src/growing.log"
        try Data(repeating: 65, count: 8 << 20).write(to: URL(fileURLWithPath: big))
        // A writer appends while a slow (4 MB/s) copy runs.
        let writer = Task.detached {
            let h = FileHandle(forWritingAtPath: big)!
            for _ in 0..<10 {
                try? await Task.sleep(nanoseconds: 100_000_000)
                h.seekToEndOfFile()
                h.write(Data(repeating: 66, count: 1000))
            }
            try? h.close()
        }
        let (status, json, output) = try await Self.move(["--source", base + "/src", "--target", base + "/dst", "--bandwidth", "4000000"])
        await writer.value
        #expect(status == 0, "\(output) \(json)")
        // The writer finished within the first second of a two-second copy: what was kept is the final version.
        #expect(try Data(contentsOf: URL(fileURLWithPath: big)) == (try Data(contentsOf: URL(fileURLWithPath: base + "/dst/growing.log"))))
        #expect(json[path: ["result", "bytesCopied"]]?.intValue ?? 0 > Int64(8 << 20), "the first, torn attempt was thrown away and the file sent again")
    }

    @Test("a daily window: inside, outside, and overnight windows that wrap midnight; bad values name the field")
    func window() throws {
        let utc = TimeZone(identifier: "UTC")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        func at(_ h: Int, _ m: Int) -> Date { calendar.date(from: DateComponents(year: 2026, month: 11, day: 21, hour: h, minute: m))! }
        let night = try DailyWindow(start: "22:00", end: "06:00")
        #expect(night.contains(at(23, 30)) && night.contains(at(2, 0)) && night.contains(at(22, 0)))
        #expect(!night.contains(at(6, 0)) && !night.contains(at(12, 0)))
        let day = try DailyWindow(start: "09:00", end: "17:30")
        #expect(day.contains(at(9, 0)) && day.contains(at(17, 29)) && !day.contains(at(17, 30)) && !day.contains(at(8, 59)))
        let berlin = try DailyWindow(start: "22:00", end: "23:00", timeZone: "Europe/Berlin")
        #expect(berlin.contains(at(21, 30)), "21:30 UTC is 22:30 in Berlin in November")
        #expect(throws: StepError.self) { _ = try DailyWindow(start: "25:00", end: "06:00") }
        #expect(throws: StepError.self) { _ = try DailyWindow(start: "22:00", end: "06:00", timeZone: "Mars/Olympus") }
        let outside = MoverControl(window: try DailyWindow(start: "00:00", end: "00:01"))
        if !(try DailyWindow(start: "00:00", end: "00:01")).contains(Date()) {
            #expect(outside.progress().state == .waitingForWindow)
        }
    }

    @Test("pause and resume by signal and by HTTP: no bytes written while paused; progress over HTTP; a bandwidth limit holds within 10% over 10 s")
    func pauseResumeBandwidth() async throws {
        let base = try makeTempDir("mover-pause")
        try Self.makeTree(base + "/src", count: 1200)  // ~120 MB: more than 11 s at 5 MB/s
        let portFile = base + "/out.log"
        let pid = try ProcessSpawn.spawn(Self.ferry, ["mover", "files", "--source", base + "/src", "--target", base + "/dst", "--control-port", "0", "--control-host", "127.0.0.1",
                                                      "--bandwidth", "5000000", "--result-file", base + "/r.json"],
                                         environment: ["PATH": "/usr/bin:/bin"], fileActions: [.open(1, path: portFile, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644), .open(2, path: "/dev/null", flags: O_WRONLY, mode: 0)])
        var reaped = false
        defer {
            if !reaped {
                kill(pid, SIGKILL)
                _ = ProcessSpawn.waitStatus(pid)
            }
        }
        var port = 0
        #expect(try await eventually(timeout: 10) {
            let text = (try? String(contentsOfFile: portFile, encoding: .utf8)) ?? ""
            if let r = text.range(of: "control endpoint on 127.0.0.1:") { port = Int(text[r.upperBound...].prefix { $0.isNumber }) ?? 0 }
            return port > 0
        })
        let url = "http://127.0.0.1:\(port)"
        func progress() async throws -> JSONValue { try JSONWire.parse(Array(try await httpGet(url + "/progress").body.utf8)) }
        func post(_ path: String, _ body: String = "") async throws -> Int {
            let r = try await runCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data", body, url + path])
            return Int(r.stdout) ?? 0
        }
        func bytes(_ p: JSONValue) -> Int64 { p["bytesCopied"]?.intValue ?? -1 }

        // Bandwidth: 5 MB/s for 10 s.
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let b0 = bytes(try await progress())
        let t0 = Date()
        try await Task.sleep(nanoseconds: 10_000_000_000)
        let rate = Double(bytes(try await progress()) - b0) / Date().timeIntervalSince(t0)
        #expect(abs(rate - 5_000_000) / 5_000_000 < 0.10, "rate \(rate) B/s for a 5,000,000 B/s limit")

        // Pause by HTTP: nothing is written for 3 s.
        #expect(try await post("/pause") == 200)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let paused = try await progress()
        #expect(paused["state"]?.stringValue == "paused")
        try await Task.sleep(nanoseconds: 3_000_000_000)
        #expect(bytes(try await progress()) == bytes(paused), "bytes written while paused")
        // Resume by signal, pause by signal, resume by HTTP.
        kill(pid, SIGUSR1)
        try await Task.sleep(nanoseconds: 300_000_000)
        kill(pid, SIGUSR2)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let p2 = try await progress()
        #expect(p2["state"]?.stringValue == "paused")
        #expect(bytes(p2) > bytes(paused), "SIGUSR1 resumed it")
        try await Task.sleep(nanoseconds: 2_000_000_000)
        #expect(bytes(try await progress()) == bytes(p2), "SIGUSR2 paused it")
        #expect(try await post("/bandwidth", "not a number") == 400)
        #expect(try await post("/bandwidth", "0") == 200)
        #expect(try await post("/resume") == 200)
        let done = await Task.detached { ProcessSpawn.waitStatus(pid) }.value
        reaped = true
        #expect(ProcessSpawn.exitCode(done) == 0)
        #expect(try await Self.listing(base + "/src") == (try await Self.listing(base + "/dst")))
    }
}

/// A blocking command for defers.
func runCommandSync(_ program: String, _ args: [String]) throws -> Int32 {
    try ProcessSpawn.runBlocking(program, args, environment: ["PATH": "/usr/bin:/bin"]).status
}
