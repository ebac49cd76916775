import Foundation
import KubeClient
import KubeSim
import TestSupport
import Testing

@Suite("KubeSim workloads and pod runner (real processes, through kubectl)", .timeLimit(.minutes(3)))
struct PodRunnerTests {
    func withEnv(_ body: (KubectlEnv) async throws -> Void) async throws {
        try await KubectlEnv.with(body)
    }

    @Test("a Job running sh -c 'echo ok > /dev/termination-log' completes and its message is visible")
    func jobCompletes() async throws {
        try await withEnv { env in
            let r = try await env.kubectl("apply", "-f", "-", input: """
                apiVersion: batch/v1
                kind: Job
                metadata: {name: hello}
                spec:
                  template:
                    spec:
                      restartPolicy: Never
                      containers: [{name: c, image: busybox, command: [sh, -c, "echo ok > /dev/termination-log"]}]

                """)
            #expect(r.status == 0, "\(r.combined)")
            let wait = try await env.kubectl("wait", "--for=condition=Complete", "job/hello", "--timeout=20s")
            #expect(wait.status == 0, "\(wait.combined)")
            #expect(try await env.kubectl("get", "pods", "-l", "job-name=hello", "-o", "jsonpath={.items[0].status.containerStatuses[0].state.terminated.message}").stdout == "ok\n")
            #expect(try await env.jsonpath("job/hello", ".status.succeeded") == "1")
        }
    }

    @Test("kubectl logs shows a running pod's output, --tail cuts it; the client's podLog reads the same")
    func logs() async throws {
        try await withEnv { env in
            let r = try await env.kubectl("apply", "-f", "-", input: """
                apiVersion: v1
                kind: Pod
                metadata: {name: talker}
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: busybox, command: [sh, -c, "echo one; echo two; echo three; sleep 30"]}]
                """)
            #expect(r.status == 0, "\(r.combined)")
            #expect(try await eventually(timeout: 20) { try await env.kubectl("logs", "pod/talker").stdout == "one\ntwo\nthree\n" })
            let tail = try await env.kubectl("logs", "pod/talker", "--tail=1")
            #expect(tail.stdout == "three\n", "\(tail.combined)")
            #expect(try await env.fixture.client.podLog(name: "talker", namespace: "default", tailLines: 2) == "two\nthree\n")
            _ = try await env.kubectl("delete", "pod/talker", "--wait=false")
        }
    }

    @Test("env from a Secret (stringData) and a ConfigMap; a claim shared between pods; a failing Job honours backoffLimit")
    func envVolumesAndFailures() async throws {
        try await withEnv { env in
            let r = try await env.kubectl("apply", "-f", "-", input: """
                apiVersion: v1
                kind: Secret
                metadata: {name: creds}
                stringData: {username: alice}
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: settings}
                data: {mode: fast}
                ---
                apiVersion: batch/v1
                kind: Job
                metadata: {name: writer}
                spec:
                  template:
                    spec:
                      restartPolicy: Never
                      volumes: [{name: data, persistentVolumeClaim: {claimName: shared}}]
                      containers:
                      - name: c
                        image: busybox
                        command: [sh, -c, "echo \\"$USER_NAME:$MODE\\" > /data/out.txt && cp /data/out.txt /dev/termination-log"]
                        env:
                        - {name: USER_NAME, valueFrom: {secretKeyRef: {name: creds, key: username}}}
                        - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
                        volumeMounts: [{name: data, mountPath: /data}]
                ---
                apiVersion: batch/v1
                kind: Job
                metadata: {name: failing}
                spec:
                  backoffLimit: 1
                  template:
                    spec:
                      restartPolicy: Never
                      containers: [{name: c, image: busybox, command: [sh, -c, "exit 3"]}]

                """)
            #expect(r.status == 0, "\(r.combined)")
            #expect(try await env.kubectl("wait", "--for=condition=Complete", "job/writer", "--timeout=20s").status == 0)
            #expect(try await env.kubectl("get", "pods", "-l", "job-name=writer", "-o", "jsonpath={.items[0].status.containerStatuses[0].state.terminated.message}").stdout == "alice:fast\n")
            let r2 = try await env.kubectl("apply", "-f", "-", input: """
                apiVersion: batch/v1
                kind: Job
                metadata: {name: reader}
                spec:
                  template:
                    spec:
                      restartPolicy: Never
                      volumes: [{name: d, persistentVolumeClaim: {claimName: shared}}]
                      containers: [{name: c, image: busybox, command: [sh, -c, "cat /mnt/out.txt > /dev/termination-log"], volumeMounts: [{name: d, mountPath: /mnt}]}]

                """)
            #expect(r2.status == 0)
            #expect(try await env.kubectl("wait", "--for=condition=Complete", "job/reader", "--timeout=20s").status == 0)
            #expect(try await env.kubectl("get", "pods", "-l", "job-name=reader", "-o", "jsonpath={.items[0].status.containerStatuses[0].state.terminated.message}").stdout == "alice:fast\n", "the claim's data is shared")
            #expect(try await env.kubectl("wait", "--for=condition=Failed", "job/failing", "--timeout=20s").status == 0)
            #expect(try await env.jsonpath("job/failing", ".status.failed") == "2", "backoffLimit 1 → two attempts")
            #expect(try await env.kubectl("get", "pods", "-l", "job-name=failing", "-o", "jsonpath={.items[0].status.containerStatuses[0].state.terminated.exitCode}").stdout == "3")
        }
    }

    @Test("a Deployment runs its replicas; deleting a running pod ends its process; scaling to 0 removes pods; a missing command stays Pending with the reason")
    func deploymentAndDeletion() async throws {
        try await withEnv { env in
            let dir = try makeTempDir("pids")
            let r = try await env.kubectl("apply", "-f", "-", input: """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      volumes: [{name: pids, hostPath: {path: \(dir)}}]
                      containers:
                      - name: s
                        image: x
                        command: [sh, -c, "echo $$ > /pids/$HOSTNAME; exec sleep 300"]
                        volumeMounts: [{name: pids, mountPath: /pids}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: nowhere}
                spec:
                  containers: [{name: c, image: x, command: [no-such-program-here]}]

                """)
            #expect(r.status == 0, "\(r.combined)")
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("deploy/web", ".status.readyReplicas") == "2" })
            #expect(try await eventually { (try? FileManager.default.contentsOfDirectory(atPath: dir).count) == 2 })
            let pods = try await env.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").stdout.split(separator: " ").map(String.init)
            #expect(pods.count == 2)
            let victim = pods[0]
            let pidText = try await eventually { ((try? String(contentsOfFile: "\(dir)/\(victim)", encoding: .utf8)) ?? "").hasSuffix("\n") } ? try String(contentsOfFile: "\(dir)/\(victim)", encoding: .utf8) : ""
            let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(pid > 0 && kill(pid, 0) == 0, "the container process runs")
            #expect(try await env.kubectl("delete", "pod", victim).status == 0)
            #expect(try await eventually { kill(pid, 0) != 0 }, "deleting the pod ends its process")
            #expect(try await eventually(timeout: 20) { try await env.jsonpath("deploy/web", ".status.readyReplicas") == "2" }, "the Deployment replaces it")
            #expect(try await env.kubectl("scale", "deploy/web", "--replicas=0").status == 0)
            #expect(try await eventually(timeout: 20) { try await env.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.isEmpty })
            #expect(try await env.jsonpath("pod/nowhere", ".status.phase") == "Pending")
            #expect(try await env.jsonpath("pod/nowhere", ".status.containerStatuses[0].state.waiting.reason") == "CommandNotFound")
        }
    }
}
