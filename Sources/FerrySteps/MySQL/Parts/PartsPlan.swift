import Crypto
import Foundation

/// Which data parts a parallel export writes: one per table, and a big table with a single
/// integer primary key cut into primary-key ranges, so N connections share the work evenly.
/// Pure: the inputs are what the snapshot connection read from `information_schema`.
/// The plan is kept in the export's state, so a resumed export writes the same parts.
struct PartsPlan: Codable, Equatable, Sendable {
    struct Table: Codable, Equatable, Sendable {
        var database: String
        var name: String
        /// The stored columns in order (generated columns left out: the server computes them).
        var columns: [String]
        /// The column signature (name, type, position) when planned, to find an ALTER later.
        var signature: String
        var dataBytes: Int64
        /// The single integer primary-key column and its range in the snapshot, when it has one.
        var key: String?
        var minKey: String?
        var maxKey: String?
    }

    struct Part: Codable, Equatable, Sendable {
        var database: String
        var table: String
        /// Package-relative path, e.g. `mysql/app/0003-orders.2.tsv`.
        var file: String
        var columns: [String]
        /// `WHERE` bounds on the key: `key >= lower` and `key < upper`, each when present.
        var key: String?
        var lower: String?
        var upper: String?
        var estimatedBytes: Int64

        var id: String { file }
    }

    var parts: [Part]

    /// Cuts `tables` into parts of about `chunkBytes` (a table smaller than that, or without a
    /// single integer key, is one part), biggest first.
    static func make(_ tables: [Table], chunkBytes: Int64, maxChunks: Int = 256, suffix: String = ".tsv") -> PartsPlan {
        make(tables, chunkBytes: { _ in chunkBytes }, maxChunks: maxChunks, suffix: suffix)
    }

    /// The same with a chunk size per database (each database is restored on its own, so each
    /// one's work is spread over the connections).
    static func make(_ tables: [Table], chunkBytes: (String) -> Int64, maxChunks: Int = 256, suffix: String = ".tsv") -> PartsPlan {
        var parts: [Part] = []
        let ordered = tables.sorted { ($0.database, $0.name) < ($1.database, $1.name) }
        for (index, t) in ordered.enumerated() {
            let stem = "mysql/\(t.database)/\(String(format: "%04d", index))-\(fileWord(t.name))"
            let bounds = cuts(t, chunkBytes: chunkBytes(t.database), maxChunks: maxChunks)
            if bounds.isEmpty {
                parts.append(Part(database: t.database, table: t.name, file: stem + suffix, columns: t.columns, estimatedBytes: t.dataBytes))
                continue
            }
            let n = bounds.count + 1
            for k in 0..<n {
                parts.append(Part(database: t.database, table: t.name, file: "\(stem).\(k)\(suffix)", columns: t.columns, key: t.key,
                                  lower: k == 0 ? nil : bounds[k - 1].description, upper: k == n - 1 ? nil : bounds[k].description,
                                  estimatedBytes: t.dataBytes / Int64(n)))
            }
        }
        let order = parts.enumerated().sorted { a, b in
            a.element.estimatedBytes != b.element.estimatedBytes ? a.element.estimatedBytes > b.element.estimatedBytes : a.offset < b.offset
        }
        return PartsPlan(parts: order.map(\.element))
    }

    /// The inner bounds cutting `t`'s key range into equal spans; empty when it stays whole.
    static func cuts(_ t: Table, chunkBytes: Int64, maxChunks: Int) -> [Int128] {
        guard t.key != nil, let lo = t.minKey.flatMap({ Int128($0) }), let hi = t.maxKey.flatMap({ Int128($0) }), hi > lo,
              chunkBytes > 0, t.dataBytes > chunkBytes else { return [] }
        let wanted = Int128(min(Int64(maxChunks), (t.dataBytes + chunkBytes - 1) / chunkBytes))
        let n = min(wanted, hi - lo + 1)
        guard n > 1 else { return [] }
        let span = (hi - lo + 1) / n
        return (1..<Int(n)).map { lo + span * Int128($0) }
    }

    /// A readable, safe file word for a table name: letters, digits and `_` kept (up to 40),
    /// the rest dropped; the part's number keeps it unique.
    static func fileWord(_ name: String) -> String {
        let kept = String(name.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }.prefix(40).map(Character.init))
        return kept.isEmpty ? "table" : kept
    }

    /// The chunk size for a database of `totalBytes` on `parallelism` connections: about four
    /// parts per connection for balance, none under 4 MiB, none over 256 MiB.
    static func chunkBytes(totalBytes: Int64, parallelism: Int) -> Int64 {
        min(256 << 20, max(4 << 20, totalBytes / Int64(max(1, parallelism) * 4)))
    }

    /// The `SELECT` of one part.
    static func select(_ p: Part) throws -> String {
        let q = MySQLClient.quoteIdentifier
        var sql = "SELECT " + p.columns.map(q).joined(separator: ", ") + " FROM " + q(p.database) + "." + q(p.table)
        var conditions: [String] = []
        // Bounds are numbers the plan made; the state file they were kept in is read back as numbers only.
        for (bound, op) in [(p.lower, ">="), (p.upper, "<")] {
            guard let text = bound else { continue }
            guard let key = p.key, let value = Int128(text) else {
                throw StepError.configuration("the plan of \(p.file) holds the bound \"\(text.prefix(40))\", not a number; delete \(PackageExporter.stateFile) to start the export over")
            }
            conditions.append("\(q(key)) \(op) \(value)")
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        return sql
    }

    /// Whether a database name can be a folder of the package.
    static func folderProblem(_ database: String) -> String? {
        if database.isEmpty || database == "." || database == ".." || database.contains("/") || database.contains("\0") {
            return "database \"\(database)\" cannot be a folder name in the package; export it under another name, or leave it out of mysql.databases"
        }
        return nil
    }
}
