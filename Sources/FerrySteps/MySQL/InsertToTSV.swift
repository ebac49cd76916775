/// Turns mysqldump `INSERT INTO t VALUES (...),(...);` statements into the
/// tab-separated text `LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\'`
/// reads. The server loads that far cheaper than it parses INSERTs, and the
/// command-line client only streams it instead of scanning every byte.
///
/// String escapes mysqldump writes (`\0 \n \r \\ \' \" \Z`) mean the same to
/// LOAD DATA, so they are copied as they are; a raw tab becomes `\t`; NULL
/// becomes `\N`. Anything else (hex or bit literals, expressions) is not
/// converted: the caller then sends those statements as SQL.
public enum InsertToTSV {
    /// The column list of the statement (`a`,`b`), when it has one.
    public struct Header: Equatable, Sendable {
        public var columns: String?
    }

    /// Appends one statement's rows to `out`; nil when it holds something this does not convert.
    public static func convert(_ b: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Header? {
        let n = b.count
        var i = 0
        func skipSpace() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func keyword(_ k: StaticString) -> Bool {
            let len = k.utf8CodeUnitCount
            guard i + len <= n else { return false }
            let ok = k.withUTF8Buffer { p in (0..<len).allSatisfy { b[i + $0] & 0xDF == p[$0] } }
            if ok { i += len }
            return ok
        }
        skipSpace()
        guard keyword("INSERT") else { return nil }
        skipSpace()
        guard keyword("INTO") else { return nil }
        skipSpace()
        // Table name.
        if i < n && b[i] == UInt8(ascii: "`") {
            i += 1
            while i < n && b[i] != UInt8(ascii: "`") { i += 1 }
            i += 1
        } else {
            return nil
        }
        skipSpace()
        var header = Header(columns: nil)
        if i < n && b[i] == UInt8(ascii: "(") {
            let start = i + 1
            while i < n && b[i] != UInt8(ascii: ")") { i += 1 }
            guard i < n else { return nil }
            header.columns = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            i += 1
            skipSpace()
        }
        guard keyword("VALUES") else { return nil }
        let rollback = out.count
        while true {
            skipSpace()
            guard i < n else { out.removeSubrange(rollback...); return nil }
            if b[i] == UInt8(ascii: ";") { return header }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard b[i] == UInt8(ascii: "(") else { out.removeSubrange(rollback...); return nil }
            i += 1
            // Fields of one row.
            while true {
                skipSpace()
                guard i < n else { out.removeSubrange(rollback...); return nil }
                let c = b[i]
                if c == UInt8(ascii: "'") {
                    i += 1
                    var closed = false
                    while i < n {
                        let x = b[i]
                        if x == UInt8(ascii: "\\") {
                            guard i + 1 < n else { break }
                            out.append(x)
                            out.append(b[i + 1])
                            i += 2
                        } else if x == UInt8(ascii: "'") {
                            if i + 1 < n && b[i + 1] == UInt8(ascii: "'") {
                                out.append(x)
                                i += 2
                            } else {
                                i += 1
                                closed = true
                                break
                            }
                        } else if x == 0x09 {
                            out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t")); i += 1
                        } else if x == 0x0A {
                            out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n")); i += 1
                        } else {
                            out.append(x)
                            i += 1
                        }
                    }
                    guard closed else { out.removeSubrange(rollback...); return nil }
                } else if c == UInt8(ascii: "N") && keyword("NULL") {
                    out.append(UInt8(ascii: "\\"))
                    out.append(UInt8(ascii: "N"))
                } else if (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") {
                    if c == UInt8(ascii: "0") && i + 1 < n && (b[i + 1] | 0x20) == UInt8(ascii: "x") { out.removeSubrange(rollback...); return nil }
                    while i < n {
                        let x = b[i]
                        let numeric = (x >= UInt8(ascii: "0") && x <= UInt8(ascii: "9")) || x == UInt8(ascii: ".") || x == UInt8(ascii: "-") || x == UInt8(ascii: "+") || (x | 0x20) == UInt8(ascii: "e")
                        guard numeric else { break }
                        out.append(x)
                        i += 1
                    }
                } else {
                    out.removeSubrange(rollback...)
                    return nil
                }
                skipSpace()
                guard i < n else { out.removeSubrange(rollback...); return nil }
                if b[i] == UInt8(ascii: ",") {
                    out.append(0x09)
                    i += 1
                } else if b[i] == UInt8(ascii: ")") {
                    out.append(0x0A)
                    i += 1
                    break
                } else {
                    out.removeSubrange(rollback...)
                    return nil
                }
            }
        }
    }
}
