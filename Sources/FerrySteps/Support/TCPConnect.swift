import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opens a TCP connection to `host:port`, trying each resolved address,
/// each for at most `timeoutSeconds`. Returns a connected, blocking socket
/// (close-on-exec), or throws with `what` (the spec field) and why.
enum TCPConnect {
    static func open(host: String, port: Int, timeoutSeconds: Int32, what: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw StepError.target("\(what) host \(host) does not resolve (\(String(cString: gai_strerror(rc)))); check \(what)")
        }
        defer { freeaddrinfo(list) }
        var why = "no address"
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let a = node {
            node = a.pointee.ai_next
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), a.pointee.ai_protocol)
            guard s >= 0 else { continue }
            if let failure = connect(s, a.pointee, timeoutSeconds: timeoutSeconds) {
                why = failure
                close(s)
                continue
            }
            _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK)
            return s
        }
        throw StepError.target("\(what) at \(host):\(port) is not reachable: \(why); check \(what) and that the server runs")
    }

    /// nil when connected, else why not.
    private static func connect(_ s: Int32, _ a: addrinfo, timeoutSeconds: Int32) -> String? {
        if Glibc.connect(s, a.ai_addr, a.ai_addrlen) == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var p = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, timeoutSeconds * 1000) == 1 else { return "no answer within \(timeoutSeconds) s" }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0 ? nil : String(cString: strerror(err))
    }
}
