import Foundation

/// A text-protocol row to one line of LOAD DATA text (`FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
/// LINES TERMINATED BY '\n'`): NULL as `\N`; backslash, tab, newline and NUL escaped, so a row
/// is always exactly one line and the part's rows are its newline count. Pure.
enum RowToTSV {
    /// The most bytes one row of `payload` can become: a NULL (1 byte) becomes `\N` and a tab,
    /// a value byte at most two, its length prefix none.
    static func bound(_ payload: UnsafeRawBufferPointer) -> Int { payload.count * 3 + 2 }

    /// Writes the row at `out` (room for ``bound(_:)`` bytes); returns the bytes written.
    /// Optimized for speed in a binary built for size: every exported byte goes through it.
    @_optimize(speed)
    static func encode(_ payload: UnsafeRawBufferPointer, columns: Int, into out: UnsafeMutableRawPointer) throws -> Int {
        var r = WirePackets.Reader(payload)
        var n = 0
        let o = out.assumingMemoryBound(to: UInt8.self)
        for c in 0..<columns {
            if c > 0 { o[n] = 9; n += 1 }
            guard let value = try r.lengthEncodedBytes() else {
                o[n] = 92; o[n + 1] = 78; n += 2  // \N
                continue
            }
            // Runs without a byte to escape are copied whole; the four that need it are written as two.
            guard let v = value.baseAddress?.assumingMemoryBound(to: UInt8.self) else { continue }
            var run = 0
            var i = firstEscaped(v, from: 0, count: value.count)
            while i < value.count {
                let b = v[i]
                if i > run { (o + n).update(from: v + run, count: i - run); n += i - run }
                o[n] = 92
                o[n + 1] = b == 0 ? 48 : b == 9 ? 116 : b == 10 ? 110 : 92
                n += 2
                run = i + 1
                i = firstEscaped(v, from: run, count: value.count)
            }
            if value.count > run { (o + n).update(from: v + run, count: value.count - run); n += value.count - run }
        }
        guard r.remaining == 0 else { throw WirePackets.Failure(message: "a row holds more values than its \(columns) columns") }
        o[n] = 10
        return n + 1
    }

    /// The index of the first byte from `from` on that must be escaped (NUL, tab, newline,
    /// backslash), else `count`. Eight bytes at a time: a word holds one of them when the word
    /// XORed with it has a zero byte, which `(x - 0x01…) & ~x & 0x80…` finds without a false alarm;
    /// the bytes of a word that does are then looked at one by one. Most values have none, and
    /// this is the export's hottest loop.
    @inline(__always)
    static func firstEscaped(_ v: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        var i = from
        while i &+ 8 <= count {
            let w = UnsafeRawPointer(v + i).loadUnaligned(as: UInt64.self)
            if hasZero(w) || hasZero(w ^ (ones &* 9)) || hasZero(w ^ (ones &* 10)) || hasZero(w ^ (ones &* 92)) { break }
            i &+= 8
        }
        while i < count {
            let b = v[i]
            if b <= 92 && (b == 0 || b == 9 || b == 10 || b == 92) { return i }
            i &+= 1
        }
        return count
    }

    /// A LOAD DATA line's fields back, nil for `\N` (the inverse of ``encode``; for tests and checks).
    static func decode(_ line: ArraySlice<UInt8>) -> [[UInt8]?] {
        var fields: [[UInt8]?] = []
        var current: [UInt8] = []
        var isNull = false
        var i = line.startIndex
        while i < line.endIndex {
            let b = line[i]
            if b == 9 {
                fields.append(isNull ? nil : current)
                current = []
                isNull = false
            } else if b == 92, i + 1 < line.endIndex {
                i += 1
                switch line[i] {
                case 48: current.append(0)
                case 116: current.append(9)
                case 110: current.append(10)
                case 78 where current.isEmpty: isNull = true
                default: current.append(line[i])
                }
            } else {
                current.append(b)
            }
            i += 1
        }
        fields.append(isNull ? nil : current)
        return fields
    }
}

/// One data part being written: rows encoded into a buffer, flushed through a
/// ``HashingWriter`` (sha256 as written), or through zstd into one, counted.
final class TSVPartWriter {
    private let writer: HashingWriter?
    private let compressor: Compressor?
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var used = 0
    private var flushed: Int64 = 0
    private(set) var rows = 0

    init(_ path: String, zstd: Bool = false) throws {
        if zstd {
            compressor = try Compressor(path)
            writer = nil
        } else {
            writer = try HashingWriter(path)
            compressor = nil
        }
        capacity = 4 << 20
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Text bytes so far (before compression).
    var bytes: Int64 { flushed + Int64(used) }

    func append(row payload: UnsafeRawBufferPointer, columns: Int) throws {
        let need = RowToTSV.bound(payload)
        if used + need > capacity {
            try flush()
            if need > capacity {
                buffer.deallocate()
                capacity = need
                buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            }
        }
        used += try RowToTSV.encode(payload, columns: columns, into: buffer + used)
        rows += 1
    }

    func flush() throws {
        guard used > 0 else { return }
        let chunk = UnsafeRawBufferPointer(start: buffer, count: used)
        if let compressor { try compressor.write(chunk) } else { try writer!.write(chunk) }
        flushed += Int64(used)
        used = 0
    }

    /// Flushes; the sha256 and size of the file as written.
    func finish() throws -> (sha256: String, bytes: Int64) {
        try flush()
        if let compressor { return try compressor.finish() }
        return (writer!.finish(), writer!.count)
    }
}
