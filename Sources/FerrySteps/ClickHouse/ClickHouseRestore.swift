import Crypto
import FerryProtocol
import Foundation
import NIOCore

/// Restores one ClickHouse table from the package:
///
/// 1. check before touching anything: the schema is a CREATE TABLE of this
///    table, the data file's sha256 and row count match the manifest, the
///    server answers;
/// 2. create the database if needed, drop and create the table;
/// 3. insert the TabSeparated rows over HTTP, `blockSize` rows per request
///    (also sent as `max_insert_block_size`), `parallelism` requests at once;
/// 4. verify `count()` and, for a partitioned table, the rows of every
///    partition (from `system.parts`) against the manifest.
///
/// When ClickHouse runs out of memory (code 241) the table is dropped and
/// recreated and the rows are sent again with half the block size, down to
/// ``Options/minimumBlockSize``; the result says so.
public struct ClickHouseRestore: Sendable {
    public struct Options: Sendable {
        /// `db.table`.
        public var table: String
        public var schemaPath: String
        public var dataPath: String
        public var expected: PackageManifest.ClickHouseTable
        /// Expected sha256 (hex) of the data file, from the manifest.
        public var expectedSHA256: String?
        /// Rows per INSERT request and per block.
        public var blockSize: Int
        public var minimumBlockSize: Int
        public var parallelism: Int
        /// A split table's partition files (each checked, then inserted in turn); `dataPath` is then their folder.
        public var parts: [PartFile]?

        public init(table: String, schemaPath: String, dataPath: String, expected: PackageManifest.ClickHouseTable, expectedSHA256: String? = nil, blockSize: Int = 1_048_576, minimumBlockSize: Int = 1_000, parallelism: Int = 2) {
            self.table = table
            self.schemaPath = schemaPath
            self.dataPath = dataPath
            self.expected = expected
            self.expectedSHA256 = expectedSHA256
            self.blockSize = blockSize
            self.minimumBlockSize = minimumBlockSize
            self.parallelism = parallelism
        }
    }


    /// One partition's file of a split table, as the manifest lists it.
    public struct PartFile: Sendable, Equatable {
        public var path: String
        /// Package-relative, as the manifest names it (for messages).
        public var file: String
        public var partition: String
        public var rows: Int
        public var sha256: String?
    }

    public let client: ClickHouseClient
    public let options: Options
    public let say: @Sendable (String) -> Void

    public init(client: ClickHouseClient, options: Options, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.client = client
        self.options = options
        self.say = say
    }

    public func run() async throws -> ClickHouseResult {
        let started = Date()
        let (database, tableName) = try Self.split(options.table)
        let files: [MappedFile], schema: String
        do {
            schema = try checkSchema(database: database, table: tableName)
            if let parts = options.parts {
                files = try checkParts(parts, table: options.table)
            } else {
                let file = try MappedFile(path: options.dataPath)
                try check(file)
                files = [file]
            }
            try await client.ping()
        } catch {
            throw StepError.beforeChange((error as? StepError) ?? .target("\(error)"))
        }

        var blockSize = max(options.blockSize, 1)
        var retries: [String] = []
        while true {
            try await recreate(database: database, schema: schema)
            do {
                for file in files { try await insertAll(file, blockSize: blockSize) }
                break
            } catch let e as ClickHouseServerError where e.code == ClickHouseServerError.memoryLimitExceeded {
                let next = blockSize / 2
                guard next >= options.minimumBlockSize else {
                    throw StepError.target("ClickHouse ran out of memory inserting \(options.table) even at \(blockSize) rows per block (\(e.message)); raise max_memory_usage for user \(client.endpoint.user) or lower spec.clickhouse.maxInsertBlockSize")
                }
                let line = "memory limit at \(blockSize) rows per block; retried with \(next)"
                say("clickhouse \(options.table): \(line)")
                retries.append(line)
                blockSize = next
            } catch let e as ClickHouseServerError {
                throw StepError.target("ClickHouse refused rows for \(options.table): \(e.message)")
            }
        }

        let partitions = try await verify(database: database, table: tableName)
        let seconds = Date().timeIntervalSince(started)
        let rows = options.expected.rows
        say("clickhouse \(options.table): \(rows) rows, \(partitions) partitions verified in \(String(format: "%.1f", seconds)) s")
        return ClickHouseResult(
            table: options.table, rows: rows, bytes: files.reduce(0) { $0 + $1.count }, partitions: partitions,
            seconds: (seconds * 100).rounded() / 100, rowsPerSecond: seconds > 0 ? Int(Double(rows) / seconds) : rows,
            blockSize: blockSize, parallelism: options.parallelism,
            verified: partitions > 0 ? "count() and rows of \(partitions) partitions equal the manifest" : "count() equals the manifest",
            retries: retries)
    }

    /// `db.table` → ("db", "table"); both parts plain identifiers.
    static func split(_ name: String) throws -> (String, String) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let identifier = { (s: String) in !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }
        guard parts.count == 2, identifier(parts[0]), identifier(parts[1]) else {
            throw StepError.configuration("ClickHouse table \"\(name)\" must be written db.table (letters, digits, _); fix spec.clickhouse.tables")
        }
        return (parts[0], parts[1])
    }

    /// The schema is a CREATE TABLE of this table; returns it.
    func checkSchema(database: String, table: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: options.schemaPath) else {
            throw StepError.badPackage("cannot read \(options.schemaPath)")
        }
        let schema = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.createdTable(schema).map({ $0 == "\(database).\(table)" }) == true else {
            throw StepError.badPackage("\(options.schemaPath) is not a CREATE TABLE \(database).\(table) statement; re-export the package")
        }
        return schema
    }

    /// A split table's files: the manifest's parts as ``ClickHouseSplit/partsProblems(_:table:sha256:)``
    /// requires them, then each file's sha256 and rows. Names every file that differs; maps them
    /// for the insert.
    func checkParts(_ parts: [PartFile], table: String) throws -> [MappedFile] {
        var entry = options.expected
        entry.parts = parts.map { .init(file: $0.file, partition: $0.partition, rows: $0.rows) }
        var problems = ClickHouseSplit.partsProblems(entry, table: table, sha256: Dictionary(parts.compactMap { p in p.sha256.map { (p.file, $0) } }, uniquingKeysWith: { a, _ in a }))
        var files: [MappedFile] = []
        if problems.isEmpty {
            for p in parts {
                let file = try MappedFile(path: p.path)
                let actual = SHA256.hash(data: file.bytes).hexString
                if actual != p.sha256?.lowercased() {
                    problems.append("\(p.file) has sha256 \(actual), the manifest says \(p.sha256 ?? "nothing")")
                } else if Self.lineCount(file.bytes) != p.rows {
                    problems.append("\(p.file) holds \(Self.lineCount(file.bytes)) rows, the manifest says \(p.rows)")
                }
                files.append(file)
            }
        }
        guard problems.isEmpty else {
            throw StepError.badPackage("ClickHouse \(table): " + problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? " and \(problems.count - 5) more" : "")
                + ". The files changed or are incomplete; copy the package again. Nothing was changed on the target")
        }
        return files
    }

    /// The data file's sha256 and row count match the manifest.
    func check(_ file: MappedFile) throws {
        if let expected = options.expectedSHA256 {
            let actual = SHA256.hash(data: file.bytes).hexString
            guard actual == expected.lowercased() else {
                throw StepError.badPackage("\(options.dataPath) has sha256 \(actual) but the manifest says \(expected): the file changed or is incomplete; copy the package again")
            }
        }
        let rows = Self.lineCount(file.bytes)
        guard rows == options.expected.rows else {
            throw StepError.badPackage("\(options.dataPath) holds \(rows) rows but the manifest says \(options.expected.rows); copy the package again")
        }
    }

    /// The `db.table` a `CREATE TABLE [IF NOT EXISTS] db.table …` statement creates, without backquotes.
    static func createdTable(_ schema: String) -> String? {
        var words = schema.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "(" }).prefix(6).map(String.init)
        guard words.count >= 3, words[0].uppercased() == "CREATE", words[1].uppercased() == "TABLE" else { return nil }
        words.removeFirst(2)
        if words.count >= 4, words[0].uppercased() == "IF", words[1].uppercased() == "NOT", words[2].uppercased() == "EXISTS" { words.removeFirst(3) }
        return words.first?.replacingOccurrences(of: "`", with: "")
    }

    /// Rows in TabSeparated data: newline-terminated lines (values escape their own newlines).
    static func lineCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        var count = 0
        var offset = 0
        while offset < bytes.count, let hit = memchr(base + offset, 0x0A, bytes.count - offset) {
            count += 1
            offset = base.distance(to: UnsafeRawPointer(hit)) + 1
        }
        if bytes[bytes.count - 1] != 0x0A { count += 1 }
        return count
    }

    /// Byte ranges of `blockSize` lines each.
    static func blocks(_ bytes: UnsafeRawBufferPointer, rowsPerBlock: Int) -> [Range<Int>] {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return [] }
        var ranges: [Range<Int>] = []
        var start = 0
        var offset = 0
        var lines = 0
        while offset < bytes.count {
            guard let hit = memchr(base + offset, 0x0A, bytes.count - offset) else { offset = bytes.count; break }
            offset = base.distance(to: UnsafeRawPointer(hit)) + 1
            lines += 1
            if lines == rowsPerBlock {
                ranges.append(start..<offset)
                start = offset
                lines = 0
            }
        }
        if start < bytes.count { ranges.append(start..<bytes.count) }
        return ranges
    }

    private func recreate(database: String, schema: String) async throws {
        do {
            try await client.query("CREATE DATABASE IF NOT EXISTS \(database)")
            try await client.query("DROP TABLE IF EXISTS \(options.table)")
            try await client.query(schema)
        } catch let e as ClickHouseServerError {
            throw StepError.target("ClickHouse could not create \(options.table): \(e.message)")
        }
    }

    /// Sends every block, `parallelism` at a time; the first error cancels the rest.
    private func insertAll(_ file: MappedFile, blockSize: Int) async throws {
        let ranges = Self.blocks(file.bytes, rowsPerBlock: blockSize)
        guard !ranges.isEmpty else { return }
        let settings = ["max_insert_block_size": String(blockSize)]
        let table = options.table
        let client = self.client
        let width = max(1, min(options.parallelism, ranges.count))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func send(_ range: Range<Int>) {
                let rows = ByteBuffer(bytes: file.slice(range))
                group.addTask { try await client.insertTabSeparated(into: table, rows: rows, settings: settings) }
            }
            while next < width {
                send(ranges[next])
                next += 1
            }
            var done = 0
            var reported = Date()
            while try await group.next() != nil {
                done += 1
                if Date().timeIntervalSince(reported) >= 2 || done == ranges.count {
                    reported = Date()
                    say("clickhouse \(table): \(done)/\(ranges.count) blocks of \(blockSize) rows in")
                }
                if next < ranges.count {
                    send(ranges[next])
                    next += 1
                }
            }
        }
    }

    /// Row counts on the target against the manifest; returns the partitions checked.
    private func verify(database: String, table: String) async throws -> Int {
        let counted = Int(try await client.query("SELECT count() FROM \(options.table)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        guard counted == options.expected.rows else {
            throw StepError.verification("\(options.table) has \(counted) rows on the target but the package holds \(options.expected.rows)")
        }
        guard let expected = options.expected.partitions, !expected.isEmpty else { return 0 }
        let text = try await client.query(
            "SELECT partition_id, sum(rows) FROM system.parts WHERE database = '\(database)' AND table = '\(table)' AND active GROUP BY partition_id FORMAT TabSeparated")
        var actual: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let cols = line.split(separator: "\t")
            if cols.count == 2 { actual[String(cols[0])] = Int(cols[1]) }
        }
        let wrong = Set(expected.keys).union(actual.keys).sorted().filter { expected[$0] != actual[$0] }
        guard wrong.isEmpty else {
            let detail = wrong.prefix(5).map { "\($0): \(actual[$0] ?? 0) rows, package \(expected[$0] ?? 0)" }.joined(separator: "; ")
            throw StepError.verification("\(options.table) partitions differ from the package (\(detail))")
        }
        return expected.count
    }
}
