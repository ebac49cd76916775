import ArgumentParser
import FerryController
import Foundation

/// The one Ferry executable.
public struct Ferry: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Ferry moves an application's data into Kubernetes: declarative, resumable, verifiable.",
        version: FerryVersion.current,
        subcommands: [VersionCommand.self, ControllerCommand.self, SandboxCommand.self, RestoreCommand.self, MySQLCommand.self, ClickHouseCommand.self, ExportCommand.self, MoverCommand.self, GatewayCommand.self])

    public init() {}

    /// Entry point. A parent that spawned us from a Dispatch worker thread
    /// passes on a mask that blocks SIGTERM and SIGINT; unblock them so a
    /// graceful shutdown is always possible.
    public static func entry() async {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        await Self.main(nil)
    }
}

enum FerryVersion {
    static let current = "0.1.0"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print Ferry's version.")

    func run() {
        print("ferry \(FerryVersion.current)")
    }
}
