import FerryProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A SaaS export's attachment folders arrive as `<name>.tar.gz`, the folder's contents with no
/// folder level inside (`spec.files[].unpack`). Each is unpacked into `<name>/` in a staging area
/// before the copy; other entries of the folder are copied there as they are. Only regular files
/// and folders may come out of an archive, and only inside its own folder: an absolute path, a
/// `..`, a link or a device is refused by archive and entry, before anything of it is written.
public enum ArchiveStaging {
    /// One archive entry, as its header says.
    struct Entry: Equatable {
        enum Kind: Equatable { case file, folder, other(String) }
        var path: String
        var kind: Kind
        var size: Int
        var mode: Int
        var mtime: Int
    }

    /// `name` for `name.tar.gz` or `name.tgz`; nil for other files.
    public static func folderName(_ file: String) -> String? {
        for suffix in [".tar.gz", ".tgz"] where file.hasSuffix(suffix) {
            let name = String(file.dropLast(suffix.count))
            return name.isEmpty || name == "." || name == ".." || name.contains("/") ? nil : name
        }
        return nil
    }

    /// A path inside the archive's folder, `./` and repeated slashes removed; nil when it would
    /// leave the folder (absolute, `..`) or is empty. Pure.
    static func safePath(_ raw: String) -> String? {
        guard !raw.hasPrefix("/"), !raw.contains("\0") else { return nil }
        let parts = raw.split(separator: "/").filter { $0 != "." }
        guard !parts.isEmpty, !parts.contains("..") else { return nil }
        return parts.joined(separator: "/")
    }

    /// What a folder unpacks to: its archives and the bytes they hold.
    public struct Checked: Equatable, Sendable {
        public var archives: [String]
        public var bytes: Int64
    }

    /// Each archive of `folder` checked (every entry read through) and the folder's other entries
    /// looked at, nothing written: the refusals validate reports before anything stops.
    public static func check(_ folder: String) throws -> Checked {
        let entries = try listing(folder)
        try refuseCollisions(entries, in: folder)
        var checked = Checked(archives: [], bytes: 0)
        for file in entries {
            if folderName(file) != nil {
                try refuseNonRegularArchive(folder + "/" + file)
                checked.bytes += try read(folder + "/" + file, into: nil).bytes
                checked.archives.append(file)
            } else {
                checked.bytes += try copyTree(folder + "/" + file, to: nil)
            }
        }
        return checked
    }

    /// Two entries that would land on one name: `a.tgz` and `a.tar.gz`, or `x` and `x.tar.gz`;
    /// and a name like an archive that names no folder (`.tar.gz`, `..tar.gz`). Pure over the listing.
    static func refuseCollisions(_ entries: [String], in folder: String) throws {
        var lands: [String: String] = [:]
        for file in entries {
            if (file.hasSuffix(".tar.gz") || file.hasSuffix(".tgz")) && folderName(file) == nil {
                throw StepError.badPackage("\(folder)/\(printable(file)) is named like an archive but names no folder to unpack into; rename or remove it")
            }
            let name = folderName(file) ?? file
            if let other = lands.updateValue(file, forKey: name) {
                throw StepError.badPackage("\(folder) holds both \(printable(other)) and \(printable(file)), which would both become \(printable(name)); keep one")
            }
        }
    }

    /// Stages `folder` into `staging` (made anew): archives unpacked into their folders, the rest
    /// copied. Returns the staged folder.
    public static func stage(_ folder: String, into staging: String, say: (String) -> Void = { print($0) }) throws -> String {
        try? FileManager.default.removeItem(atPath: staging)
        // The staged top becomes the target's top: it keeps a folder's usual mode.
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        do {
            try unpackAll(folder, into: staging, say: say)
        } catch {
            // Nothing of a refused archive is left to be copied.
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        return staging
    }

    static func unpackAll(_ folder: String, into staging: String, say: (String) -> Void) throws {
        let entries = try listing(folder)
        try refuseCollisions(entries, in: folder)
        for file in entries {
            let from = folder + "/" + file
            if let name = folderName(file) {
                try refuseNonRegularArchive(from)
                try FileManager.default.createDirectory(atPath: staging + "/" + name, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
                let (files, bytes) = try read(from, into: staging + "/" + name)
                say("unpacked \(file): \(files) files, \(bytes) bytes into \(name)/")
            } else {
                try copyTree(from, to: staging + "/" + file)
            }
        }
    }

    static func refuseNonRegularArchive(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw StepError.badPackage("\(path) is named like an archive but is not a regular file") }
    }

    /// A new folder of this process's own under TMPDIR.
    public static func privateFolder() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/ferry-unpack.XXXXXX").utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw StepError.io("cannot make a staging folder under \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        return String(cString: dir)
    }

    static func listing(_ folder: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: folder).sorted() } catch {
            throw StepError.badPackage("the folder \(folder) cannot be read: \(error)")
        }
    }

    /// Reads a gzip'd tar through; with `target`, writes its files and folders there. Returns
    /// files and bytes. Every entry is checked before its bytes are written.
    @discardableResult
    static func read(_ archive: String, into target: String?) throws -> (files: Int, bytes: Int64) {
        let d = try Decompressor(archive, tool: "gzip")
        var r = NativeReader(source: { try d.read(into: $0) })
        var files = 0, bytes: Int64 = 0
        var seen: Set<String> = []
        var longName: String?
        var paxPath: String?
        let name = (archive as NSString).lastPathComponent
        do {
            while true {
                guard let header = try block(&r) else { break }
                if header.allSatisfy({ $0 == 0 }) { break }
                guard var entry = parse(header) else { throw StepError.badPackage("\(name) is not a tar archive (a damaged header at byte \(r.offset - 512)); export it again") }
                let padded = (entry.size + 511) / 512 * 512
                switch header[156] {
                case UInt8(ascii: "L"):
                    longName = String(decoding: try bytesOf(&r, entry.size, padded).prefix { $0 != 0 }, as: UTF8.self)
                    continue
                case UInt8(ascii: "x"):
                    paxPath = paxValue(try bytesOf(&r, entry.size, padded), key: "path") ?? paxPath
                    continue
                case UInt8(ascii: "g"):
                    try r.skip(padded)
                    continue
                default: break
                }
                if let p = paxPath ?? longName { entry.path = p }
                // Old tars mark folders only by a trailing slash, on the full name.
                if [0, UInt8(ascii: "0"), UInt8(ascii: "7")].contains(header[156]) { entry.kind = entry.path.hasSuffix("/") ? .folder : .file }
                paxPath = nil
                longName = nil
                // The archive's own top (`./`): its folder is the one it unpacks into.
                if entry.kind == .folder, entry.path.split(separator: "/").allSatisfy({ $0 == "." }), !entry.path.hasPrefix("/") {
                    try r.skip(padded)
                    continue
                }
                guard let path = safePath(entry.path) else {
                    throw StepError.badPackage("\(name) holds the entry \(printable(entry.path)), which would be written outside its folder (an absolute path or ..): refused, nothing of it unpacked. Export the attachments again")
                }
                switch entry.kind {
                case .other(let what):
                    throw StepError.badPackage("\(name) holds \(printable(path)), a \(what): an attachments archive may hold only files and folders; refused, nothing of it unpacked")
                case .folder:
                    if let target { try makeFolders(target, path) }
                    try r.skip(padded)
                case .file:
                    guard seen.insert(path).inserted else { throw StepError.badPackage("\(name) holds \(printable(path)) twice; export it again") }
                    if let target {
                        let parent = path.split(separator: "/").dropLast().joined(separator: "/")
                        if !parent.isEmpty { try makeFolders(target, parent) }
                        try write(&r, size: entry.size, to: target + "/" + path, mtime: entry.mtime, archive: name)
                        try r.skip(padded - entry.size)
                    } else {
                        try r.skip(padded)
                    }
                    files += 1
                    bytes += Int64(entry.size)
                }
            }
        } catch let e as NativeReader.Problem {
            d.stop()
            throw StepError.badPackage("\(name) is cut short or damaged (\(e.message.replacingOccurrences(of: "inside a block", with: "inside an entry"))); export it again")
        } catch {
            d.stop()
            throw error
        }
        try d.finish()
        return (files, bytes)
    }

    static func block(_ r: inout NativeReader) throws -> [UInt8]? {
        if try r.atEnd() { return nil }
        var out = [UInt8](repeating: 0, count: 512)
        for i in 0..<512 { out[i] = try r.byte() }
        return out
    }

    static func bytesOf(_ r: inout NativeReader, _ size: Int, _ padded: Int) throws -> [UInt8] {
        guard size <= 1 << 20 else { throw NativeReader.Problem(message: "an extended header of \(size) bytes") }
        var out: [UInt8] = []
        for _ in 0..<size { out.append(try r.byte()) }
        try r.skip(padded - size)
        return out
    }

    /// A ustar/GNU header: name (with the ustar prefix), kind, size (octal or base-256), mode,
    /// mtime; nil when the checksum does not match. Pure.
    static func parse(_ h: [UInt8]) -> Entry? {
        func text(_ range: Range<Int>) -> String { String(decoding: h[range].prefix { $0 != 0 }, as: UTF8.self) }
        func number(_ range: Range<Int>) -> Int? {
            if h[range.lowerBound] & 0x80 != 0 {
                var v = 0
                for b in h[range].dropFirst() { guard v < Int.max >> 8 else { return nil }; v = v << 8 | Int(b) }
                return v
            }
            let t = text(range).trimmingCharacters(in: .whitespaces)
            return t.isEmpty ? 0 : Int(t, radix: 8)
        }
        guard let sum = number(148..<156) else { return nil }
        var computed = 0
        for (i, b) in h.enumerated() { computed += (148..<156).contains(i) ? 32 : Int(b) }
        // Sizes past 1 TiB are refused as damage, before any arithmetic on them.
        guard sum == computed, let size = number(124..<136), size >= 0, size <= 1 << 40 else { return nil }
        var name = text(0..<100)
        // POSIX ustar ("ustar\0") has a name prefix there; GNU's "ustar  " keeps times there instead.
        if h[257..<263].elementsEqual(Array("ustar".utf8) + [0]) {
            let prefix = text(345..<500)
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        let kind: Entry.Kind
        switch h[156] {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = name.hasSuffix("/") ? .folder : .file
        case UInt8(ascii: "5"): kind = .folder
        case UInt8(ascii: "1"): kind = .other("hard link")
        case UInt8(ascii: "2"): kind = .other("symbolic link to \(text(157..<257))")
        case UInt8(ascii: "3"), UInt8(ascii: "4"): kind = .other("device")
        case UInt8(ascii: "6"): kind = .other("FIFO")
        case UInt8(ascii: "L"), UInt8(ascii: "x"), UInt8(ascii: "g"): kind = .file
        default: kind = .other("tar entry of type \(Character(UnicodeScalar(h[156])))")
        }
        return Entry(path: name, kind: kind, size: size, mode: number(100..<108) ?? 0o644, mtime: number(136..<148) ?? 0)
    }

    /// A pax record's value (`<len> key=value\n` records). Pure.
    static func paxValue(_ bytes: [UInt8], key: String) -> String? {
        var found: String?
        // The last record wins, as GNU tar reads it.
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let record = line[line.index(after: space)...]
            if record.hasPrefix(key + "=") { found = String(record.dropFirst(key.count + 1)) }
        }
        return found
    }

    static func printable(_ s: String) -> String {
        String(s.unicodeScalars.prefix(120).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }

    /// Copies a folder entry that is not an archive into the staging folder (`to`; nil: only look),
    /// times kept so a second pass finds the target's copy equal. Only files and folders: a link,
    /// FIFO, socket or device is refused by name (it would hang or leave the tree). Returns bytes.
    @discardableResult
    static func copyTree(_ from: String, to: String?) throws -> Int64 {
        var st = stat()
        guard lstat(from, &st) == 0 else { throw StepError.badPackage("\(from) cannot be read: \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if let to, mkdir(to, 0o755) != 0 { throw StepError.io("cannot make \(to): \(String(cString: strerror(errno)))") }
            var total: Int64 = 0
            for name in try listing(from) { total += try copyTree(from + "/" + name, to: to.map { $0 + "/" + name }) }
            return total
        case S_IFREG:
            if let to {
                let input = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard input >= 0 else { throw StepError.badPackage("\(from) cannot be read: \(String(cString: strerror(errno)))") }
                defer { close(input) }
                let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                guard output >= 0 else { throw StepError.io("cannot write \(to): \(String(cString: strerror(errno)))") }
                defer { close(output) }
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
                    if n == 0 { break }
                    guard n > 0 else { throw StepError.io("reading \(from): \(String(cString: strerror(errno)))") }
                    try buffer.withUnsafeBytes { try writeAll(output, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: to) }
                }
                var times = [st.st_atim, st.st_mtim]
                futimens(output, &times)
            }
            return Int64(st.st_size)
        default:
            let what = (st.st_mode & S_IFMT) == S_IFLNK ? "a symbolic link" : (st.st_mode & S_IFMT) == S_IFIFO ? "a FIFO" : (st.st_mode & S_IFMT) == S_IFSOCK ? "a socket" : "a device"
            throw StepError.badPackage("\(from) is \(what): a folder with spec.files[].unpack may hold only archives, files and folders; remove it")
        }
    }

    /// Folders under `root` along `path`, never through a link.
    static func makeFolders(_ root: String, _ path: String) throws {
        var at = root
        for part in path.split(separator: "/") {
            at += "/" + part
            var st = stat()
            if lstat(at, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else { throw StepError.badPackage("the archive has both a file and a folder at \(printable(String(at.dropFirst(root.count + 1))))") }
                continue
            }
            guard mkdir(at, 0o755) == 0 else { throw StepError.io("cannot make \(at): \(String(cString: strerror(errno)))") }
        }
    }

    static func write(_ r: inout NativeReader, size: Int, to path: String, mtime: Int, archive: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw errno == EEXIST ? StepError.badPackage("\(archive) holds \(printable(path)) twice; export it again") : StepError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var left = size
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while left > 0 {
            let n = min(left, chunk.count)
            for i in 0..<n { chunk[i] = try r.byte() }
            try chunk.withUnsafeBytes { try writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: path) }
            left -= n
        }
        // The archive's time, so a second pass finds the target's copy already equal.
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        futimens(fd, &times)
    }
}
