import Foundation
import KubeClient
import KubeSim
import TestSupport
import Testing

/// kubectl 1.32 is the outside judge: every assertion here is on kubectl's own output.
@Suite("kubectl against KubeSim", .timeLimit(.minutes(3)))
struct KubectlTests {
    static let crd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.example.com
        spec:
          group: example.com
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
          versions:
          - name: v1
            served: true
            storage: true
            subresources: {status: {}}
            schema:
              openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
            additionalPrinterColumns:
            - {name: Phase, type: string, jsonPath: .status.phase}
            - {name: Size, type: integer, jsonPath: .spec.size}
            - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
            - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}

        """

    static let widget = """
        apiVersion: example.com/v1
        kind: Widget
        metadata: {name: w1}
        spec: {size: 3}

        """

    struct Kubectl {
        let fixture: SimFixture
        let dir: String

        @discardableResult
        func run(_ args: String..., input: String? = nil, timeout: Double = 30) async throws -> CommandResult {
            try await runCommand("kubectl", args, environment: ["KUBECONFIG": fixture.kubeconfig, "HOME": dir], input: input, timeout: timeout)
        }

        /// Runs and requires success, returning stdout.
        func ok(_ args: String..., input: String? = nil) async throws -> String {
            let r = try await runCommand("kubectl", args, environment: ["KUBECONFIG": fixture.kubeconfig, "HOME": dir], input: input)
            #expect(r.status == 0, "kubectl \(args.joined(separator: " ")) failed: \(r.combined)")
            return r.stdout
        }

        func start(_ args: [String]) throws -> (Process, Pipe) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["kubectl"] + args
            var env = ProcessInfo.processInfo.environment
            env["KUBECONFIG"] = fixture.kubeconfig
            env["HOME"] = dir
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            return (p, out)
        }
    }

    func withKubectl(_ body: (Kubectl) async throws -> Void) async throws {
        let fixture = try await SimFixture.start()
        let k = Kubectl(fixture: fixture, dir: try makeTempDir("kubectl-home"))
        do {
            try await body(k)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    @Test("apply a CRD, wait for Established, apply a custom resource, get shows printer columns")
    func crdAndCustomResource() async throws {
        try await withKubectl { k in
            #expect(try await k.ok("apply", "-f", "-", input: Self.crd).contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"))
            #expect(try await k.ok("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s").contains("condition met"))
            #expect(try await k.ok("apply", "-f", "-", input: Self.widget).contains("widget.example.com/w1 created"))
            #expect(try await k.ok("apply", "-f", "-", input: Self.widget).contains("widget.example.com/w1 unchanged"))
            try await k.ok("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#)
            let table = try await k.ok("get", "widgets")
            let lines = table.split(separator: "\n")
            #expect(lines.count == 2)
            let header = lines[0].split(separator: " ", omittingEmptySubsequences: true)
            #expect(header == ["NAME", "PHASE", "SIZE", "READY", "AGE"])
            let row = lines[1].split(separator: " ", omittingEmptySubsequences: true)
            #expect(Array(row.prefix(4)) == ["w1", "Running", "3", "True"])
            #expect(row.last?.hasSuffix("s") == true)
            // Short name works through discovery.
            #expect(try await k.ok("get", "wd", "w1", "-o", "name") == "widget.example.com/w1\n")
        }
    }

    @Test("get -o yaml shows server-set metadata; generation follows spec only")
    func getYAML() async throws {
        try await withKubectl { k in
            try await k.ok("apply", "-f", "-", input: Self.crd)
            try await k.ok("apply", "-f", "-", input: Self.widget)
            let yaml = try await k.ok("get", "widget", "w1", "-o", "yaml")
            #expect(yaml.contains("uid: "))
            #expect(yaml.contains("creationTimestamp: \"20"))
            #expect(yaml.contains("generation: 1"))
            #expect(yaml.contains("resourceVersion: \""))
            #expect(yaml.contains("namespace: default"))
            try await k.ok("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Done"}}"#)
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.metadata.generation}") == "1")
            try await k.ok("patch", "widget", "w1", "--type=merge", "-p", #"{"spec":{"size":4}}"#)
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.metadata.generation} {.spec.size} {.status.phase}") == "2 4 Done")
            // A write to the main resource ignores .status.
            try await k.ok("patch", "widget", "w1", "--type=merge", "-p", #"{"status":{"phase":"Hacked"}}"#)
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.status.phase}") == "Done")
        }
    }

    @Test("get -w prints later updates")
    func getWatch() async throws {
        try await withKubectl { k in
            try await k.ok("apply", "-f", "-", input: Self.crd)
            try await k.ok("apply", "-f", "-", input: Self.widget)
            let (proc, pipe) = try k.start(["get", "widgets", "-w"])
            try await Task.sleep(nanoseconds: 800_000_000)
            try await k.ok("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Phase2"}}"#)
            try await k.ok("patch", "widget", "w1", "--type=merge", "-p", #"{"spec":{"size":9}}"#)
            try await Task.sleep(nanoseconds: 800_000_000)
            proc.terminate()
            await waitForExit(proc)
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let lines = output.split(separator: "\n")
            #expect(lines.first?.hasPrefix("NAME") == true, "\(output)")
            #expect(lines.contains { $0.contains("Phase2") && $0.contains(" 3 ") }, "\(output)")
            #expect(lines.contains { $0.contains("Phase2") && $0.contains(" 9 ") }, "\(output)")
            #expect(lines.filter { $0.hasPrefix("NAME") }.count == 1, "header printed once: \(output)")
        }
    }

    @Test("annotate, patch --type=merge, patch --type=json, patch --subresource=status")
    func annotateAndPatch() async throws {
        try await withKubectl { k in
            try await k.ok("apply", "-f", "-", input: Self.crd)
            try await k.ok("apply", "-f", "-", input: Self.widget)
            #expect(try await k.ok("annotate", "widget", "w1", "ferry.dev/files=paused").contains("annotated"))
            #expect(try await k.ok("annotate", "widget", "w1", "ferry.dev/files=running", "--overwrite").contains("annotated"))
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.metadata.annotations.ferry\\.dev/files}") == "running")
            let refused = try await k.run("annotate", "widget", "w1", "ferry.dev/files=paused")
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("--overwrite"))
            #expect(try await k.ok("patch", "widget", "w1", "--type=merge", "-p", #"{"spec":{"size":5,"color":"red"}}"#).contains("patched"))
            #expect(try await k.ok("patch", "widget", "w1", "--type=json", "-p", #"[{"op":"replace","path":"/spec/size","value":6},{"op":"remove","path":"/spec/color"}]"#).contains("patched"))
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.spec}") == #"{"size":6}"#)
            #expect(try await k.ok("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Ok"}}"#).contains("patched"))
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.status.phase}") == "Ok")
            // A strategic-merge patch on a custom resource is refused, as the real server does.
            let smp = try await k.run("patch", "widget", "w1", "--type=strategic", "-p", #"{"spec":{"size":1}}"#)
            #expect(smp.status != 0)
            #expect(smp.combined.contains("UnsupportedMediaType") || smp.combined.contains("unknown format") || smp.combined.contains("strategic merge patch"))
            // A no-op patch reports "no change".
            #expect(try await k.ok("patch", "widget", "w1", "--type=merge", "-p", #"{"spec":{"size":6}}"#).contains("no change"))
        }
    }

    @Test("delete waits for a finalizer to be removed")
    func deleteWithFinalizer() async throws {
        try await withKubectl { k in
            try await k.ok("apply", "-f", "-", input: Self.crd)
            try await k.ok("apply", "-f", "-", input: Self.widget)
            try await k.ok("patch", "widget", "w1", "--type=merge", "-p", #"{"metadata":{"finalizers":["example.com/hold"]}}"#)
            let (proc, pipe) = try k.start(["delete", "widget", "w1", "--timeout=180s"])  // long: each kubectl below may take seconds on a loaded box
            try await Task.sleep(nanoseconds: 1_500_000_000)
            #expect(proc.isRunning, "delete must wait while the finalizer is present")
            #expect(try await k.ok("get", "widget", "w1", "-o", "jsonpath={.metadata.deletionTimestamp}").hasPrefix("20"))
            // No new finalizers on a terminating object.
            let add = try await k.run("patch", "widget", "w1", "--type=json", "-p", #"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/other"}]"#)
            #expect(add.status != 0)
            #expect(add.combined.contains("finalizers"))
            try await k.ok("patch", "widget", "w1", "--type=json", "-p", #"[{"op":"remove","path":"/metadata/finalizers"}]"#)
            await waitForExit(proc)
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(proc.terminationStatus == 0, "\(out)")
            #expect(out.contains("\"w1\" deleted"))
            let gone = try await k.run("get", "widget", "w1")
            #expect(gone.status != 0)
            #expect(gone.stderr.contains("NotFound") || gone.stderr.contains("not found"))
        }
    }

    @Test("apply a ConfigMap, a Deployment (strategic merge on containers and env) and a Job")
    func builtinKinds() async throws {
        let manifest = """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cfg}
            data: {k: v}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, labels: {app: web}}
            spec:
              replicas: 2
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - name: web
                    image: nginx
                    env: [{name: A, value: "1"}, {name: B, value: "2"}]
                  - name: side
                    image: busybox
            ---
            apiVersion: batch/v1
            kind: Job
            metadata: {name: j1}
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: [sh, -c, "echo ok"]}]

            """
        try await withKubectl { k in
            let out = try await k.ok("apply", "-f", "-", input: manifest)
            #expect(out.contains("configmap/cfg created"))
            #expect(out.contains("deployment.apps/web created"))
            #expect(out.contains("job.batch/j1 created"))
            let changed = manifest.replacingOccurrences(of: "value: \"2\"", with: "value: \"3\"").replacingOccurrences(of: "image: busybox\n", with: "image: busybox:2\n")
            let out2 = try await k.ok("apply", "-f", "-", input: changed)
            #expect(out2.contains("deployment.apps/web configured"))
            #expect(out2.contains("configmap/cfg unchanged"))
            #expect(try await k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name}") == "web side")
            #expect(try await k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].env[1].value} {.spec.template.spec.containers[1].image}") == "3 busybox:2")
            #expect(try await k.ok("get", "deploy", "web", "-o", "jsonpath={.metadata.generation}") == "2")
            let list = try await k.ok("get", "deploy,cm,job")
            #expect(list.contains("deployment.apps/web"))
            #expect(list.contains("configmap/cfg"))
            #expect(list.contains("job.batch/j1"))
            #expect(try await k.ok("scale", "deploy", "web", "--replicas=0").contains("scaled"))
            #expect(try await k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "0")
            #expect(try await k.ok("get", "deploy", "-l", "app=web", "-o", "name") == "deployment.apps/web\n")
            #expect(try await k.ok("get", "deploy", "-l", "app!=web", "-o", "name") == "")
        }
    }

    @Test("imperative create sends protobuf and gets a clear 415; unknown resource is NotFound")
    func errors() async throws {
        try await withKubectl { k in
            let missing = try await k.run("get", "configmap", "nope")
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("configmaps \"nope\" not found"))
            let bad = try await k.run("apply", "-f", "-", input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n")
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("metadata.name"))
            // Imperative create sends protobuf: KubeSim answers 415, and kubectl says so.
            let proto = try await k.run("create", "configmap", "imperative", "--from-literal=a=b")
            #expect(proto.status != 0)
            #expect(proto.stderr.contains("unknown format") || proto.stderr.contains("UnsupportedMediaType") || proto.stderr.contains("415"), "\(proto.stderr)")
        }
    }
}
