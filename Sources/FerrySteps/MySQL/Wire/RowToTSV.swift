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
        guard let base = payload.baseAddress?.assumingMemoryBound(to: UInt8.self) else { throw WirePackets.Failure(message: "an empty row") }
        let bounds = (UnsafePointer(base), UnsafePointer(base + payload.count))
        for c in 0..<columns {
            if c > 0 { o[n] = 9; n += 1 }
            guard let value = try r.lengthEncodedBytes() else {
                o[n] = 92; o[n + 1] = 78; n += 2  // \N
                continue
            }
            // Runs without a byte to escape are copied whole; the four that need it are written as two.
            guard let v = value.baseAddress?.assumingMemoryBound(to: UInt8.self) else { continue }
            var run = 0
            var i = firstEscaped(v, from: 0, count: value.count, bounds: bounds)
            while i < value.count {
                let b = v[i]
                if i > run { (o + n).update(from: v + run, count: i - run); n += i - run }
                o[n] = 92
                o[n + 1] = b == 0 ? 48 : b == 9 ? 116 : b == 10 ? 110 : 92
                n += 2
                run = i + 1
                i = firstEscaped(v, from: run, count: value.count, bounds: bounds)
            }
            if value.count > run { (o + n).update(from: v + run, count: value.count - run); n += value.count - run }
        }
        guard r.remaining == 0 else { throw WirePackets.Failure(message: "a row holds more values than its \(columns) columns") }
        o[n] = 10
        return n + 1
    }

    /// The index of the first byte from `from` on that must be escaped (NUL, tab, newline,
    /// backslash), else `count`. Eight bytes at a time: a byte of word `x` is zero exactly where
    /// the lowest flag of `(x - 0x01…) & ~x & 0x80…` is (flags above a zero byte may be false),
    /// so the lowest flag over the four XORed words is the first byte to escape. The last bytes
    /// of a value are read as one word too, inside `payload` (`bounds`: the row the value is in),
    /// with the bytes outside the value made spaces. Most values have nothing to escape, and this
    /// is the export's hottest loop.
    @inline(__always)
    static func firstEscaped(_ v: UnsafePointer<UInt8>, from: Int, count: Int, bounds: (UnsafePointer<UInt8>, UnsafePointer<UInt8>)) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, spaces: UInt64 = 0x2020_2020_2020_2020
        @inline(__always) func zeros(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & 0x8080_8080_8080_8080 }
        @inline(__always) func flags(_ w: UInt64) -> UInt64 { zeros(w) | zeros(w ^ (ones &* 9)) | zeros(w ^ (ones &* 10)) | zeros(w ^ (ones &* 92)) }
        @inline(__always) func load(_ p: UnsafePointer<UInt8>) -> UInt64 { UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) }
        var i = from
        while i &+ 8 <= count {
            let m = flags(load(v + i))
            if m != 0 { return i &+ m.trailingZeroBitCount &>> 3 }
            i &+= 8
        }
        let rest = count &- i  // 0…7
        if rest == 0 { return count }
        if v + i + 8 <= bounds.1 {
            // The word from `i` on; its bytes past the value (the high ones) made spaces.
            let mine = (UInt64(1) &<< UInt64(rest &* 8)) &- 1
            let m = flags((load(v + i) & mine) | (spaces & ~mine))
            return m == 0 ? count : i &+ m.trailingZeroBitCount &>> 3
        }
        if v + count - 8 >= bounds.0 {
            // The word that ends the value; its bytes before `i` (the low ones) made spaces.
            let before = (UInt64(1) &<< UInt64((8 &- rest) &* 8)) &- 1
            let m = flags((load(v + count - 8) & ~before) | (spaces & before))
            return m == 0 ? count : count &- 8 &+ m.trailingZeroBitCount &>> 3
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
        capacity = 256 << 10
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
