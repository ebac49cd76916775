import FerryProtocol
import Foundation

/// The final pass of one tree with its change journal: only the journaled paths when the
/// journal is trusted and a random sample of the other files agrees, else the whole tree,
/// saying why in the report.
enum FinalPass {
    /// Untouched files compared before a journal pass is trusted.
    static let sampleSize = 100

    /// The pass to run, the report to give, from the verdict and the sample (run only for a
    /// trusted journal). Pure but for the sample's reads.
    static func plan(_ verdict: JournalVerdict, source: String, target: RawPath, checksum: Bool, sampleSize: Int = sampleSize) -> (paths: [[UInt8]]?, report: JournalReport) {
        var report = JournalReport(source: source, mechanism: verdict.mechanism, trusted: verdict.trusted, paths: Int64(verdict.paths.count), reason: verdict.reason,
                                   gapSince: verdict.gapSince.map(JournalVerdict.text))
        guard verdict.trusted else {
            report.pass = "walk"
            return (nil, report)
        }
        let (differing, compared) = JournalSample.check(source: RawPath(source), target: target, journaled: Set(verdict.paths), count: sampleSize, checksum: checksum)
        report.sampled = compared
        report.sampleDiffering = differing == nil ? 0 : 1
        if let differing {
            report.trusted = false
            report.reason = "\(RawPath(differing)) changed without a journal record (found by the sample of untouched files)"
            report.pass = "walk"
            return (nil, report)
        }
        report.pass = "journal"
        return (verdict.paths, report)
    }

    /// Runs the pass `plan` chose for one tree. A complete walk is recorded in the journal
    /// (`record`): the next pass may then trust it.
    /// `final`: the application is stopped and no pass follows, so a file that vanishes or keeps
    /// changing is an error; otherwise a walk under a live watcher leaves those to the journal.
    static func run(_ options: FileMover.Options, verdict: JournalVerdict, final: Bool, control: MoverControl, record: (ChangeJournal.Record) throws -> Void,
                    say: @escaping @Sendable (String) -> Void) throws -> (FileSyncResult, JournalReport) {
        let began = ChangeJournal.now()
        let (paths, report) = plan(verdict, source: options.source.description, target: options.target, checksum: options.checksum)
        if paths == nil { say("files \(options.source): walking the whole tree: \(report.reason ?? "no journal")") } else {
            say("files \(options.source): \(report.paths) journaled paths, \(report.sampled ?? 0) untouched files sampled, all equal")
        }
        var o = options
        o.paths = paths
        o.countTotals = paths == nil
        o.live = !final && paths == nil && verdict.since != nil
        let result = try FileMover(options: o, control: control, say: say).run()
        if paths == nil, verdict.since != nil, result.errors.isEmpty, result.verify.differing == 0 {
            try record(.passed(ms: began, target: JournalVerdict.place(options.target.description), removed: options.delete))
        }
        return (result, report)
    }
}
