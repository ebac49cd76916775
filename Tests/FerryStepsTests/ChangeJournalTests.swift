import FerryProtocol
@testable import FerrySteps
import Foundation
import Testing
import TestSupport

/// The journal's records and the verdict on them: pure, and the decoder fuzzed.
@Suite("change journal: records and verdict")
struct ChangeJournalTests {
    typealias R = ChangeJournal.Record
    let root = Array("/src".utf8), target = Array("/dst".utf8)

    func verdict(_ records: [R], flushed: String? = "n1") -> JournalVerdict { JournalVerdict.of(records, root: root, target: target, flushed: flushed) }

    @Test("trusted only with a live session, a complete pass since it began, nothing broken, and the flush answered")
    func trustRules() {
        let base: [R] = [.session(ms: 1000, mechanism: "fanotify", root: root), .passed(ms: 1500, target: target), .changed(Array("a/b".utf8)), .changed(Array("a/b".utf8)),
                         .changed(Array("c".utf8)), .flushed("n1")]
        let ok = verdict(base)
        #expect(ok.trusted)
        #expect(ok.paths == [Array("a/b".utf8), Array("c".utf8)], "each path once, in first-seen order")
        #expect(ok.since == 1000 && ok.mechanism == "fanotify")

        #expect(verdict([]).reason == "no watcher has written to the journal")
        #expect(verdict(Array(base.dropFirst(2))).trusted == false)
        let noPass = verdict(base.filter { if case .passed = $0 { return false }; return true })
        #expect(noPass.reason?.contains("no pass has copied the whole tree into /dst") == true)
        let otherTarget = JournalVerdict.of(base, root: root, target: Array("/elsewhere".utf8), flushed: "n1")
        #expect(!otherTarget.trusted, "a pass into another target says nothing about this one")
        let wrongRoot = JournalVerdict.of(base, root: Array("/other".utf8), target: target, flushed: "n1")
        #expect(wrongRoot.reason == "the journal watches /src, not /other")
        let replaced = JournalVerdict.of([.session(ms: 1000, mechanism: "fanotify", root: Array("2049:77:/src".utf8)), .passed(ms: 1500, target: target), .flushed("n1")],
                                         root: Array("2049:78:/src".utf8), target: target, flushed: "n1")
        #expect(replaced.reason?.contains("the watched folder /src was replaced") == true, "another folder at the same path: \(replaced)")
        let otherDisk = verdict([.session(ms: 1000, mechanism: "fanotify", root: root), .passed(ms: 1500, target: Array("2049:5:/dst".utf8)), .flushed("n1")])
        #expect(!otherDisk.trusted, "a pass into what was at the target's path then is not one into what is there now")
        let passBeforeSession = verdict([.session(ms: 1000, mechanism: "inotify", root: root), .passed(ms: 900, target: target), .flushed("n1")])
        #expect(!passBeforeSession.trusted, "a pass that began before the watcher may have missed changes")

        let overflow = verdict(base + [.untrusted(ms: 2000, reason: "the kernel's event queue overflowed (fanotify): changes may have been lost"), .flushed("n1")])
        #expect(!overflow.trusted && overflow.reason?.contains("overflowed") == true && overflow.gapSince == 2000)

        let gap = verdict([.session(ms: 1000, mechanism: "fanotify", root: root), .passed(ms: 1100, target: target), .alive(ms: 3000),
                           .session(ms: 9000, mechanism: "fanotify", root: root), .flushed("n1")])
        #expect(!gap.trusted && gap.gapSince == 3000, "\(gap)")
        #expect(gap.reason?.contains("the watcher was down from") == true)
        let healed = verdict([.session(ms: 1000, mechanism: "fanotify", root: root), .alive(ms: 3000), .session(ms: 9000, mechanism: "fanotify", root: root),
                              .passed(ms: 9100, target: target), .flushed("n1")])
        #expect(healed.trusted, "a complete walk after the gap began makes the journal whole again")

        let stopped = verdict(base + [.ended(ms: 5000)])
        #expect(!stopped.trusted && stopped.gapSince == 5000 && stopped.reason?.contains("stopped") == true)
        let silent = verdict(base, flushed: "other")
        #expect(!silent.trusted && silent.reason?.contains("did not answer") == true)
        let flushOfEarlierSession = verdict([.session(ms: 1000, mechanism: "fanotify", root: root), .flushed("n1"), .session(ms: 2000, mechanism: "fanotify", root: root),
                                             .passed(ms: 2100, target: target)])
        #expect(!flushOfEarlierSession.trusted, "an answer from a watcher that has since been replaced is not this one's")

        // A pass that removes what the source lacks needs a complete pass that removed too.
        let keptExtras = JournalVerdict.of(base, root: root, target: target, flushed: "n1", removing: true)
        #expect(!keptExtras.trusted && keptExtras.reason?.contains("and removed what the source lacks") == true, "\(keptExtras)")
        let removed = JournalVerdict.of([.session(ms: 1000, mechanism: "fanotify", root: root), .passed(ms: 1500, target: target, removed: true), .flushed("n1")],
                                        root: root, target: target, flushed: "n1", removing: true)
        #expect(removed.trusted)
        #expect(ChangeJournal.decode(ChangeJournal.encode(.passed(ms: 5, target: target, removed: true))) == [.passed(ms: 5, target: target, removed: true)])
    }

    @Test("other filesystems mounted inside the tree are found in mountinfo (escapes undone), so fanotify's one filesystem mark is not relied on")
    func innerMounts() {
        let info = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
            40 22 0:35 / /data/app/media rw shared:2 - xfs /dev/vdb rw
            41 22 0:36 / /data/app\\040files/x rw shared:3 - tmpfs tmpfs rw
            42 22 0:37 / /data/application rw shared:4 - tmpfs tmpfs rw
            43 22 0:38 / /data/app rw shared:5 - tmpfs tmpfs rw
            """
        #expect(ChangeSources.mounts(below: Array("/data/app".utf8), in: info) == [Array("/data/app/media".utf8)], "the root's own mount and a sibling with a longer name are not inside")
        #expect(ChangeSources.mounts(below: Array("/data/app files".utf8), in: info) == [Array("/data/app files/x".utf8)])
        #expect(ChangeSources.mounts(below: Array("/srv".utf8), in: info).isEmpty)
    }

    @Test("records survive encoding, paths with any byte but NUL included; a torn last record is left out")
    func roundTrip() {
        var rng = SplitMix(seed: 18)
        for _ in 0..<2000 {
            let path = (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 1...255, using: &rng) }
            let records: [R] = [.session(ms: Int64.random(in: 0...Int64(1) << 45, using: &rng), mechanism: "inotify", root: path), .changed(path), .alive(ms: 7),
                                .untrusted(ms: 9, reason: "why \(path.count)"), .flushed("nonce"), .passed(ms: 11, target: path), .ended(ms: 12)]
            let bytes = records.flatMap(ChangeJournal.encode)
            #expect(ChangeJournal.decode(bytes) == records)
            #expect(ChangeJournal.decode(bytes + ChangeJournal.encode(.changed(path)).dropLast()) == records, "no NUL yet: the record is not complete")
        }
    }

    @Test("the decoder takes any bytes without crashing and yields only well-formed records")
    func fuzzDecode() {
        var rng = SplitMix(seed: 99)
        let tags = Array("SCTUFPE".utf8)
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...30, using: &rng) {
                if Bool.random(using: &rng) { bytes.append(tags.randomElement(using: &rng)!) }
                bytes += (0..<Int.random(in: 0...12, using: &rng)).map { _ in [0, 32, 48, 57, 255].randomElement(using: &rng)! }
            }
            for record in ChangeJournal.decode(bytes) {
                switch record {
                case .changed(let p): #expect(!p.isEmpty && !p.contains(0))
                case .session(let ms, _, let root): #expect(ms >= 0 && !root.isEmpty)
                case .passed(let ms, let t, _): #expect(ms >= 0 && !t.isEmpty)
                default: break
                }
            }
        }
    }

    @Test("a forged journal cannot reach outside the trees: .. and absolute paths are passed over")
    func forgedPaths() throws {
        let base = try makeTempDir("journal-forged")
        try FileManager.default.createDirectory(atPath: base + "/src/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/dst/a", withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: base + "/outside.txt"))
        try Data("keep".utf8).write(to: URL(fileURLWithPath: base + "/dst/keep.txt"))
        try Data("new".utf8).write(to: URL(fileURLWithPath: base + "/src/a/new.txt"))
        var options = FileMover.Options(source: base + "/src", target: base + "/dst", delete: true)
        options.paths = ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "./keep.txt", "a/new.txt"].map { Array($0.utf8) }
        let result = try FileMover(options: options, control: MoverControl(), say: { _ in }).run()
        #expect(result.filesCopied == 1)
        #expect(FileManager.default.fileExists(atPath: base + "/outside.txt"), "a path climbing out is not deleted")
        #expect(FileManager.default.fileExists(atPath: base + "/dst/keep.txt"), "./keep.txt is not a journal path the kernel gives")
        #expect(FileManager.default.contents(atPath: base + "/dst/a/new.txt") == Data("new".utf8))
    }
}
