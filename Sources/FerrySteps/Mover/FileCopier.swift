import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies one entry of the source tree into the target tree: under a
/// temporary name in the target folder, renamed into place only when
/// complete (a killed copy never leaves a file a later run would count as
/// done). Mode and mtime preserved; symlinks copied as links and only when
/// they stay inside the tree.
struct FileCopier {
    let source: RawPath
    let target: RawPath
    let control: MoverControl
    let checksum: Bool
    /// The source is in use and watched by a change journal: a file that vanishes or keeps
    /// changing while copied is the journal's to settle (it recorded the change), not an error.
    var live = false
    /// Whether a file is first tried as a reflink (FICLONE: the target shares the source's
    /// blocks until either side writes; `--method`).
    var clone: Clone = .never
    static let chunk = 1 << 20

    enum Clone: Sendable {
        case never
        /// Tried; where the filesystem cannot, the bytes are copied.
        case attempt
        /// Every file a reflink; one that cannot be is an error.
        case require
    }
    static let tempPrefix: [UInt8] = Array(".ferry-part-".utf8)

    enum Outcome {
        case copied(Int64)
        case skipped(Int64)
        case failed
        /// Gone, or changing, under a live source (see ``live``).
        case vanished
    }

    typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<Int>?, Int32, UnsafeMutablePointer<Int>?, Int, UInt32) -> Int

    /// glibc's `copy_file_range` (not exported by Swift's Glibc module; looked up once).
    static let copyFileRange: CopyFileRange? = {
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, "copy_file_range") else { return nil }
        return unsafeBitCast(p, to: CopyFileRange.self)
    }()

    /// The temporary name for `name` (short and fixed, so a rerun reuses and replaces it).
    static func tempName(_ name: [UInt8]) -> [UInt8] {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in name { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return tempPrefix + Array(String(h, radix: 16).utf8)
    }

    static func isTemp(_ name: [UInt8]) -> Bool { name.starts(with: tempPrefix) }

    /// Copies `relative` (a path inside the trees) if the target lacks it or differs.
    func copy(_ relative: [UInt8], directory: [UInt8], name: [UInt8]) -> Outcome {
        let src = source.appending(relative: relative)
        let dst = target.appending(relative: relative)
        var st = stat()
        guard src.withCString({ lstat($0, &st) }) == 0 else {
            if live && errno == ENOENT { return .vanished }
            control.error("\(src): \(String(cString: strerror(errno))); skipped")
            return .failed
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return copyFile(src, dst, directory: directory, name: name, st)
        case S_IFLNK: return copyLink(src, dst, directory: directory, name: name, st)
        default:
            control.error("\(src): not a regular file, folder or symlink; skipped")
            return .failed
        }
    }

    /// Size of the file when the target already has it (same size and mtime; no content check),
    /// nil when it must go through `copy`. Cheap enough for the walker's own threads.
    func alreadyThere(_ relative: [UInt8]) -> Int64? {
        guard !checksum else { return nil }
        let src = source.appending(relative: relative)
        var st = stat()
        guard src.withCString({ lstat($0, &st) }) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Self.sameFile(src, target.appending(relative: relative), st, checksum: false) ? Int64(st.st_size) : nil
    }

    private func copyFile(_ src: RawPath, _ dst: RawPath, directory: [UInt8], name: [UInt8], _ first: stat) -> Outcome {
        var st = first
        if Self.sameFile(src, dst, st, checksum: checksum) { return .skipped(Int64(st.st_size)) }
        let tempPath = target.appending(relative: directory).appending(Self.tempName(name))
        for _ in 0..<3 {
            let input = src.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard input >= 0 else {
                if live && errno == ENOENT { return .vanished }
                control.error("\(src): \(String(cString: strerror(errno))); skipped")
                return .failed
            }
            defer { close(input) }
            _ = fstat(input, &st)
            let output = tempPath.withCString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard output >= 0 else {
                let e = errno
                if e == ENOSPC || e == EDQUOT { control.stop("the target is full (\(dst)): \(String(cString: strerror(e)))") } else {
                    control.error("\(dst): cannot create: \(String(cString: strerror(e))); skipped")
                }
                return .failed
            }
            let written: Int64?
            switch reflink(from: input, to: output, size: Int64(st.st_size)) {
            case .cloned: written = Int64(st.st_size)
            case .unsupported(let e) where clone == .require:
                close(output)
                _ = tempPath.withCString { unlink($0) }
                control.error("\(src): cannot be a reflink of the source in \(dst) (\(String(cString: strerror(e)))); skipped: reflink needs one XFS or btrfs filesystem for both sides (spec.fileSync.method: copy copies the bytes)")
                return .failed
            case .unsupported, .notTried: written = transfer(from: input, to: output, size: Int(st.st_size))
            }
            guard let written else {
                let e = errno
                close(output)
                _ = tempPath.withCString { unlink($0) }
                if control.stopped != nil { return .failed }
                if e == ENOSPC || e == EDQUOT {
                    control.stop("the target is full (writing \(dst)): \(String(cString: strerror(e))); nothing half-written was kept")
                } else {
                    control.error("\(src): copy failed: \(String(cString: strerror(e))); skipped")
                }
                return .failed
            }
            var after = stat()
            _ = fstat(input, &after)
            if after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec || after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || written != Int64(st.st_size) {
                close(output)
                _ = tempPath.withCString { unlink($0) }
                st = after
                continue  // it changed while being copied: copy it again
            }
            _ = fchmod(output, st.st_mode & 0o7777)
            var times = [st.st_atim, st.st_mtim]
            _ = futimens(output, &times)
            close(output)
            let renamed = tempPath.withCString { t in dst.withCString { d in rename(t, d) } }
            guard renamed == 0 else {
                control.error("\(dst): cannot put in place: \(String(cString: strerror(errno))); skipped")
                _ = tempPath.withCString { unlink($0) }
                return .failed
            }
            return .copied(written)
        }
        if live { return .vanished }
        control.error("\(src): kept changing while being copied (3 tries); skipped")
        return .failed
    }

    enum Reflink { case cloned, unsupported(Int32), notTried }

    /// FICLONE of the whole file, as `clone` asks. Waits at the pause gate like a copy; costs no
    /// bandwidth (no bytes move). `unsupported` with errno: another filesystem, or one that
    /// cannot share blocks (ext4, tmpfs: EOPNOTSUPP, EXDEV, EINVAL).
    private func reflink(from input: Int32, to output: Int32, size: Int64) -> Reflink {
        guard clone != .never else { return .notTried }
        guard control.admit(0) else { return .notTried }
        if ferry_ficlone(output, input) == 0 {
            control.wrote(size)
            control.cloned()
            return .cloned
        }
        return .unsupported(errno)
    }

    /// Bytes written, or nil with errno set. copy_file_range where the kernel allows, read/write otherwise.
    private func transfer(from input: Int32, to output: Int32, size: Int) -> Int64? {
        var total: Int64 = 0
        var useCopyRange = true
        var buffer: [UInt8] = []
        while true {
            // Charge what this chunk will really move (the file's rest, at most a chunk).
            let want = max(1, min(Self.chunk, size - Int(total)))
            guard control.admit(want) else { errno = ECANCELED; return nil }
            var n: Int
            if useCopyRange {
                guard let copyRange = Self.copyFileRange else {
                    useCopyRange = false
                    continue
                }
                n = copyRange(input, nil, output, nil, total < Int64(size) ? want : Self.chunk, 0)
                if n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF) && total == 0 {
                    useCopyRange = false
                    continue
                }
            } else {
                if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: Self.chunk) }
                n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, total < Int64(size) ? want : $0.count) }
                if n > 0 {
                    var off = 0
                    while off < n {
                        let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + off, n - off) }
                        if w < 0 {
                            if errno == EINTR { continue }
                            return nil
                        }
                        off += w
                    }
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return total }
            total += Int64(n)
            control.wrote(Int64(n))
        }
    }

    private func copyLink(_ src: RawPath, _ dst: RawPath, directory: [UInt8], name: [UInt8], _ st: stat) -> Outcome {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = src.withCString { p in buffer.withUnsafeMutableBytes { readlink(p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
        guard n >= 0 else {
            control.error("\(src): cannot read the link: \(String(cString: strerror(errno))); skipped")
            return .failed
        }
        let text = Array(buffer[0..<n])
        guard symlinkStaysInside(linkDirectory: directory, target: text) else {
            control.error("\(src): symlink to \(String(decoding: text, as: UTF8.self)) points outside the tree; skipped")
            return .failed
        }
        // Already the same link?
        var existing = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let m = dst.withCString { p in existing.withUnsafeMutableBytes { readlink(p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
        if m == n && Array(existing[0..<m]) == text { return .skipped(0) }
        let tempPath = target.appending(relative: directory).appending(Self.tempName(name))
        _ = tempPath.withCString { unlink($0) }
        let made = RawPath(text).withCString { t in tempPath.withCString { symlink(t, $0) } }
        guard made == 0 else {
            control.error("\(dst): cannot create the link: \(String(cString: strerror(errno))); skipped")
            return .failed
        }
        var times = [st.st_atim, st.st_mtim]
        _ = tempPath.withCString { utimensat(AT_FDCWD, $0, &times, AT_SYMLINK_NOFOLLOW) }
        guard tempPath.withCString({ t in dst.withCString { rename(t, $0) } }) == 0 else {
            control.error("\(dst): cannot put the link in place: \(String(cString: strerror(errno))); skipped")
            _ = tempPath.withCString { unlink($0) }
            return .failed
        }
        return .copied(0)
    }

    /// Skip-existing: same size and mtime seconds (or, with checksum, same bytes).
    static func sameFile(_ src: RawPath, _ dst: RawPath, _ st: stat, checksum: Bool) -> Bool {
        var t = stat()
        guard dst.withCString({ lstat($0, &t) }) == 0, (t.st_mode & S_IFMT) == S_IFREG, t.st_size == st.st_size else { return false }
        if checksum ? !contentsEqual(src, dst) : t.st_mtim.tv_sec != st.st_mtim.tv_sec { return false }
        // Same data: carry over a changed mode (and, after a checksum match, the mtime).
        if (t.st_mode & 0o7777) != (st.st_mode & 0o7777) { _ = dst.withCString { chmod($0, st.st_mode & 0o7777) } }
        if t.st_mtim.tv_sec != st.st_mtim.tv_sec {
            var times = [st.st_atim, st.st_mtim]
            _ = dst.withCString { utimensat(AT_FDCWD, $0, &times, 0) }
        }
        return true
    }

    /// Byte-for-byte comparison of two files.
    static func contentsEqual(_ a: RawPath, _ b: RawPath) -> Bool {
        let fa = a.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        let fb = b.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        defer {
            if fa >= 0 { close(fa) }
            if fb >= 0 { close(fb) }
        }
        guard fa >= 0, fb >= 0 else { return false }
        var ba = [UInt8](repeating: 0, count: chunk), bb = [UInt8](repeating: 0, count: chunk)
        while true {
            let na = ba.withUnsafeMutableBytes { readFully(fa, $0) }
            let nb = bb.withUnsafeMutableBytes { readFully(fb, $0) }
            if na != nb || na < 0 { return false }
            if na == 0 { return true }
            if memcmp(ba, bb, na) != 0 { return false }
        }
    }

    static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var got = 0
        while got < buffer.count {
            let n = read(fd, buffer.baseAddress! + got, buffer.count - got)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return -1 }
            if n == 0 { break }
            got += n
        }
        return got
    }
}
