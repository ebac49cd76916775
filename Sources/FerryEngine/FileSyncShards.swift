import FerryProtocol
import Foundation
import KubeClient

/// `spec.fileSync.shards`: N transfer pods, each copying its share (`--shard I/N`). The step's
/// outcome and progress from theirs. Pure.
public enum FileSyncShards {
    /// One shard's state as the controller sees it: its outcome, and its progress while it runs.
    public struct Shard: Sendable {
        public var outcome: StepOutcome
        public var progress: MoverProgress?
        public init(_ outcome: StepOutcome, progress: MoverProgress? = nil) {
            self.outcome = outcome
            self.progress = progress
        }
    }

    /// A bandwidth split evenly (each at least 1 byte/s when limited; 0 stays unlimited).
    public static func bandwidth(_ total: Int64, shards: Int) -> Int64 {
        total <= 0 ? 0 : max(1, total / Int64(max(1, shards)))
    }

    /// Failed when one failed (saying which); succeeded when all did and split the trees by one
    /// plan (else the package changed while they scanned: failed, to run again); else running.
    public static func outcome(_ shards: [Shard]) -> StepOutcome {
        let n = shards.count
        for (i, s) in shards.enumerated() {
            if case .failed(let m, let permanent, _) = s.outcome {
                return .failed("shard \(i)/\(n): \(m)", permanent: permanent, untouched: false)
            }
        }
        var results: [FileSyncResult] = []
        for s in shards {
            guard case .succeeded(let result, _) = s.outcome else {
                let done = shards.filter { if case .succeeded = $0.outcome { return true }; return false }.count
                return .running("\(n) transfer pods, \(done) done")
            }
            guard let r = result.flatMap({ try? $0.decode(as: FileSyncResult.self) }) else {
                return .failed("a shard ended without its result", permanent: false)
            }
            results.append(r)
        }
        // Each result is its own share's, of this number of shards (a pod left from another
        // count, or another index, copied another share).
        for (i, r) in results.enumerated() where r.shard?.index != i || r.shard?.count != n {
            return .failed("transfer pod \(i) reported the share \(r.shard.map { "\($0.index)/\($0.count)" } ?? "of no shard"), not \(i)/\(n); the files step runs again", permanent: false)
        }
        let digests = Set(results.map { $0.shard?.digest ?? "" })
        guard digests.count == 1, !digests.contains("") else {
            return .failed("the \(n) shards split the folders by different plans (the package changed while they scanned it): some files may have been copied by none; the files step runs again", permanent: false)
        }
        let total = combined(results)
        return .succeeded(result: try? JSONValue(encoding: total), message: "\(n) shards: \(total.filesCopied) files copied, \(total.filesSkipped) already there")
    }

    /// The shards' results as one: counts and folders added up, the slowest shard's time.
    public static func combined(_ results: [FileSyncResult]) -> FileSyncResult {
        let seconds = results.map(\.seconds).max() ?? 0
        var folders: [String: FolderCount] = [:]
        for r in results {
            for (k, v) in r.verify.folders {
                var f = folders[k] ?? FolderCount()
                f.sourceFiles += v.sourceFiles
                f.sourceBytes += v.sourceBytes
                f.targetFiles += v.targetFiles
                f.targetBytes += v.targetBytes
                folders[k] = f
            }
        }
        func sum(_ k: KeyPath<FileSyncResult, Int64>) -> Int64 { results.map { $0[keyPath: k] }.reduce(0, +) }
        var out = FileSyncResult(
            filesTotal: sum(\.filesTotal), bytesTotal: sum(\.bytesTotal), filesCopied: sum(\.filesCopied), bytesCopied: sum(\.bytesCopied), filesSkipped: sum(\.filesSkipped),
            seconds: seconds, filesPerSecond: sum(\.filesPerSecond), bytesPerSecond: sum(\.bytesPerSecond), parallelism: results.map(\.parallelism).reduce(0, +),
            errors: results.flatMap(\.errors),
            verify: FileVerification(mode: results.first?.verify.mode ?? "size", folders: folders, differing: sum(\.verify.differing),
                                     examples: Array(results.flatMap(\.verify.examples).prefix(20)), removed: sum(\.verify.removed)))
        out.method = Set(results.compactMap(\.method)).sorted().joined(separator: "+").nilIfEmpty
        out.filesCloned = results.compactMap(\.filesCloned).reduce(0, +)
        if let first = results.first?.shard { out.shard = ShardReport(index: 0, count: results.count, mode: first.mode, digest: first.digest) }
        return out
    }

    /// The shards' progress as one: counts and rates added up; paused only when all are, done
    /// only when all are. A shard that has ended counts as done with its result's totals.
    public static func progress(_ shards: [Shard]) -> MoverProgress? {
        var parts: [MoverProgress] = []
        for s in shards {
            if let p = s.progress {
                parts.append(p)
            } else if case .succeeded(let result, _) = s.outcome, let r = result.flatMap({ try? $0.decode(as: FileSyncResult.self) }) {
                parts.append(MoverProgress(state: .done, filesDone: r.filesTotal, filesTotal: r.filesTotal, filesCopied: r.filesCopied, bytesDone: r.bytesTotal, bytesTotal: r.bytesTotal,
                                           bytesCopied: r.bytesCopied, totalsFinal: true, bytesPerSecond: 0, percent: 100, bandwidth: 0, errorCount: r.errors.count, errors: r.errors,
                                           seconds: r.seconds))
            }
        }
        guard !parts.isEmpty else { return nil }
        func sum(_ k: KeyPath<MoverProgress, Int64>) -> Int64 { parts.map { $0[keyPath: k] }.reduce(0, +) }
        // A shard not heard from is not known to be paused or done.
        let states = Set(parts.map(\.state) + (parts.count < shards.count ? [MoverState.scanning] : []))
        let state: MoverState = states.count == 1 ? states.first! : states.contains(.copying) ? .copying : states.contains(.scanning) ? .scanning
            : states.contains(.paused) ? .paused : states.contains(.waitingForWindow) ? .waitingForWindow : .verifying
        let (bytesDone, bytesTotal, rate) = (sum(\.bytesDone), sum(\.bytesTotal), sum(\.bytesPerSecond))
        let final = parts.count == shards.count && parts.allSatisfy(\.totalsFinal)
        let percent = bytesTotal > 0 ? (Double(bytesDone) / Double(bytesTotal) * 1000).rounded() / 10 : (final ? 100 : 0)
        return MoverProgress(state: state, filesDone: sum(\.filesDone), filesTotal: sum(\.filesTotal), filesCopied: sum(\.filesCopied), bytesDone: bytesDone, bytesTotal: bytesTotal,
                             bytesCopied: sum(\.bytesCopied), totalsFinal: final, bytesPerSecond: rate,
                             etaSeconds: rate > 0 && final ? max(0, bytesTotal - bytesDone) / rate : nil, percent: min(100, percent), bandwidth: sum(\.bandwidth),
                             errorCount: parts.map(\.errorCount).reduce(0, +), errors: Array(parts.flatMap(\.errors).suffix(20)), seconds: parts.map(\.seconds).max() ?? 0)
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
