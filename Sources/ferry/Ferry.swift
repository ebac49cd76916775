import ArgumentParser

/// The one Ferry executable.
@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Ferry moves an application's data into Kubernetes: declarative, resumable, verifiable.",
        version: FerryVersion.current,
        subcommands: [VersionCommand.self, ControllerCommand.self, SandboxCommand.self])
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
