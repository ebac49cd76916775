import FerryProtocol
import Foundation
import NIOCore
import ProcessSpawn

/// `clickhouse/<db.table>` from the old tool's `clickhouse-backup/<db>.<table>.zst`: the rows
/// counted through first (a damaged dump is refused before the table is touched), the existing
/// table emptied, the decompressed rows streamed into it, and its count compared to the dump's.
struct LegacyClickHouseRestore {
    let client: ClickHouseClient
    let table: String
    let path: String
    let say: @Sendable (String) -> Void

    func run() async throws -> ClickHouseResult {
        let started = Date()
        let (path, table) = (self.path, self.table)
        let (format, rows): (LegacyClickHouseDump.Format, Int)
        do {
            guard let f = try LegacyClickHouseDump.format(path) else {
                throw StepError.badPackage("\(path): \(try LegacyClickHouseDump.whyUnreadable(path))")
            }
            format = f
            rows = try await ProcessSpawn.onThread { try LegacyClickHouseDump.countRows(path, format: f) }
            try await client.ping()
            let exists = try await client.query("EXISTS TABLE \(table)").trimmingCharacters(in: .whitespacesAndNewlines)
            guard exists == "1" else {
                throw StepError.configuration("the target has no table \(table): the old tool's dump holds only rows, not the table; create it first (the application's schema), then annotate ferry.dev/rerun=clickhouse/\(table)")
            }
        } catch {
            throw StepError.beforeChange((error as? StepError) ?? .target("\(error)"))
        }
        say("clickhouse \(table): \(rows) rows of \(format.rawValue) in \(path); emptying the table and loading them")
        do {
            try await client.query("TRUNCATE TABLE \(table)")
            let d = try Decompressor(path)
            try await client.insert(into: table, format: format.rawValue, stream: DecompressedChunks(decompressor: d))
            try await ProcessSpawn.onThread { try d.finish() }
        } catch let e as ClickHouseServerError {
            throw StepError.target("ClickHouse refused the rows of \(path) for \(table): \(e.message)")
        }
        let counted = Int(try await client.query("SELECT count() FROM \(table)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        guard counted == rows else {
            throw StepError.verification("\(table) has \(counted) rows on the target but the old tool's dump holds \(rows)")
        }
        let seconds = Date().timeIntervalSince(started)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        return ClickHouseResult(table: table, rows: rows, bytes: bytes, partitions: 0, seconds: (seconds * 100).rounded() / 100,
                                rowsPerSecond: seconds > 0 ? Int(Double(rows) / seconds) : rows, blockSize: 0, parallelism: 1,
                                verified: "count() equals the \(rows) rows read through the old tool's \(format.rawValue) dump", retries: [])
    }
}

/// The decompressed bytes as a request body, read 1 MiB at a time off Swift's pool (so the
/// server's pace is the reader's: nothing piles up in memory).
struct DecompressedChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let decompressor: Decompressor

    struct AsyncIterator: AsyncIteratorProtocol {
        let decompressor: Decompressor
        mutating func next() async throws -> ByteBuffer? {
            let d = decompressor
            let chunk: [UInt8] = try await ProcessSpawn.onThread {
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                let n = try buffer.withUnsafeMutableBytes { try d.read(into: $0) }
                return Array(buffer.prefix(n))
            }
            return chunk.isEmpty ? nil : ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(decompressor: decompressor) }
}
