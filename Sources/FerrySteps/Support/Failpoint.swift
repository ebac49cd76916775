import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test-only fault injection at named points of a step, read from `FERRY_TEST_FAILPOINT`
/// (unset in production: then nothing happens):
/// - `<name>:kill:<dir>` ends the process with SIGKILL at that point (as a node failure would);
/// - `<name>:pause:<dir>` writes `<dir>/<name>.reached` and waits until `<dir>/<name>.release` exists.
/// Several are separated by commas. Each fires once: `<dir>/<name>.fired` marks it, so the
/// retried step runs through.
enum Failpoint {
    static func hit(_ name: String) {
        guard let specs = ProcessInfo.processInfo.environment["FERRY_TEST_FAILPOINT"] else { return }
        guard let parts = specs.split(separator: ",").map({ $0.split(separator: ":", maxSplits: 2).map(String.init) }).first(where: { $0.count == 3 && $0[0] == name }) else { return }
        let dir = parts[2]
        let fired = "\(dir)/\(name).fired"
        guard !FileManager.default.fileExists(atPath: fired) else { return }
        FileManager.default.createFile(atPath: fired, contents: nil)
        switch parts[1] {
        case "kill":
            kill(getpid(), SIGKILL)
        case "pause":
            FileManager.default.createFile(atPath: "\(dir)/\(name).reached", contents: nil)
            while !FileManager.default.fileExists(atPath: "\(dir)/\(name).release") { usleep(50_000) }
        default:
            return
        }
    }
}
