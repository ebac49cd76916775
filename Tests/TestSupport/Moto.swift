import Foundation

/// moto's S3 server (scripts/install-s3-tools.sh), on 127.0.0.1: the one FERRY_TEST_MOTO_PORT
/// names, else started once per test process and stopped by PID when it exits. In memory: each
/// test makes its own bucket.
public struct Moto: Sendable {
    public var port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public static func shared() async throws -> Moto { try await starter.value }

    private static let starter = Task<Moto, Error> {
        if let p = ProcessInfo.processInfo.environment["FERRY_TEST_MOTO_PORT"].flatMap(Int.init) { return Moto(port: p) }
        let py = repoRoot + "/.tools/python/moto"
        guard FileManager.default.fileExists(atPath: py + "/moto") else { throw TestServersError.startFailed("moto is not installed: run scripts/install-s3-tools.sh") }
        let log = NSTemporaryDirectory() + "ferry-moto-\(getpid()).log"
        // The first free port from 25000.
        let script = """
            p=25000; while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p+1)); done
            PYTHONPATH='\(py)' setsid python3 -m moto.server -H 127.0.0.1 -p $p </dev/null >'\(log)' 2>&1 &
            echo "$! $p"
            for i in $(seq 1 200); do curl -sf -o /dev/null http://127.0.0.1:$p/ && exit 0; sleep 0.1; done; exit 1
            """
        let r = try await runCommand("/bin/bash", ["-c", script], timeout: 60)
        let f = r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        guard r.status == 0, f.count == 2 else { throw TestServersError.startFailed("moto did not start: \(r.combined) \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
        motoPID = pid_t(f[0])
        atexit { if motoPID > 0 { kill(motoPID, SIGTERM) } }
        return Moto(port: f[1])
    }
}

nonisolated(unsafe) private var motoPID: pid_t = 0

/// OpenStack Swift with its S3 API (s3api + tempauth, user `test:tester` / `testing`), a real
/// disk-backed object store: the one FERRY_TEST_SWIFT_PORT names (scripts/with-test-servers.sh),
/// else started once per test process (`ONLY=swift`) and stopped by PID when it exits.
public struct SwiftS3: Sendable {
    public var port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    public static let accessKey = "test:tester"
    public static let secretKey = "testing"

    public static func shared() async throws -> SwiftS3 { try await starter.value }

    private static let starter = Task<SwiftS3, Error> {
        if let p = ProcessInfo.processInfo.environment["FERRY_TEST_SWIFT_PORT"].flatMap(Int.init) { return SwiftS3(port: p) }
        let dir = NSTemporaryDirectory() + "ferry-swift-\(getpid())"
        let r = try await runCommand("/usr/bin/env", ["ONLY=swift", repoRoot + "/scripts/test-servers.sh", "up", dir], timeout: 120)
        guard r.status == 0 else { throw TestServersError.startFailed(r.combined) }
        let vars = Dictionary(shellAssignments(String(r.stdout.split(separator: "\n").last { $0.contains("FERRY_TEST_SWIFT_PORT=") }?.dropFirst(7) ?? "")), uniquingKeysWith: { a, _ in a })
        guard let port = vars["FERRY_TEST_SWIFT_PORT"].flatMap(Int.init) else { throw TestServersError.startFailed("no Swift port in \(r.stdout)") }
        swiftDirectory = dir
        atexit { if let d = swiftDirectory { _ = system("'\(repoRoot)/scripts/test-servers.sh' down '\(d)' >/dev/null 2>&1") } }
        return SwiftS3(port: port)
    }
}

nonisolated(unsafe) private var swiftDirectory: String?
