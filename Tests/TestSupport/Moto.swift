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
