import ArgumentParser
import Foundation
import FerrySteps
import ProcessSpawn

/// `ferry mover ...`: long-running data movers (the data-files-transfer pod).
struct MoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mover", abstract: "Long-running data movers (the data-files-transfer pod).",
        subcommands: [MoverFiles.self])
}

struct MoverFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Copy a tree into another: parallel, skip-existing, pausable, bandwidth-limited, verified.",
        discussion: """
            Control while it runs: GET /progress, POST /pause, POST /resume, POST /bandwidth (body: bytes/s) on --control-port; \
            SIGUSR2 pauses, SIGUSR1 resumes. Files are written under a temporary name and renamed into place when complete, \
            so a rerun after a kill copies only what is missing or different.
            """)

    @Option(help: "The folder to copy from.")
    var source: String?
    @Option(help: "The folder to copy into (created if missing).")
    var target: String?
    @Option(name: .customLong("copy"), help: "SOURCE=TARGET, repeatable: several trees one after another, one progress.")
    var copies: [String] = []
    @Option(help: "Files copied at once.")
    var parallelism: Int = 16
    @Option(help: "How to decide a file is already there and to verify: size (size + mtime) or checksum (contents).")
    var verify: String = "size"
    @Flag(help: "Remove what the target has and the source does not.")
    var delete = false
    @Option(help: "Bytes per second at most (0 = unlimited); changeable while running.")
    var bandwidth: Int64 = 0
    @Option(help: "Daily window start, HH:MM; outside the window the copy waits.")
    var windowStart: String?
    @Option(help: "Daily window end, HH:MM (may be earlier than the start: overnight).")
    var windowEnd: String?
    @Option(help: "Time zone of the window (IANA name).")
    var windowTimeZone: String = "UTC"
    @Option(help: "Port of the control endpoint (0 picks a free one, -1 disables).")
    var controlPort: Int = 8086
    @Option(help: "Address of the control endpoint.")
    var controlHost: String = "0.0.0.0"
    @Option(help: "An environment variable holding the address to listen on (the pod's IP, POD_IP); overrides --control-host when set.")
    var controlHostEnv: String?
    @Option(help: "A file holding the bearer token every control request must carry (the mounted <migration>-mover Secret).")
    var controlTokenFile: String?
    @Flag(help: "Start paused (resume by signal or POST /resume).")
    var startPaused = false
    @OptionGroup var result: ResultOptions

    func run() async throws {
        try await reportStep(result.resultFile) {
            guard parallelism >= 1 && parallelism <= 256 else { throw StepError.configuration("--parallelism must be between 1 and 256 (spec.fileSync.parallelism)") }
            guard verify == "size" || verify == "checksum" else { throw StepError.configuration("--verify must be size or checksum (spec.fileSync.verify)") }
            var window: DailyWindow?
            if windowStart != nil || windowEnd != nil {
                guard let s = windowStart, let e = windowEnd else { throw StepError.configuration("give both --window-start and --window-end (spec.fileSync.window)") }
                window = try DailyWindow(start: s, end: e, timeZone: windowTimeZone)
            }
            let control = MoverControl(bandwidth: bandwidth, window: window)
            if startPaused { control.pause() }
            if controlPort >= 0 {
                let host = controlHostEnv.flatMap { ProcessInfo.processInfo.environment[$0] }.flatMap { $0.isEmpty ? nil : $0 } ?? controlHost
                var token: String?
                if let file = controlTokenFile {
                    guard let t = Credentials.read(file), !t.isEmpty else {
                        throw StepError.configuration("--control-token-file \(file) cannot be read or is empty; the control endpoint will not run without its token")
                    }
                    token = t
                }
                let server = try MoverControlServer(control: control, host: host, port: controlPort, token: token)
                server.start()
                print("control endpoint on \(host):\(server.port)\(token == nil ? " (no token)" : " (bearer token required)")")
            }
            var given: [(String, String)] = try copies.map { text in
                guard let eq = text.firstIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else {
                    throw StepError.configuration("--copy \(text) must be SOURCE=TARGET")
                }
                return (String(text[..<eq]), String(text[text.index(after: eq)...]))
            }
            if let source, let target { given.insert((source, target), at: 0) }
            let pairs = given
            guard !pairs.isEmpty else { throw StepError.configuration("give --source and --target, or --copy SOURCE=TARGET") }
            let roots = pairs.map { RawPath($0.0) }
            let outcome = try await ProcessSpawn.onThread { () throws -> FileMover.Result in
                let scanner = Thread { FileMover.countTotals(roots, control: control) }
                scanner.start()
                var results: [FileMover.Result] = []
                for (from, to) in pairs {
                    var options = FileMover.Options(source: from, target: to, parallelism: parallelism, checksum: verify == "checksum", delete: delete)
                    options.countTotals = false
                    results.append(try FileMover(options: options, control: control).run())
                }
                while !scanner.isFinished { usleep(10_000) }
                return FileMover.Result.combined(results, pairs: pairs.map(\.1))
            }
            if !outcome.errors.isEmpty || outcome.verify.differing > 0 {
                let list = outcome.errors.prefix(20).joined(separator: "; ")
                throw StepError.target("\(outcome.errors.count) files could not be copied (\(list)); \(outcome.verify.differing) differ after the copy (\(outcome.verify.examples.prefix(5).joined(separator: "; ")))")
            }
            return outcome
        }
    }
}
