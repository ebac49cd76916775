#if canImport(Glibc)
import Glibc
#endif

/// Starts programs with posix_spawn the same way everywhere: default signal
/// handling and an empty signal mask whatever the parent has set (a child
/// spawned from a thread that blocks SIGTERM would otherwise ignore it),
/// the given file descriptors, and optionally a new session. Waiting uses
/// waitpid directly: Foundation's Process on Linux can miss a child's exit.
public enum ProcessSpawn {
    /// What the child's file descriptors become.
    public enum FileAction: Sendable {
        case dup(Int32, to: Int32)
        case close(Int32)
        case open(Int32, path: String, flags: Int32, mode: mode_t)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let program: String
        public let code: Int32
        public var description: String { "cannot start \(program): \(String(cString: strerror(code)))" }
    }

    /// POSIX_SPAWN_SETSID (glibc).
    static let setsid: Int16 = 0x80

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), looked up (Swift's Glibc module does not export it).
    nonisolated(unsafe) static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `program` (looked up on PATH unless it contains a '/') with `arguments` (argv[1...]).
    public static func spawn(_ program: String, _ arguments: [String], environment: [String: String], fileActions: [FileAction], newSession: Bool = false) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | (newSession ? setsid : 0))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var highest: Int32 = 2
        for action in fileActions {
            switch action {
            case .dup(let fd, let target):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
                highest = max(highest, target)
            case .close(let fd): posix_spawn_file_actions_addclose(&actions, fd)
            case .open(let fd, let path, let flags, let mode):
                posix_spawn_file_actions_addopen(&actions, fd, path, flags, mode)
                highest = max(highest, fd)
            }
        }
        // The child gets exactly the descriptors laid out above: nothing else this process has
        // open (another server's listening socket, a pipe) outlives it in a long-running child.
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, highest + 1) }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, program, &actions, &attr, argv, envp)
        guard rc == 0 else { throw Failure(program: program, code: rc) }
        return pid
    }

    /// Waits for the child and returns its raw wait status.
    public static func waitStatus(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }

    /// Exit code of a wait status (128 + signal for a signalled process).
    public static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// A pipe whose ends are not inherited by other children (close-on-exec).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { throw Failure(program: "pipe", code: errno) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }
}
