import Foundation
import KubeClient
import KubeSim
import ProcessSpawn
import TestSupport
import Testing

/// KubeSim keeps telling the truth: state survives a SIGKILL, and it refuses
/// what the real API server and kubelet refuse, in their words.
@Suite("KubeSim faithfulness", .serialized, .timeLimit(.minutes(3)))
struct FaithfulnessTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    @Test("objects written before a SIGKILL of the server are there after it starts again on the same folder")
    func crashSafe() async throws {
        let dir = try makeTempDir("kubesim-crash")
        func start() throws -> pid_t {
            try? FileManager.default.removeItem(atPath: dir + "/kubeconfig")
            return try ProcessSpawn.spawn(Self.ferry, ["sandbox", "api", "--data-dir", dir, "--no-workloads"], environment: ["PATH": "/usr/bin:/bin"],
                                          fileActions: [.open(1, path: "/dev/null", flags: O_WRONLY, mode: 0), .open(2, path: dir + "/server.err", flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)])
        }
        func kubectl(_ args: String..., input: String? = nil) async throws -> CommandResult {
            try await runCommand("kubectl", args, environment: ["KUBECONFIG": dir + "/kubeconfig", "HOME": dir], input: input)
        }
        var pid = try start()
        #expect(try await eventually(timeout: 30, interval: 0.1) { (try? await kubectl("get", "namespaces").status) == 0 })
        for i in 0..<20 {
            #expect(try await kubectl("apply", "-f", "-", input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-\(i)}\ndata: {i: \"\(i)\"}\n").status == 0)
        }
        #expect(try await kubectl("delete", "configmap", "cm-3").status == 0)
        kill(pid, SIGKILL)
        _ = ProcessSpawn.waitStatus(pid)
        pid = try start()
        defer {
            kill(pid, SIGTERM)
            _ = ProcessSpawn.waitStatus(pid)
        }
        #expect(try await eventually(timeout: 30, interval: 0.1) { (try? await kubectl("get", "namespaces").status) == 0 })
        let names = try await kubectl("get", "configmaps", "-o", "name").stdout.split(separator: "\n").map(String.init)
        #expect(names.count == 19 && names.contains("configmap/cm-19") && !names.contains("configmap/cm-3"), "\(names)")
        #expect(try await kubectl("get", "configmap", "cm-7", "-o", "jsonpath={.data.i}").stdout == "7")
    }

    @Test("refused as the API server refuses: a label value over 63 characters, a Job or a Pod without containers")
    func validation() async throws {
        try await KubectlEnv.with { env in
            let long = String(repeating: "a", count: 64)
            let label = try await env.kubectl("apply", "-f", "-", input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: {step: \(long)}}\n")
            #expect(label.status != 0 && label.stderr.contains("metadata.labels: Invalid value: \"\(long)\": must be no more than 63 characters"), "\(label.stderr)")
            let job = try await env.kubectl("apply", "-f", "-", input: "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: {spec: {restartPolicy: Never, containers: []}}}\n")
            #expect(job.status != 0 && job.stderr.contains("spec.template.spec.containers: Required value"), "\(job.stderr)")
            let pod = try await env.kubectl("apply", "-f", "-", input: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
            #expect(pod.status != 0 && pod.stderr.contains("spec.containers: Required value"), "\(pod.stderr)")
            let ok = try await env.kubectl("apply", "-f", "-", input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine, labels: {step: \(String(long.dropLast()))}}\n")
            #expect(ok.status == 0, "\(ok.stderr)")
        }
    }

    @Test("hostPath folders are made only for type DirectoryOrCreate; a missing Directory keeps the pod from starting")
    func hostPathTypes() async throws {
        try await KubectlEnv.with { env in
            let base = try makeTempDir("hostpath")
            let pod = { (name: String, type: String) in
                """
                apiVersion: v1
                kind: Pod
                metadata: {name: \(name)}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: [/bin/true], volumeMounts: [{name: v, mountPath: /v}]}]
                  volumes: [{name: v, hostPath: {path: \(base)/\(name), type: \(type)}}]
                """
            }
            #expect(try await env.kubectl("apply", "-f", "-", input: pod("made", "DirectoryOrCreate")).status == 0)
            #expect(try await env.kubectl("apply", "-f", "-", input: pod("missing", "Directory")).status == 0)
            #expect(try await eventually(timeout: 30) { try await env.jsonpath("pod/made", ".status.phase") == "Succeeded" })
            #expect(FileManager.default.fileExists(atPath: base + "/made"))
            #expect(try await eventually(timeout: 30) { try await env.jsonpath("pod/missing", ".status.containerStatuses[0].state.waiting.message").contains("hostPath type check failed") })
            #expect(!FileManager.default.fileExists(atPath: base + "/missing"), "not created")
        }
    }
}
