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
    ///
    /// Called as `ferry-controller` (the image's link to this binary, what the
    /// Deployment runs), it is `ferry controller`: the same flags, without the subcommand.
    public static func entry() async {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        switch invokedAs(CommandLine.arguments.first ?? "ferry") {
        case .controller: await ControllerCommand.runAsRoot()
        case .ferry: await Self.main(nil)
        }
    }

    public enum Invocation: Equatable, Sendable { case ferry, controller }

    /// Which command a process is, from the name it was started under (argv[0]).
    public static func invokedAs(_ argv0: String) -> Invocation {
        let name = argv0.split(separator: "/").last.map(String.init) ?? argv0
        return name == "ferry-controller" ? .controller : .ferry
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
