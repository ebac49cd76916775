import Foundation
import KubeClient
import KubeSim
import TestSupport
import Testing

@Suite("KubeClient verbs against KubeSim", .timeLimit(.minutes(3)))
struct ClientVerbTests {
    func withSim(_ configure: (inout KubeSimOptions) -> Void = { _ in }, _ body: (SimFixture) async throws -> Void) async throws {
        let f = try await SimFixture.start(configure)
        do { try await body(f) } catch {
            await f.stop()
            throw error
        }
        await f.stop()
    }

    @Test("create, get, list, replace, patch (merge, JSON, strategic), delete — typed and untyped")
    func everyVerb() async throws {
        try await withSim { f in
            let c = f.client
            let created = try await c.create(ConfigMap(metadata: ObjectMeta(name: "one", labels: ["app": "x"]), data: ["a": "1"]))
            #expect(created.metadata.uid != nil)
            #expect(created.metadata.resourceVersion != nil)
            var got = try await c.get(ConfigMap.self, name: "one")
            #expect(got.data == ["a": "1"])
            got.data?["b"] = "2"
            let replaced = try await c.replace(got)
            #expect(replaced.data == ["a": "1", "b": "2"])
            let merged = try await c.patch(ConfigMap.self, name: "one", .merge(["data": ["a": nil, "c": "3"]]))
            #expect(merged.data == ["b": "2", "c": "3"])
            let jsonPatched = try await c.patch(ConfigMap.resource, name: "one", .json([["op": "add", "path": "/data/d", "value": "4"]]))
            #expect(jsonPatched[path: ["data", "d"]] == "4")
            let strategic = try await c.patch(ConfigMap.resource, name: "one", .strategicMerge(["metadata": ["labels": ["tier": "db"]]]))
            #expect(strategic[path: ["metadata", "labels"]] == ["app": "x", "tier": "db"])
            _ = try await c.create(ConfigMap(metadata: ObjectMeta(name: "two", labels: ["app": "y"])))
            let selected = try await c.list(ConfigMap.self, options: ListOptions(labelSelector: "app in (x),tier"))
            #expect(selected.items.map(\.metadata.name) == ["one"])
            let byField = try await c.list(ConfigMap.resource, options: ListOptions(fieldSelector: "metadata.name=two"))
            #expect(byField.items.compactMap(\.name) == ["two"])
            // Cluster-scoped and all-namespaces.
            _ = try await c.create(.namespaces, ["metadata": ["name": "other"]])
            _ = try await c.create(ConfigMap(metadata: ObjectMeta(name: "three")), namespace: "other")
            let everywhere = try await c.list(ConfigMap.resource, namespace: KubeClient.allNamespaces)
            #expect(Set(everywhere.items.compactMap(\.name)) == ["one", "two", "three"])
            let namespaces = try await c.list(.namespaces)
            #expect(Set(namespaces.items.compactMap(\.name)) == ["default", "other"])
            try await c.delete(ConfigMap.self, name: "two")
            await #expect(throws: KubeAPIError.self) { try await c.get(ConfigMap.self, name: "two") }
        }
    }

    @Test("typed errors: NotFound, AlreadyExists, Conflict on a stale PUT, Invalid with causes, UnsupportedMediaType")
    func typedErrors() async throws {
        try await withSim { f in
            let c = f.client
            do {
                _ = try await c.get(ConfigMap.self, name: "missing")
                Issue.record("expected NotFound")
            } catch let e as KubeAPIError {
                guard case .notFound(let s) = e else { Issue.record("got \(e)"); return }
                #expect(s.code == 404)
            }
            let first = try await c.create(ConfigMap(metadata: ObjectMeta(name: "cm"), data: ["v": "1"]))
            do {
                _ = try await c.create(ConfigMap(metadata: ObjectMeta(name: "cm")))
                Issue.record("expected AlreadyExists")
            } catch let e as KubeAPIError { #expect(e.isAlreadyExists) }
            var fresh = first
            fresh.data = ["v": "2"]
            _ = try await c.replace(fresh)
            var stale = first
            stale.data = ["v": "3"]
            do {
                _ = try await c.replace(stale)
                Issue.record("expected Conflict")
            } catch let e as KubeAPIError {
                guard case .conflict = e else { Issue.record("got \(e)"); return }
            }
            #expect(try await c.get(ConfigMap.self, name: "cm").data == ["v": "2"])
            do {
                _ = try await c.create(.configMaps, ["metadata": ["name": "Not_Valid"]])
                Issue.record("expected Invalid")
            } catch let e as KubeAPIError {
                guard case .invalid = e else { Issue.record("got \(e)"); return }
                #expect(e.causes.first?.field == "metadata.name")
            }
            try await KubeSimTestsCRD.install(c)
            _ = try await c.create(KubeSimTestsCRD.widgets, ["metadata": ["name": "w"], "spec": ["size": 1]])
            do {
                _ = try await c.patch(KubeSimTestsCRD.widgets, name: "w", .strategicMerge(["spec": ["size": 2]]))
                Issue.record("expected UnsupportedMediaType")
            } catch let e as KubeAPIError {
                guard case .unsupportedMediaType = e else { Issue.record("got \(e)"); return }
            }
            // Delete preconditions.
            let cm = try await c.get(ConfigMap.self, name: "cm")
            do {
                try await c.delete(ConfigMap.self, name: "cm", options: DeleteOptions(preconditionResourceVersion: "1"))
                Issue.record("expected Conflict")
            } catch let e as KubeAPIError { #expect(e.isConflict) }
            try await c.delete(ConfigMap.self, name: "cm", options: DeleteOptions(propagationPolicy: .background, preconditionUID: cm.metadata.uid))
        }
    }

    @Test("status subresource: get, replace, patch change only .status")
    func statusSubresource() async throws {
        try await withSim { f in
            let c = f.client
            try await KubeSimTestsCRD.install(c)
            _ = try await c.create(KubeSimTestsCRD.widgets, ["metadata": ["name": "w"], "spec": ["size": 1], "status": ["phase": "ignored on create"]])
            var obj = try await c.getStatus(KubeSimTestsCRD.widgets, name: "w")
            #expect(obj["status"] == nil)
            obj["status"] = ["phase": "Running"]
            obj["spec"] = ["size": 99]
            let replaced = try await c.replaceStatus(KubeSimTestsCRD.widgets, obj)
            #expect(replaced[path: ["status", "phase"]] == "Running")
            #expect(replaced[path: ["spec", "size"]] == 1)
            let patched = try await c.patchStatus(KubeSimTestsCRD.widgets, name: "w", .merge(["status": ["ready": true]]))
            #expect(patched["status"] == ["phase": "Running", "ready": true])
            #expect(patched[path: ["metadata", "generation"]] == 1)
            // Stale status write → Conflict.
            var stale = obj
            stale["status"] = ["phase": "Old"]
            await #expect(throws: KubeAPIError.self) { _ = try await c.replaceStatus(KubeSimTestsCRD.widgets, stale) }
        }
    }

    @Test("pagination over 1,000 objects with limit/continue")
    func pagination() async throws {
        try await withSim { f in
            let c = f.client
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in 0..<10 {
                    group.addTask {
                        for i in 0..<100 {
                            _ = try await c.create(.configMaps, ["metadata": ["name": .string("cm-\(batch)-\(i)")]])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let first = try await c.list(.configMaps, options: ListOptions(limit: 300))
            #expect(first.items.count == 300)
            #expect(first.continueToken != nil)
            let all = try await c.listAll(.configMaps, pageSize: 300)
            #expect(all.items.count == 1000)
            #expect(Set(all.items.compactMap(\.name)).count == 1000)
            #expect(all.resourceVersion == first.resourceVersion)
        }
    }

    @Test("garbage collection: dependents of a deleted owner go away; Orphan keeps them")
    func garbageCollection() async throws {
        try await withSim { f in
            let c = f.client
            let owner = try await c.create(.configMaps, ["metadata": ["name": "owner"]])
            let ref: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]!["uid"]!, "controller": true]
            _ = try await c.create(.secrets, ["metadata": ["name": "dep", "ownerReferences": [ref]]])
            try await c.delete(.configMaps, name: "owner")
            #expect(try await eventually { (try? await c.get(.secrets, name: "dep")) == nil })
            let owner2 = try await c.create(.configMaps, ["metadata": ["name": "owner2"]])
            let ref2: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner2["metadata"]!["uid"]!, "controller": true]
            _ = try await c.create(.secrets, ["metadata": ["name": "dep2", "ownerReferences": [ref2]]])
            try await c.delete(.configMaps, name: "owner2", options: DeleteOptions(propagationPolicy: .orphan))
            try await Task.sleep(nanoseconds: 300_000_000)
            let kept = try await c.get(.secrets, name: "dep2")
            #expect(kept[path: ["metadata", "ownerReferences"]] == nil)
        }
    }
}

/// A small CRD used by several tests.
enum KubeSimTestsCRD {
    static let widgets = ResourceDescriptor(group: "example.com", version: "v1", plural: "widgets", kind: "Widget", namespaced: true)

    static func install(_ c: KubeClient) async throws {
        _ = try await c.create(.customResourceDefinitions, [
            "metadata": ["name": "widgets.example.com"],
            "spec": [
                "group": "example.com", "scope": "Namespaced",
                "names": ["plural": "widgets", "singular": "widget", "kind": "Widget"],
                "versions": [["name": "v1", "served": true, "storage": true, "subresources": ["status": .emptyObject], "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]],
            ],
        ])
    }
}
