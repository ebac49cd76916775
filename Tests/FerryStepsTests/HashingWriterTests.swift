@testable import FerrySteps
import Foundation
import Testing
import TestSupport

/// A package part's sha256 is taken as it is written (issue 20): the digest equals what
/// `sha256sum` reads back from the file, for any way the bytes arrive in chunks.
@Suite("hashing while writing")
struct HashingWriterTests {
    @Test("chunks of every size, an empty file and a pipe drained to its end: the sha256 and byte count equal sha256sum's reading of the file; the file is 0644")
    func equalsReadingBack() async throws {
        var seed: UInt64 = 0x4A5_0020
        for round in 0..<6 {
            let path = try makeTempDir("hash") + "/part"
            let w = try HashingWriter(path)
            var total = 0
            for _ in 0..<(round == 0 ? 0 : 1 + round * 3) {
                seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
                let n = Int(seed % 300_000)
                let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed & 0xff)) }
                try bytes.withUnsafeBytes { try w.write($0) }
                total += n
            }
            let sum = w.finish()
            let r = try await runCommand("/usr/bin/sha256sum", [path])
            #expect(r.stdout.hasPrefix(sum) && w.count == Int64(total), "round \(round): \(sum) vs \(r.stdout)")
            let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o644)
        }
        // From a pipe, as a dump arrives from mariadb-dump.
        let source = try makeTempDir("hash-src") + "/in"
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: URL(fileURLWithPath: source))
        let input = open(source, O_RDONLY)
        defer { close(input) }
        let path = try makeTempDir("hash") + "/piped"
        let w = try HashingWriter(path)
        try w.drain(input)
        let r = try await runCommand("/usr/bin/sha256sum", [path])
        #expect(r.stdout.hasPrefix(w.finish()) && w.count == 3_000_000)
        // Line ends counted across chunk edges as ClickHouse's export counts rows.
        let text = Array("a\tb\n\nc\n".utf8)
        #expect(text.withUnsafeBytes { ClickHouseClient.newlines($0) } == 3)
    }
}
