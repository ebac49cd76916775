import Foundation
import KubeClient

/// KubeSim's built-in controllers for Deployments, StatefulSets and Jobs:
/// level-triggered passes over the store that create and delete Pods to match
/// replicas (or one Pod per Job attempt) and keep their status current.
/// Pods are owned directly (no ReplicaSets).
struct WorkloadControllers: Sendable {
    let store: ObjectStore

    func type(_ group: String, _ plural: String) -> ResourceType {
        store.registry.byKey["\(group)/\(plural)"]!
    }

    /// One pass over every workload.
    func reconcileAll() {
        let pods = type("", "pods")
        let allPods = (try? store.list(pods, filter: ObjectFilter(), limit: nil, continueToken: nil).items) ?? []
        var byOwner: [String: [JSONValue]] = [:]
        for p in allPods {
            for ref in p[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] where ref["controller"]?.boolValue == true {
                if let uid = ref["uid"]?.stringValue { byOwner[uid, default: []].append(p) }
            }
        }
        for kind in ["deployments", "statefulsets"] {
            let t = type("apps", kind)
            for obj in (try? store.list(t, filter: ObjectFilter(), limit: nil, continueToken: nil).items) ?? [] {
                reconcileReplicas(t, obj, byOwner[obj.uid ?? ""] ?? [], podType: pods)
            }
        }
        let jobs = type("batch", "jobs")
        for job in (try? store.list(jobs, filter: ObjectFilter(), limit: nil, continueToken: nil).items) ?? [] {
            reconcileJob(jobs, job, byOwner[job.uid ?? ""] ?? [], podType: pods)
        }
    }

    static func ownerRef(_ type: ResourceType, _ obj: JSONValue) -> JSONValue {
        ["apiVersion": .string(type.apiVersion(type.versions[0])), "kind": .string(type.kind), "name": obj["metadata"]?["name"] ?? .null, "uid": obj["metadata"]?["uid"] ?? .null, "controller": true, "blockOwnerDeletion": true]
    }

    static func isReady(_ pod: JSONValue) -> Bool {
        (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
    }

    func podFromTemplate(_ owner: JSONValue, _ type: ResourceType, name: String?, generateName: String?, extraLabels: [String: JSONValue]) -> JSONValue {
        let template = owner[path: ["spec", "template"]] ?? .emptyObject
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        for (k, v) in extraLabels { labels[k] = v }
        var meta: JSONValue = ["labels": .object(labels), "ownerReferences": [Self.ownerRef(type, owner)]]
        if let name { meta["name"] = .string(name) }
        if let generateName { meta["generateName"] = .string(generateName) }
        if let ann = template[path: ["metadata", "annotations"]] { meta["annotations"] = ann }
        var spec = template["spec"] ?? .emptyObject
        spec["nodeName"] = "kubesim"
        return ["apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec]
    }

    func reconcileReplicas(_ type: ResourceType, _ obj: JSONValue, _ owned: [JSONValue], podType: ResourceType) {
        guard obj[path: ["metadata", "deletionTimestamp"]] == nil, let name = obj.name else { return }
        let ns = obj.namespace
        let desired = Int(obj[path: ["spec", "replicas"]]?.intValue ?? 1)
        let live = owned.filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
        if type.plural == "statefulsets" {
            let names = Set(live.compactMap(\.name))
            for ordinal in 0..<desired where !names.contains("\(name)-\(ordinal)") {
                _ = try? store.create(podType, namespace: ns, podFromTemplate(obj, type, name: "\(name)-\(ordinal)", generateName: nil, extraLabels: ["statefulset.kubernetes.io/pod-name": .string("\(name)-\(ordinal)")]))
            }
            for p in live {
                if let n = p.name, let ord = Int(n.dropFirst(name.count + 1)), ord >= desired { _ = try? store.delete(podType, namespace: ns, name: n) }
            }
        } else {
            if live.count < desired {
                for _ in live.count..<desired {
                    _ = try? store.create(podType, namespace: ns, podFromTemplate(obj, type, name: nil, generateName: "\(name)-", extraLabels: [:]))
                }
            } else if live.count > desired {
                let extra = live.sorted { ($0[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "") > ($1[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "") }.prefix(live.count - desired)
                for p in extra { if let n = p.name { _ = try? store.delete(podType, namespace: ns, name: n) } }
            }
        }
        let current = min(live.count, max(desired, live.count))
        let ready = live.filter(Self.isReady).count
        var status: JSONValue = [
            "observedGeneration": obj[path: ["metadata", "generation"]] ?? 1,
            "replicas": .int(Int64(current)), "readyReplicas": .int(Int64(ready)),
            "availableReplicas": .int(Int64(ready)), "updatedReplicas": .int(Int64(current)),
        ]
        if type.plural == "statefulsets" { status["currentReplicas"] = .int(Int64(current)) }
        if obj["status"] != status {
            _ = try? store.patch(type, namespace: ns, name: name, patch: ["status": status], contentType: "application/merge-patch+json", subresource: "status")
        }
    }

    /// One Event per Job and reason, its count bumped on each repeat (as the event recorder folds them).
    func recordFailedCreate(_ job: JSONValue, message: String) {
        let events = type("", "events")
        let name = "\(job.name ?? "").failedcreate"
        let stamp = Timestamps.format(store.now())
        if let existing = try? store.get(events, namespace: job.namespace, name: name) {
            let count = (existing["count"]?.intValue ?? 1) + 1
            _ = try? store.patch(events, namespace: job.namespace, name: name, patch: ["count": .int(count), "lastTimestamp": .string(stamp), "message": .string(message)], contentType: "application/merge-patch+json")
            return
        }
        _ = try? store.create(events, namespace: job.namespace, [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(job.namespace ?? "default")],
            "involvedObject": ["apiVersion": "batch/v1", "kind": "Job", "name": .string(job.name ?? ""), "namespace": .string(job.namespace ?? "default"), "uid": .string(job.uid ?? "")],
            "reason": "FailedCreate", "type": "Warning", "message": .string(message), "count": 1,
            "firstTimestamp": .string(stamp), "lastTimestamp": .string(stamp), "source": ["component": "job-controller"],
        ])
    }

    func reconcileJob(_ type: ResourceType, _ job: JSONValue, _ owned: [JSONValue], podType: ResourceType) {
        guard job[path: ["metadata", "deletionTimestamp"]] == nil, let name = job.name else { return }
        let ns = job.namespace
        let conditions = job[path: ["status", "conditions"]]?.arrayValue ?? []
        let finished = conditions.contains { ($0["type"] == "Complete" || $0["type"] == "Failed") && $0["status"] == "True" }
        let succeeded = owned.filter { $0[path: ["status", "phase"]] == "Succeeded" }.count
        let failed = owned.filter { $0[path: ["status", "phase"]] == "Failed" }.count
        let active = owned.filter { let p = $0[path: ["status", "phase"]]?.stringValue; return p != "Succeeded" && p != "Failed" && $0[path: ["metadata", "deletionTimestamp"]] == nil }.count
        let backoffLimit = Int(job[path: ["spec", "backoffLimit"]]?.intValue ?? 6)
        let stamp = Timestamps.format(store.now())
        var status = job["status"] ?? .emptyObject
        if status["startTime"] == nil { status["startTime"] = .string(stamp) }
        status["active"] = active > 0 ? .int(Int64(active)) : nil
        status["succeeded"] = succeeded > 0 ? .int(Int64(succeeded)) : nil
        status["failed"] = failed > 0 ? .int(Int64(failed)) : nil
        if !finished {
            if succeeded > 0 {
                status["completionTime"] = .string(stamp)
                status["conditions"] = [["type": "Complete", "status": "True", "lastTransitionTime": .string(stamp), "lastProbeTime": .string(stamp)]]
            } else if failed > backoffLimit {
                status["conditions"] = [["type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": .string(stamp), "lastProbeTime": .string(stamp)]]
            } else if active == 0 {
                let uid = job.uid ?? ""
                do {
                    _ = try store.create(podType, namespace: ns, podFromTemplate(job, type, name: nil, generateName: "\(name)-", extraLabels: ["job-name": .string(name), "batch.kubernetes.io/job-name": .string(name), "controller-uid": .string(uid)]))
                    status["active"] = 1
                } catch let e as SimError {
                    // As the job controller does: a Warning Event FailedCreate on the Job, and no pod.
                    recordFailedCreate(job, message: "Error creating: \(e.status.message ?? "\(e)")")
                } catch {
                    recordFailedCreate(job, message: "Error creating: \(error)")
                }
            }
        }
        if job["status"] != status {
            _ = try? store.update(type, namespace: ns, name: name, ["metadata": ["name": .string(name)], "status": status], subresource: "status")
        }
    }
}
