import Foundation
import KubeClient
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What kube-proxy does, for the pod runner's pods: each Service with a selector listens on its
/// cluster IP (a loopback address of its own, ``Hooks/assignClusterIP``) at each port, and every
/// connection goes to a running pod the selector picks, at the target port (a number, or a
/// container port's name). Blocking sockets, a thread per connection: tests, not traffic.
final class ServiceProxy: Sendable {
    let store: ObjectStore
    /// "ip:port" → the listening socket and what it forwards to.
    private let listeners = Mutex<[String: Listener]>([:])

    final class Listener: Sendable {
        let fd: Int32
        /// namespace, selector, target port (number or name).
        let route: Mutex<(String, [String: String], String)>
        init(fd: Int32, route: (String, [String: String], String)) {
            self.fd = fd
            self.route = Mutex(route)
        }
    }

    init(store: ObjectStore) {
        self.store = store
    }

    /// One pass: a listener for every Service port, none for a Service that is gone.
    func reconcile() {
        guard let type = store.registry.byKey["/services"] else { return }
        let services = (try? store.list(type, filter: ObjectFilter(), limit: nil, continueToken: nil).items) ?? []
        var wanted: [String: (String, [String: String], String)] = [:]
        for svc in services {
            guard let ip = svc[path: ["spec", "clusterIP"]]?.stringValue, ip.hasPrefix("127."),
                  let selector = svc[path: ["spec", "selector"]]?.objectValue, !selector.isEmpty else { continue }
            let labels = selector.compactMapValues(\.stringValue)
            for port in svc[path: ["spec", "ports"]]?.arrayValue ?? [] {
                guard let p = port["port"]?.intValue else { continue }
                let target = port["targetPort"].map { $0.stringValue ?? $0.intValue.map { String($0) } ?? String(p) } ?? String(p)
                wanted["\(ip):\(p)"] = (svc.namespace ?? "default", labels, target ?? String(p))
            }
        }
        listeners.withLock { current in
            for (address, listener) in current where wanted[address] == nil {
                shutdown(listener.fd, Int32(SHUT_RDWR))
                close(listener.fd)
                current[address] = nil
            }
            for (address, route) in wanted {
                if let existing = current[address] {
                    existing.route.withLock { $0 = route }
                    continue
                }
                let parts = address.split(separator: ":")
                guard let fd = Self.listen(host: String(parts[0]), port: Int(parts[1]) ?? 0) else { continue }
                let listener = Listener(fd: fd, route: route)
                current[address] = listener
                Thread { [self] in acceptLoop(listener) }.start()
            }
        }
    }

    func stopAll() {
        listeners.withLock { current in
            for (_, l) in current {
                shutdown(l.fd, Int32(SHUT_RDWR))
                close(l.fd)
            }
            current = [:]
        }
    }

    private func acceptLoop(_ listener: Listener) {
        while true {
            let client = accept(listener.fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // closed
            }
            let route = listener.route.withLock { $0 }
            Thread { [self] in forward(client, route) }.start()
        }
    }

    /// The connection spliced to a running pod of the selector; closed when there is none.
    private func forward(_ client: Int32, _ route: (String, [String: String], String)) {
        let (namespace, selector, target) = route
        guard let podType = store.registry.byKey["/pods"],
              let pods = try? store.list(podType, filter: ObjectFilter(namespace: namespace), limit: nil, continueToken: nil).items,
              let pod = pods.first(where: { p in
                  p[path: ["status", "phase"]]?.stringValue == "Running" && p[path: ["metadata", "deletionTimestamp"]] == nil
                      && selector.allSatisfy { LabelSelector.labels(of: p)[$0.key] == $0.value }
              }),
              let ip = pod[path: ["status", "podIP"]]?.stringValue,
              let port = Int(target) ?? Self.namedPort(pod, target),
              let upstream = Self.connect(host: ip, port: port) else {
            close(client)
            return
        }
        let done = DispatchGroup()
        for (from, to) in [(client, upstream), (upstream, client)] {
            done.enter()
            Thread {
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    var sent = 0
                    while sent < n {
                        let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                        if w <= 0 { break }
                        sent += w
                    }
                    if sent < n { break }
                }
                shutdown(to, Int32(SHUT_WR))
                done.leave()
            }.start()
        }
        done.wait()
        close(client)
        close(upstream)
    }

    static func namedPort(_ pod: JSONValue, _ name: String) -> Int? {
        for c in pod[path: ["spec", "containers"]]?.arrayValue ?? [] {
            for p in c["ports"]?.arrayValue ?? [] where p["name"]?.stringValue == name { return p["containerPort"]?.intValue.map(Int.init) }
        }
        return nil
    }

    static func address(_ host: String, _ port: Int) -> sockaddr_in? {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return nil }
        return addr
    }

    static func listen(host: String, port: Int) -> Int32? {
        guard var addr = address(host, port) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        guard ok, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    static func connect(host: String, port: Int) -> Int32? {
        guard var addr = address(host, port) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        guard ok else {
            close(fd)
            return nil
        }
        return fd
    }
}
