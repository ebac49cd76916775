import Foundation
import KubeClient
import Logging

/// Raised when a leader stops being able to renew its Lease in time.
public struct LeadershipLost: Error, CustomStringConvertible {
    public let description: String
}

/// Leader election on a coordination.k8s.io/v1 Lease, after client-go's:
/// expiry is judged by when *this* process last saw the record change (no
/// trust in other clocks); a leader that cannot renew within `renewDeadline`
/// stops leading; cancelling releases the Lease so a successor starts at once.
public struct LeaderElector: Sendable {
    public let client: KubeClient
    public let namespace: String
    public let name: String
    public let identity: String
    public var leaseDuration: Double = 15
    public var renewDeadline: Double = 10
    public var retryPeriod: Double = 2
    public var logger: Logger

    public init(client: KubeClient, namespace: String, name: String, identity: String, logger: Logger = Logger(label: "leader-election")) {
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.logger = logger
    }

    /// Acquires the Lease (waiting as long as needed), runs `lead` while
    /// holding it, and throws ``LeadershipLost`` if renewal fails. Cancelling
    /// the calling task stops `lead` and releases the Lease.
    public func run(_ lead: @escaping @Sendable () async -> Void) async throws {
        var observed: (record: String, at: Date)?
        // Acquiring: any error (an API server restarting, a timeout) is retried with backoff; a
        // standby must outlive its control plane's hiccups.
        var failures = 0
        while !Task.isCancelled {
            do {
                if let (acquired, seen) = try await bounded(seconds: renewDeadline, { [observed] in
                    var o = observed
                    let ok = try await self.tryAcquireOrRenew(&o)
                    return (ok, o)
                }) {
                    observed = seen
                    if acquired { break }
                }
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.warning("could not read or take the Lease; retrying", metadata: ["lease": "\(namespace)/\(name)", "error": "\(error)"])
            }
            let backoff = min(retryPeriod * pow(2, Double(min(failures, 5))), max(retryPeriod, 30)) * Double.random(in: 1...1.2)
            try? await Task.sleep(nanoseconds: UInt64((failures == 0 ? retryPeriod : backoff) * 1_000_000_000))
        }
        if Task.isCancelled { return }
        logger.info("became leader", metadata: ["lease": "\(namespace)/\(name)", "identity": "\(identity)"])
        let leading = Task { await lead() }
        defer { leading.cancel() }
        var lastRenew = Date()
        do {
            while !Task.isCancelled {
                try await Task.sleep(nanoseconds: UInt64(retryPeriod * 1_000_000_000))
                // Each renewal may take only until the renew deadline: a hung request must not keep
                // this process leading after a standby may take the Lease (client-go's semantics).
                let left = renewDeadline - Date().timeIntervalSince(lastRenew)
                let renewed = left > 0 ? ((try? await bounded(seconds: left, { [observed] in
                    var o = observed
                    let ok = try await self.tryAcquireOrRenew(&o)
                    return (ok, o)
                })) ?? nil) : nil
                if let (ok, seen) = renewed {
                    observed = seen
                    if ok { lastRenew = Date() }
                }
                if Date().timeIntervalSince(lastRenew) >= renewDeadline {
                    leading.cancel()
                    await leading.value
                    logger.error("stopped leading", metadata: ["lease": "\(namespace)/\(name)", "reason": "no renewal within \(renewDeadline)s"])
                    throw LeadershipLost(description: "could not renew Lease \(namespace)/\(name) within \(renewDeadline)s")
                }
            }
        } catch is CancellationError {
            // Clean shutdown.
        }
        leading.cancel()
        await leading.value
        // Release from a task that does not inherit our cancellation, so the request goes out.
        let elector = self
        await Task.detached { await elector.release() }.value
    }

    /// `body`'s result, or nil when it has not finished within `seconds` (it is then cancelled).
    func bounded<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    func tryAcquireOrRenew(_ observed: inout (record: String, at: Date)?) async throws -> Bool {
        let now = Date()
        let stamp = Timestamps.formatMicro(now)
        let current: JSONValue
        do {
            current = try await client.get(.leases, name: name, namespace: namespace)
        } catch let e as KubeAPIError where e.isNotFound {
            do {
                _ = try await client.create(.leases, [
                    "metadata": ["name": .string(name), "namespace": .string(namespace)],
                    "spec": [
                        "holderIdentity": .string(identity), "leaseDurationSeconds": .int(Int64(leaseDuration)),
                        "acquireTime": .string(stamp), "renewTime": .string(stamp), "leaseTransitions": 0,
                    ],
                ], namespace: namespace)
                return true
            } catch let e as KubeAPIError where e.isAlreadyExists || e.isConflict {
                return false
            }
        }
        let spec = current["spec"] ?? .emptyObject
        let holder = spec["holderIdentity"]?.stringValue ?? ""
        let record = "\(holder)|\(spec["renewTime"]?.stringValue ?? "")"
        if observed?.record != record { observed = (record, now) }
        let duration = Double(spec["leaseDurationSeconds"]?.intValue ?? Int64(leaseDuration))
        if !holder.isEmpty && holder != identity, let seen = observed, now.timeIntervalSince(seen.at) < duration {
            return false
        }
        var updated = current
        updated[path: ["spec", "holderIdentity"]] = .string(identity)
        updated[path: ["spec", "leaseDurationSeconds"]] = .int(Int64(leaseDuration))
        updated[path: ["spec", "renewTime"]] = .string(stamp)
        if holder != identity {
            updated[path: ["spec", "acquireTime"]] = .string(stamp)
            updated[path: ["spec", "leaseTransitions"]] = .int((spec["leaseTransitions"]?.intValue ?? 0) + 1)
        }
        do {
            let written = try await client.replace(.leases, updated, namespace: namespace)
            let s = written["spec"] ?? .emptyObject
            observed = ("\(identity)|\(s["renewTime"]?.stringValue ?? "")", now)
            return true
        } catch let e as KubeAPIError where e.isConflict {
            return false
        }
    }

    /// Gives the Lease up (holder cleared) so another instance can take over immediately.
    func release() async {
        do {
            var lease = try await client.get(.leases, name: name, namespace: namespace)
            guard lease[path: ["spec", "holderIdentity"]]?.stringValue == identity else { return }
            lease[path: ["spec", "holderIdentity"]] = ""
            lease[path: ["spec", "leaseDurationSeconds"]] = 1
            lease[path: ["spec", "renewTime"]] = .string(Timestamps.formatMicro(Date()))
            _ = try await client.replace(.leases, lease, namespace: namespace)
            logger.info("released lease", metadata: ["lease": "\(namespace)/\(name)"])
        } catch {
            logger.warning("could not release lease", metadata: ["error": "\(error)"])
        }
    }
}
