#if canImport(Glibc)
import Glibc
#endif

/// User extended attributes (`user.*`), through libc's own functions (Swift's Glibc module does
/// not bring <sys/xattr.h>). A filesystem without them answers -1 and the caller does without.
enum ExtendedAttributes {
    private typealias FSet = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer, Int, Int32) -> Int32
    private typealias LGet = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer, Int) -> Int

    private static let fset: FSet? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fsetxattr").map { unsafeBitCast($0, to: FSet.self) }
    private static let lget: LGet? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "lgetxattr").map { unsafeBitCast($0, to: LGet.self) }

    /// Sets `name` on the open file; false when it could not.
    @discardableResult
    static func set(_ fd: Int32, _ name: String, _ value: [UInt8]) -> Bool {
        guard let fset else { return false }
        return value.withUnsafeBytes { fset(fd, name, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count, 0) } == 0
    }

    /// `name` of the file at `path` (a link's own, never its target's); nil when it has none.
    static func get(_ path: RawPath, _ name: String, limit: Int = 1024) -> [UInt8]? {
        guard let lget else { return nil }
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = path.withCString { p in buffer.withUnsafeMutableBytes { lget(p, name, $0.baseAddress!, $0.count) } }
        return n >= 0 ? Array(buffer[..<n]) : nil
    }
}
