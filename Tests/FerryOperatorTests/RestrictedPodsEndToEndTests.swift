import FerryAPI
@testable import FerryOperator
import Foundation
import KubeClient
import TestSupport
import Testing

/// PodSecurity `restricted`, as a hardened cluster enforces it: KubeSim's
/// admission refuses what the profile forbids, Ferry's pods pass it, and a
/// refused step pod is reported at once instead of waiting forever.
@Suite("Restricted pods (kubectl, KubeSim admission)", .serialized, .timeLimit(.minutes(3)))
struct RestrictedPodsEndToEndTests {
    @Test("KubeSim's admission refuses a pod that breaks restricted, naming each rule as the API server does; Ferry's step pod spec passes")
    func admission() async throws {
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("label", "namespace", "default", "pod-security.kubernetes.io/enforce=restricted").status == 0)
            let plain = """
                apiVersion: v1
                kind: Pod
                metadata: {name: plain}
                spec:
                  containers: [{name: c, image: busybox, command: [sleep, "1"]}]
                  volumes: [{name: h, hostPath: {path: /srv}}]
                """
            let refused = try await env.kubectl("apply", "-f", "-", input: plain)
            #expect(refused.status != 0)
            for part in ["pods \"plain\" is forbidden: violates PodSecurity \"restricted:latest\"", "allowPrivilegeEscalation != false (container \"c\"",
                         "unrestricted capabilities", "runAsNonRoot != true", "seccompProfile", "restricted volume types (volume \"h\" uses restricted volume type \"hostPath\")"] {
                #expect(refused.stderr.contains(part), "\(part): \(refused.stderr)")
            }
            var podSpec: JSONValue = ["restartPolicy": "Never", "containers": [["name": "step", "image": "ferry:test", "command": ["/bin/true"]]], "volumes": []]
            RestrictedPod.apply(to: &podSpec)
            let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "ferry-like"], "spec": podSpec]
            let admitted = try await env.kubectl("apply", "-f", "-", input: String(decoding: JSONWire.serialize(pod), as: UTF8.self))
            #expect(admitted.status == 0, "\(admitted.combined)")
            // The gateway's pod (spec.files[].fallback) passes too: its template, as the Deployment would create it.
            var spec = MigrationSpec(package: PackageSource(persistentVolumeClaim: "backup"), appVersion: "6.4.1")
            spec.files = [FileMapping(name: "images", from: "files", to: .init(s3: S3Spec(endpoint: "https://s3.example", bucket: "imgs", credentialsSecret: "s3", caSecret: "ca")), fallback: true)]
            var owner = Migration(metadata: ObjectMeta(name: "m", namespace: "default"), spec: spec)
            owner.metadata.uid = "u-1"
            let template = try #require(Gateway.deployment(owner, spec: spec, settings: StepSettings())?[path: ["spec", "template", "spec"]])
            let gatewayPod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "gateway-like"], "spec": template]
            let gateway = try await env.kubectl("apply", "-f", "-", input: String(decoding: JSONWire.serialize(gatewayPod), as: UTF8.self))
            #expect(gateway.status == 0, "\(gateway.combined)")
        }
    }

    @Test("a hostPath package in a restricted namespace: the validate Job's pod is refused; the step fails at once with admission's reason and how to fix it; nothing was stopped")
    func refusedStepPod() async throws {
        let servers = try await TestServers.shared()
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            try await RestoreEndToEndTests.createSecrets(env, servers)
            #expect(try await env.applyApp(partOf: "e2e").status == 0)
            #expect(try await eventually(timeout: 30) { try await env.jsonpath("deployment/web", ".status.readyReplicas") == "1" })
            #expect(try await env.kubectl("label", "namespace", "default", "pod-security.kubernetes.io/enforce=restricted").status == 0)
            let controller = try ControllerProcess.runningSteps(env, name: "restricted")
            defer { controller.terminateNow() }
            let package = try makeTempDir("restricted-package")
            let migration = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: hardened, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  workloads: {selector: {matchLabels: {app.kubernetes.io/part-of: e2e}}}
                  mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), credentialsSecret: mysql-root}
                """
            #expect(try await env.kubectl("apply", "-f", "-", input: migration).status == 0)
            let failed = try await eventually(timeout: 30, interval: 0.3) { try await env.jsonpath("migration/hardened", ".status.phase") == "Failed" }
            #expect(failed, "\(controller.log.suffix(2000))")
            let message = try await env.jsonpath("migration/hardened", ".status.message")
            #expect(message.contains("validate failed: the step's pod cannot be created") && message.contains("violates PodSecurity \"restricted:latest\"") && message.contains("hostPath"), "\(message)")
            #expect(try await env.jsonpath("migration/hardened", #".status.steps[?(@.name=="validate")].attempts"#) == "1", "not retried")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "1", "nothing was stopped")
            let events = try await env.kubectl("get", "events", "--field-selector", "reason=FailedCreate", "-o", "name").stdout
            #expect(!events.isEmpty, "the Job's FailedCreate event is there for kubectl describe job")
        }
    }
}
