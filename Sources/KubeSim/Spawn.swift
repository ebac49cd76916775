import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts a program as the leader of a new session (so a signal to its
/// process group reaches all its children), with default signal handling
/// and an empty signal mask whatever this process has set, stdout and stderr
/// appended to a log file, and stdin from /dev/null. `onExit` gets the raw
/// wait status from a thread that waits for it.
enum Spawn {
    static let setsid: Int16 = 0x80  // POSIX_SPAWN_SETSID (glibc)

    static func run(_ executable: String, _ args: [String], environment: [String: String], directory: String, logPath: String, onExit: @escaping @Sendable (Int32) -> Void) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | setsid)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Change directory through the shell (posix_spawn's chdir action is not exported to Swift).
        let program = "/bin/sh"
        let argv = (["sh", "-c", "cd \"$0\" && exec \"$@\"", directory, executable] + args).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, &attr, argv, envp)
        guard rc == 0 else { throw SimError(500, "InternalError", "cannot start \(executable): \(String(cString: strerror(rc)))") }
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            onExit(status)
        }
        return pid
    }

    /// Exit code of a wait status (128 + signal for a signalled process).
    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
