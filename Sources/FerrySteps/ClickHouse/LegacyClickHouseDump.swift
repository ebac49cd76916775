import FerryProtocol
import Foundation

/// The old tool's `clickhouse-backup/<db>.<table>.zst`: one table's rows, zstd-compressed, in a
/// format ClickHouse reads (Native or TabSeparated, told apart by their first bytes). Only rows:
/// the table itself is the application's and must exist on the target. Pure parts here; reading
/// goes through ``Decompressor``.
public enum LegacyClickHouseDump {
    public enum Format: String, Sendable, Equatable {
        case native = "Native"
        case tabSeparated = "TabSeparated"
    }

    /// `db.table` of a file name `db.table.zst`, both plain identifiers; nil otherwise.
    public static func table(fileName: String) -> String? {
        guard fileName.hasSuffix(".zst") else { return nil }
        let parts = fileName.dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
        let identifier = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } }
        guard parts.count == 2, parts.allSatisfy(identifier) else { return nil }
        return "\(parts[0]).\(parts[1])"
    }

    /// The format of decompressed data from its first bytes: a Native block header (columns, rows,
    /// then a column's name and a type Ferry can read through), else text with no NUL byte and a
    /// line end (TabSeparated); nil when neither.
    public static func detect(_ head: [UInt8]) -> Format? {
        var r = NativeReader(bytes: head)
        if let columns = try? r.varint(), (1...10_000).contains(columns), let rows = try? r.varint(), rows <= 1 << 40,
           let name = try? r.string(limit: 1024), let type = try? r.string(limit: 1024),
           let nameText = String(validating: name, as: UTF8.self), !nameText.isEmpty, !nameText.contains(where: { $0.isNewline || $0 == "\0" }),
           let typeText = String(validating: type, as: UTF8.self), NativeColumns.readable(typeText) {
            return .native
        }
        guard !head.isEmpty, !head.contains(0), head.contains(UInt8(ascii: "\n")) || head.count < 65_536 else { return nil }
        // A cut multi-byte character at the end is not a reason to refuse.
        let text = head.count >= 65_536 ? Array(head.prefix(through: head.lastIndex(of: UInt8(ascii: "\n")) ?? head.count - 1)) : head
        return String(validating: text, as: UTF8.self) == nil ? nil : .tabSeparated
    }

    /// The format of a `.zst` dump, read from its first decompressed bytes; nil when it is not zstd
    /// or its content is neither format.
    static func format(_ path: String) throws -> Format? {
        guard head(path, count: 4) == PackageParts.zstdMagic else { return nil }
        do {
            return detect(try Decompressor.head(path))
        } catch let e as StepError where e.changedNothing && !e.description.contains("zstd is not installed") {
            return nil
        }
    }

    /// Why a `.zst` is not restored, in words a person can act on.
    static func whyUnreadable(_ path: String) throws -> String {
        let magic = head(path, count: 4)
        guard magic == PackageParts.zstdMagic else {
            return "it is not zstd (it starts with \(magic.map { String(format: "%02x", $0) }.joined(separator: " ")), not 28 b5 2f fd)"
        }
        let inner: [UInt8]
        do { inner = try Decompressor.head(path) } catch { return "it does not decompress (\(error))" }
        return "its content is neither Native nor TabSeparated (it starts with \(inner.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))), so ClickHouse cannot read it"
    }

    /// The first bytes of a file as stored.
    static func head(_ path: String, count: Int) -> [UInt8] {
        guard let h = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? h.close() }
        return Array((try? h.read(upToCount: count)) ?? Data())
    }

    /// Rows in the whole decompressed stream: lines for TabSeparated, the blocks' row counts for
    /// Native (each column read through, so a cut or damaged file is found). Blocking.
    static func countRows(_ path: String, format: Format) throws -> Int {
        let d = try Decompressor(path)
        var rows = 0
        switch format {
        case .tabSeparated:
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var last: UInt8 = UInt8(ascii: "\n"), any = false
            while true {
                let n = try buffer.withUnsafeMutableBytes { try d.read(into: $0) }
                if n == 0 { break }
                any = true
                for b in buffer[0..<n] where b == UInt8(ascii: "\n") { rows += 1 }
                last = buffer[n - 1]
            }
            if any && last != UInt8(ascii: "\n") { rows += 1 }
        case .native:
            var r = NativeReader(source: { try d.read(into: $0) })
            do {
                rows = try NativeColumns.countRows(&r)
            } catch let e as NativeReader.Problem {
                d.stop()
                throw StepError.badPackage("\(path): \(e.message); the old tool's dump cannot be read through, so its rows cannot be counted or verified: export the table again")
            }
        }
        try d.finish()
        return rows
    }
}

/// Bytes of Native data, from memory or a stream, read as ClickHouse writes them.
struct NativeReader {
    struct Problem: Error { var message: String }

    private var buffer: [UInt8]
    private var start = 0
    private var end: Int
    private let source: ((UnsafeMutableRawBufferPointer) throws -> Int)?
    private(set) var offset: Int64 = 0

    init(bytes: [UInt8]) {
        buffer = bytes
        end = bytes.count
        source = nil
    }

    init(source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        buffer = [UInt8](repeating: 0, count: 1 << 20)
        end = 0
        self.source = source
    }

    /// Whether any byte is left (reading more when needed).
    mutating func atEnd() throws -> Bool { try available(1) == 0 }

    private mutating func available(_ wanted: Int) throws -> Int {
        if end - start >= wanted { return end - start }
        guard let source else { return end - start }
        if start > 0 {
            buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
            end -= start
            start = 0
        }
        while end - start < wanted && end < buffer.count {
            let n = try buffer.withUnsafeMutableBytes { try source(UnsafeMutableRawBufferPointer(rebasing: $0[end...])) }
            if n == 0 { break }
            end += n
        }
        return end - start
    }

    mutating func byte() throws -> UInt8 {
        guard try available(1) >= 1 else { throw Problem(message: "the data ends inside a block at byte \(offset)") }
        defer { start += 1; offset += 1 }
        return buffer[start]
    }

    mutating func skip(_ count: Int) throws {
        var left = count
        while left > 0 {
            let have = try available(min(left, buffer.count))
            guard have > 0 else { throw Problem(message: "the data ends inside a column at byte \(offset)") }
            let n = min(have, left)
            start += n
            offset += Int64(n)
            left -= n
        }
    }

    mutating func varint() throws -> Int {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            let b = try byte()
            value |= UInt64(b & 0x7f) << UInt64(shift)
            if b & 0x80 == 0 { return value > UInt64(Int.max) ? Int.max : Int(value) }
        }
        throw Problem(message: "a length at byte \(offset) is longer than 64 bits")
    }

    mutating func string(limit: Int) throws -> [UInt8] {
        let n = try varint()
        guard n <= limit else { throw Problem(message: "a name at byte \(offset) claims \(n) bytes") }
        var out: [UInt8] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try byte()) }
        return out
    }

    mutating func uint64() throws -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(try byte()) << UInt64(8 * i) }
        return v
    }
}

/// ClickHouse's Native columns: how many bytes each type's values take, so rows can be counted
/// without understanding the values. Types Ferry cannot read through are refused by name.
enum NativeColumns {
    static let fixed: [String: Int] = [
        "UInt8": 1, "Int8": 1, "Enum8": 1, "UInt16": 2, "Int16": 2, "Enum16": 2, "Date": 2,
        "UInt32": 4, "Int32": 4, "Float32": 4, "DateTime": 4, "Decimal32": 4, "IPv4": 4,
        "UInt64": 8, "Int64": 8, "Float64": 8, "Decimal64": 8, "DateTime64": 8,
        "UUID": 16, "Decimal128": 16, "IPv6": 16, "Nothing": 1,
    ]

    /// `Array(String)` → ("Array", ["String"]); `DateTime('UTC')` → ("DateTime", ["'UTC'"]). Pure.
    static func parse(_ type: String) -> (base: String, arguments: [String]) {
        guard let open = type.firstIndex(of: "("), type.hasSuffix(")") else { return (type.trimmingCharacters(in: .whitespaces), []) }
        let inner = type[type.index(after: open)..<type.index(before: type.endIndex)]
        var args: [String] = [], depth = 0, quoted = false, current = ""
        for c in inner {
            if c == "'" { quoted.toggle() }
            if !quoted && c == "(" { depth += 1 }
            if !quoted && c == ")" { depth -= 1 }
            if !quoted && depth == 0 && c == "," { args.append(current.trimmingCharacters(in: .whitespaces)); current = ""; continue }
            current.append(c)
        }
        args.append(current.trimmingCharacters(in: .whitespaces))
        return (String(type[..<open]).trimmingCharacters(in: .whitespaces), args)
    }

    /// Bytes per value of a fixed-width type; nil for others.
    static func width(_ type: String) -> Int? {
        let (base, args) = parse(type)
        if let w = fixed[base] { return w }
        if base == "FixedString", let n = args.first.flatMap({ Int($0) }), n > 0 { return n }
        if base == "Decimal", let p = args.first.flatMap({ Int($0) }) { return p <= 9 ? 4 : p <= 18 ? 8 : 16 }
        return nil
    }

    /// Whether Ferry can read a column of this type through. Pure.
    static func readable(_ type: String, depth: Int = 0) -> Bool {
        guard depth < 16 else { return false }
        let (base, args) = parse(type)
        if width(type) != nil || (base == "String" && args.isEmpty) { return true }
        switch base {
        case "Nullable", "Array": return args.count == 1 && readable(args[0], depth: depth + 1)
        case "Tuple": return !args.isEmpty && args.allSatisfy { readable(tupleElement($0), depth: depth + 1) }
        default: return false
        }
    }

    /// A tuple element may be named: `a UInt8` → `UInt8`.
    static func tupleElement(_ s: String) -> String {
        guard let space = s.firstIndex(of: " "), !s[..<space].contains("(") else { return s }
        return s[space...].trimmingCharacters(in: .whitespaces)
    }

    static func skip(_ r: inout NativeReader, type: String, rows: Int, depth: Int = 0) throws {
        guard depth < 16 else { throw NativeReader.Problem(message: "type \(type) nests too deep") }
        if let w = width(type) {
            let (total, overflow) = w.multipliedReportingOverflow(by: rows)
            guard !overflow else { throw NativeReader.Problem(message: "a column of \(rows) rows of \(type) is impossibly large") }
            try r.skip(total)
            return
        }
        let (base, args) = parse(type)
        switch base {
        case "String" where args.isEmpty:
            for _ in 0..<rows { try r.skip(try r.varint()) }
        case "Nullable" where args.count == 1:
            try r.skip(rows)
            try skip(&r, type: args[0], rows: rows, depth: depth + 1)
        case "Array" where args.count == 1:
            var last: UInt64 = 0
            for _ in 0..<rows {
                let o = try r.uint64()
                guard o >= last else { throw NativeReader.Problem(message: "Array offsets go backwards at byte \(r.offset)") }
                last = o
            }
            guard last <= 1 << 40 else { throw NativeReader.Problem(message: "an Array column claims \(last) values") }
            try skip(&r, type: args[0], rows: Int(last), depth: depth + 1)
        case "Tuple" where !args.isEmpty:
            for a in args { try skip(&r, type: tupleElement(a), rows: rows, depth: depth + 1) }
        default:
            let shown = String(type.unicodeScalars.prefix(60).map { $0.properties.generalCategory == .control || !$0.isASCII ? "?" : Character($0) })
            throw NativeReader.Problem(message: "a column of type \(shown)\(type.unicodeScalars.count > 60 ? "…" : ""), which Ferry cannot read through (at byte \(r.offset))")
        }
    }

    /// Rows of all blocks until the end.
    static func countRows(_ r: inout NativeReader) throws -> Int {
        var total = 0
        while try !r.atEnd() {
            let columns = try r.varint(), rows = try r.varint()
            guard (1...10_000).contains(columns), rows <= 1 << 40 else { throw NativeReader.Problem(message: "a block header at byte \(r.offset) claims \(columns) columns and \(rows) rows") }
            for _ in 0..<columns {
                _ = try r.string(limit: 1 << 16)
                let type = String(decoding: try r.string(limit: 1 << 16), as: UTF8.self)
                try skip(&r, type: type, rows: rows)
            }
            let (sum, overflow) = total.addingReportingOverflow(rows)
            guard !overflow, sum <= 1 << 50 else { throw NativeReader.Problem(message: "the blocks claim more than 2^50 rows in all") }
            total = sum
        }
        return total
    }
}
