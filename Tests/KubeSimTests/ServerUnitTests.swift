import Foundation
import KubeClient
@testable import KubeSim
import Testing

@Suite("KubeSim building blocks", .timeLimit(.minutes(3)))
struct ServerUnitTests {
    @Test("merge patch: objects merge, null deletes, lists replace")
    func mergePatch() {
        let target: JSONValue = ["a": 1, "b": ["c": 2, "d": 3], "l": [1, 2]]
        let patched = Patching.mergePatch(target, ["b": ["c": nil, "e": 4], "l": [9], "n": "new"])
        #expect(patched == ["a": 1, "b": ["d": 3, "e": 4], "l": [9], "n": "new"])
    }

    @Test("JSON patch: add, remove, replace, move, copy, test; failures are reported")
    func jsonPatch() throws {
        let doc: JSONValue = ["spec": ["items": ["a", "b"], "x": 1], "meta": ["k/v": "slash"]]
        let out = try Patching.jsonPatch(doc, [
            ["op": "add", "path": "/spec/items/1", "value": "ins"],
            ["op": "add", "path": "/spec/items/-", "value": "end"],
            ["op": "remove", "path": "/spec/x"],
            ["op": "replace", "path": "/meta/k~1v", "value": "changed"],
            ["op": "copy", "from": "/meta/k~1v", "path": "/spec/copy"],
            ["op": "move", "from": "/spec/copy", "path": "/moved"],
            ["op": "test", "path": "/moved", "value": "changed"],
        ])
        #expect(out == ["spec": ["items": ["a", "ins", "b", "end"]], "meta": ["k/v": "changed"], "moved": "changed"])
        #expect(throws: Patching.PatchError.self) { try Patching.jsonPatch(doc, [["op": "test", "path": "/spec/x", "value": 2]]) }
        #expect(throws: Patching.PatchError.self) { try Patching.jsonPatch(doc, [["op": "remove", "path": "/missing"]]) }
        #expect(throws: Patching.PatchError.self) { try Patching.jsonPatch(doc, [["op": "replace", "path": "/spec/items/9", "value": 1]]) }
    }

    @Test("strategic merge: containers and env merge by name, $patch delete, $setElementOrder, finalizers union")
    func strategicMerge() throws {
        let deployment: JSONValue = [
            "metadata": ["finalizers": ["a"]],
            "spec": ["template": ["spec": ["containers": [
                ["name": "web", "image": "nginx", "env": [["name": "A", "value": "1"], ["name": "B", "value": "2"]]],
                ["name": "side", "image": "busybox"],
            ], "volumes": [["name": "data", "emptyDir": .emptyObject]]]]],
        ]
        let patch: JSONValue = [
            "metadata": ["finalizers": ["b"]],
            "spec": ["template": ["spec": [
                "$setElementOrder/containers": [["name": "side"], ["name": "web"]],
                "containers": [
                    ["name": "web", "env": [["name": "B", "value": "3"], ["name": "C", "value": "4"]]],
                    ["name": "side", "$patch": "delete"],
                ],
                "volumes": [["name": "cache", "emptyDir": .emptyObject]],
            ]]],
        ]
        let out = try Patching.strategicMerge(deployment, patch)
        let containers = out[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        #expect(containers.count == 1)
        #expect(containers[0]["image"] == "nginx")
        #expect(containers[0]["env"] == [["name": "A", "value": "1"], ["name": "B", "value": "3"], ["name": "C", "value": "4"]])
        #expect(out[path: ["spec", "template", "spec", "volumes"]]?.arrayValue?.count == 2)
        #expect(out[path: ["metadata", "finalizers"]] == ["a", "b"])
        let reordered = try Patching.strategicMerge(deployment, ["spec": ["template": ["spec": ["$setElementOrder/containers": [["name": "side"], ["name": "web"]]]]]])
        #expect(reordered[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["side", "web"])
        let primitive = try Patching.strategicMerge(["metadata": ["finalizers": ["a", "b"]]], ["metadata": ["$deleteFromPrimitiveList/finalizers": ["a"]]])
        #expect(primitive[path: ["metadata", "finalizers"]] == ["b"])
    }

    @Test("label selectors: equality, inequality, sets, existence", arguments: [
        ("app=web", true), ("app==web", true), ("app!=web", false), ("app in (web,db)", true),
        ("app notin (web)", false), ("tier", true), ("!tier", false), ("!missing", true),
        ("app=web,tier in (front)", true), ("app=web,tier=back", false), ("", true),
    ])
    func labelSelector(_ text: String, _ expected: Bool) throws {
        #expect(try LabelSelector(parsing: text).matches(["app": "web", "tier": "front"]) == expected)
    }

    @Test("a malformed selector is refused")
    func badSelectors() {
        #expect(throws: (any Error).self) { try LabelSelector(parsing: "app in web") }
        #expect(throws: (any Error).self) { try FieldSelector(parsing: "metadata.name") }
    }

    @Test("field selectors on metadata and nested fields")
    func fieldSelector() throws {
        let pod: JSONValue = ["metadata": ["name": "p1", "namespace": "ns"], "status": ["phase": "Running"]]
        #expect(try FieldSelector(parsing: "metadata.name=p1").matches(pod))
        #expect(try FieldSelector(parsing: "metadata.name=p1,status.phase!=Running").matches(pod) == false)
        #expect(try FieldSelector(parsing: "metadata.namespace==ns").matches(pod))
    }

    @Test("JSONPath for printer columns")
    func jsonPath() throws {
        let obj: JSONValue = [
            "status": ["phase": "Running", "conditions": [["type": "Ready", "status": "True"], ["type": "Degraded", "status": "False"]]],
            "spec": ["items": [["n": 1], ["n": 2]]],
            "metadata": ["annotations": ["ferry.dev/files": "paused"]],
        ]
        #expect(try JSONPath(".status.phase").evaluate(obj) == ["Running"])
        #expect(try JSONPath("{.status.phase}").evaluate(obj) == ["Running"])
        #expect(try JSONPath(#".status.conditions[?(@.type=="Degraded")].status"#).evaluate(obj) == ["False"])
        #expect(try JSONPath(".spec.items[*].n").evaluate(obj) == [1, 2])
        #expect(try JSONPath(".spec.items[-1].n").evaluate(obj) == [2])
        #expect(try JSONPath(".metadata.annotations['ferry.dev/files']").evaluate(obj) == ["paused"])
        #expect(try JSONPath(".status.missing").evaluate(obj).isEmpty)
    }

    static let ageCases: [(Double, String)] = [
        (5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"), (40 * 86400, "40d"), (3 * 365 * 86400, "3y"),
    ]

    @Test("ages print like kubectl's", arguments: ageCases)
    func ages(_ seconds: Double, _ text: String) {
        #expect(TableConverter.humanDuration(seconds) == text)
    }

    @Test("no-op writes bump nothing; generation counts spec changes only")
    func noOpWrites() throws {
        let store = ObjectStore()
        let cm = ResourceType.builtins.first { $0.plural == "configmaps" }!
        let created = try store.create(cm, namespace: "default", ["metadata": ["name": "x"], "data": ["a": "1"]])
        let same = try store.update(cm, namespace: "default", name: "x", created)
        #expect(same.resourceVersion == created.resourceVersion)
        let patched = try store.patch(cm, namespace: "default", name: "x", patch: ["metadata": ["labels": ["l": "1"]]], contentType: "application/merge-patch+json")
        #expect(patched[path: ["metadata", "generation"]] == 1)
        let changed = try store.patch(cm, namespace: "default", name: "x", patch: ["data": ["a": "2"]], contentType: "application/merge-patch+json")
        #expect(changed[path: ["metadata", "generation"]] == 2)
        #expect(Int(changed.resourceVersion!)! > Int(patched.resourceVersion!)!)
    }

    @Test("a namespace that does not exist refuses new objects")
    func missingNamespace() {
        let store = ObjectStore()
        let cm = ResourceType.builtins.first { $0.plural == "configmaps" }!
        #expect(throws: SimError.self) { try store.create(cm, namespace: "nowhere", ["metadata": ["name": "x"]]) }
    }
}

@Suite("Pod runner path mapping", .timeLimit(.minutes(1)))
struct PodPathMappingTests {
    @Test("a mount path is replaced once, longest first; a claim folder under /tmp is not mapped again by a /tmp emptyDir")
    func onePass() {
        let mounts = [("/package", "/tmp/kubesim-x/volumes/default/backup"), ("/tmp", "/tmp/kubesim-x/pods/p/volumes/tmp"), ("/targets/a", "/srv/a")]
        #expect(PodRunner.mapPaths("--package /package/mysql", mounts) == "--package /tmp/kubesim-x/volumes/default/backup/mysql")
        #expect(PodRunner.mapPaths("/tmp", mounts) == "/tmp/kubesim-x/pods/p/volumes/tmp")
        #expect(PodRunner.mapPaths("/tmpfile /packages x=/targets/a:/tmp/y", mounts) == "/tmpfile /packages x=/srv/a:/tmp/kubesim-x/pods/p/volumes/tmp/y")
    }
}
