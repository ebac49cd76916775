import Foundation
import ProcessSpawn
#if canImport(Glibc)
import Glibc
#endif

/// Starts a pod's program as the leader of a new session (so a signal to its
/// process group reaches all its children), with stdout and stderr appended
/// to a log file and stdin from /dev/null. `onExit` gets the raw wait status
/// from a thread that waits for it.
enum Spawn {
    static func run(_ executable: String, _ args: [String], environment: [String: String], directory: String, logPath: String, onExit: @escaping @Sendable (Int32) -> Void) throws -> pid_t {
        // Change directory through the shell (posix_spawn's chdir action is not exported to Swift).
        let pid: pid_t
        do {
            pid = try ProcessSpawn.spawn(
                "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory, executable] + args, environment: environment,
                fileActions: [.open(0, path: "/dev/null", flags: O_RDONLY, mode: 0),
                              .open(1, path: logPath, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644),
                              .dup(1, to: 2)],
                newSession: true)
        } catch {
            throw SimError(500, "InternalError", "cannot start \(executable): \(error)")
        }
        Thread.detachNewThread { onExit(ProcessSpawn.waitStatus(pid)) }
        return pid
    }

    static func exitCode(_ status: Int32) -> Int32 { ProcessSpawn.exitCode(status) }
}
