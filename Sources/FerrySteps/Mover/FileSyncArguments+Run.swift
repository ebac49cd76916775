import FerryProtocol
import Foundation
import ProcessSpawn

extension FileSyncArguments {
    /// Copies each tree into its target, one after another with one progress, serving the
    /// control endpoint on `controlHost` (or the address in `controlHostEnv`) while it runs.
    /// Fails when a file could not be copied or differs after the copy.
    public func run(controlHost: String = "0.0.0.0") async throws -> FileSyncResult {
        guard parallelism >= 1 && parallelism <= 256 else { throw StepError.configuration("--parallelism must be between 1 and 256 (spec.fileSync.parallelism)") }
        guard verify == "size" || verify == "checksum" else { throw StepError.configuration("--verify must be size or checksum (spec.fileSync.verify)") }
        let control = MoverControl(bandwidth: Int64(bandwidth), window: try window.map { try DailyWindow(start: $0.start, end: $0.end, timeZone: $0.timeZone) })
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
        guard !copies.isEmpty else { throw StepError.configuration("give --source and --target, or --copy SOURCE=TARGET") }
        let pairs = copies.map { ($0.source, $0.target) }
        let roots = pairs.map { RawPath($0.0) }
        let (parallelism, checksum, delete) = (parallelism, verify == "checksum", delete)
        let outcome = try await ProcessSpawn.onThread { () throws -> FileSyncResult in
            let scanner = Thread { FileMover.countTotals(roots, control: control) }
            scanner.start()
            var results: [FileSyncResult] = []
            for (from, to) in pairs {
                var options = FileMover.Options(source: from, target: to, parallelism: parallelism, checksum: checksum, delete: delete)
                options.countTotals = false
                results.append(try FileMover(options: options, control: control).run())
            }
            while !scanner.isFinished { usleep(10_000) }
            return FileSyncResult.combined(results, pairs: pairs.map(\.1))
        }
        if !outcome.errors.isEmpty || outcome.verify.differing > 0 {
            let list = outcome.errors.prefix(20).joined(separator: "; ")
            throw StepError.target("\(outcome.errors.count) files could not be copied (\(list)); \(outcome.verify.differing) differ after the copy (\(outcome.verify.examples.prefix(5).joined(separator: "; ")))")
        }
        return outcome
    }
}
