import FerryAPI
import FerryOperator
import Foundation
import KubeClient
import TestSupport
import Testing

/// kubectl as another user (a kubeconfig of its own).
struct Reader {
    var kubeconfig: String
    var home: String
    func kubectl(_ args: String..., input: String? = nil) async throws -> CommandResult {
        try await runCommand("kubectl", args, environment: ["KUBECONFIG": kubeconfig, "HOME": home], input: input)
    }
}

/// The controller with exactly the RBAC of manifests/rbac.yaml, as its own
/// ServiceAccount, against KubeSim enforcing RBAC: a whole migration works;
/// a trimmed ClusterRole's denial is reported in status.
@Suite("Least privilege end to end (KubeSim enforcing RBAC)", .serialized, .timeLimit(.minutes(4)))
struct LeastPrivilegeEndToEndTests {
    static func controller(_ env: KubectlEnv, _ name: String) throws -> ControllerProcess {
        let token = try #require(env.fixture.server.serviceAccountToken(namespace: "ferry-system", name: "ferry-controller"))
        let kubeconfig = try env.fixture.server.writeKubeconfig(to: try makeTempDir("sa-kubeconfig") + "/config", auth: .token(token), namespace: "ferry-system")
        return try ControllerProcess(kubeconfig: kubeconfig, name: name, extra: [
            "--step-command", repoRoot + "/.build/debug/ferry", "--step-image", "ferry:test", "--step-retry-delay", "0.3", "--step-poll", "0.3",
        ])
    }

    @Test("KubeSim denies a service account what no binding grants, in kubectl's words, and refuses a Role that grants more than its creator holds")
    func enforcement() async throws {
        try await KubectlEnv.with(tls: true) { env in
            let token = try #require(env.fixture.server.serviceAccountToken(namespace: "default", name: "reader"))
            let config = try env.fixture.server.writeKubeconfig(to: try makeTempDir("reader") + "/config", auth: .token(token), namespace: "default")
            let reader = Reader(kubeconfig: config, home: env.home)
            let denied = try await reader.kubectl("get", "pods")
            #expect(denied.status != 0)
            #expect(denied.stderr.contains("pods is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""), "\(denied.stderr)")
            let grant = """
                apiVersion: rbac.authorization.k8s.io/v1
                kind: Role
                metadata: {name: pod-reader}
                rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
                ---
                apiVersion: rbac.authorization.k8s.io/v1
                kind: RoleBinding
                metadata: {name: reader}
                roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
                subjects: [{kind: ServiceAccount, name: reader, namespace: default}]
                """
            #expect(try await env.kubectl("apply", "-f", "-", input: grant).status == 0)
            #expect(try await reader.kubectl("get", "pods").status == 0)
            let secret = try await reader.kubectl("get", "secret", "x")
            #expect(secret.stderr.contains("secrets \"x\" is forbidden: User \"system:serviceaccount:default:reader\" cannot get resource \"secrets\""), "\(secret.stderr)")
            let escalate = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: more}\nrules: [{apiGroups: [\"\"], resources: [secrets], verbs: [get]}]\n"
            // The reader may not create Roles at all; give it that, and it still may not grant what it lacks.
            let roles = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: role-maker}\nrules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [create]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: role-maker}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-maker}\nsubjects: [{kind: ServiceAccount, name: reader, namespace: default}]\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: roles).status == 0)
            let refused = try await reader.kubectl("create", "-f", "-", input: escalate)
            #expect(refused.status != 0 && refused.stderr.contains("is attempting to grant RBAC permissions not currently held") && refused.stderr.contains("Resources:[\"secrets\"]"), "\(refused.stderr)")
            let fine = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: same}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]\n"
            #expect(try await reader.kubectl("create", "-f", "-", input: fine).status == 0, "granting what it holds is fine")
            // A patch is judged by the Role it makes, not by its own text.
            let patchRoles = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: role-patcher}\nrules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [get, patch]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: role-patcher}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-patcher}\nsubjects: [{kind: ServiceAccount, name: reader, namespace: default}]\n"
            #expect(try await env.kubectl("apply", "-f", "-", input: patchRoles).status == 0)
            let widened = try await reader.kubectl("patch", "role", "same", "--type=json", "-p", #"[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}}]"#)
            #expect(widened.status != 0 && widened.stderr.contains("not currently held"), "\(widened.stderr)")
        }
    }

    @Test("with exactly manifests/rbac.yaml, as ServiceAccount ferry-system/ferry-controller: quiesce, a MySQL restore, cache, a ConfigMap rebuild, the file sync and resume all work; a trimmed ClusterRole's denial shows in status")
    func manifestsRBAC() async throws {
        let servers = try await TestServers.shared()
        try await KubectlEnv.with(tls: true) { env in
            for file in ["crd.yaml", "namespace.yaml", "rbac.yaml"] {
                let r = try await env.kubectl("apply", "-f", repoRoot + "/manifests/" + file)
                #expect(r.status == 0, "\(file): \(r.combined)")
            }
            try await RestoreEndToEndTests.makeCluster(env, servers, clickhousePassword: "s3cret pass")
            let db = "rbac_\(UUID().uuidString.prefix(4).lowercased())"
            try await DataSafetyEndToEndTests.makeDatabase(servers, db, rows: 40)
            let sum = try await DataSafetyEndToEndTests.checksum(servers, db)
            let package = try await DataSafetyEndToEndTests.legacyPackage(servers, [db])
            try FileManager.default.createDirectory(atPath: package + "/files/a", withIntermediateDirectories: true)
            try Data("hello".utf8).write(to: URL(fileURLWithPath: package + "/files/a/one.txt"))
            _ = try await RestoreEndToEndTests.sql(servers, "DROP DATABASE `\(db)`;")
            let controller = try Self.controller(env, "rbac")
            defer { controller.terminateNow() }
            let yaml = DataSafetyEndToEndTests.migration("least", package: package, servers, extra: """
                  redis: {host: 127.0.0.1, port: \(servers.redisPort), credentialsSecret: redis-auth}
                  rebuilds:
                  - {name: search, configMap: {name: app-config, key: kilobSyncSchemaHash}}
                  files:
                  - {name: attachments, from: files, to: {persistentVolumeClaim: app-files}}
                """)
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            let done = try await eventually(timeout: 120, interval: 0.5) { try await env.jsonpath("migration/least", ".status.phase") == "Succeeded" }
            let finalYAML = try await env.kubectl("get", "migration", "least", "-o", "yaml").stdout
            #expect(done, "\(finalYAML)\n\(controller.log.suffix(2000))")
            #expect(try await DataSafetyEndToEndTests.checksum(servers, db) == sum)
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2")
            #expect(!controller.log.contains("forbidden"), "no request was refused: \(controller.log.suffix(1500))")

            // Trim one permission: the next quiesce is refused, and the Migration says so.
            let patch = #"[{"op": "replace", "path": "/rules/6/verbs", "value": ["get", "list", "watch"]}]"#
            let rule = try await env.jsonpath("clusterrole/ferry-controller", ".rules[6].resources")
            try #require(rule.contains("deployments"), "rule 6 is the workloads rule: \(rule)")
            #expect(try await env.kubectl("patch", "clusterrole", "ferry-controller", "--type=json", "-p", patch).status == 0)
            let second = DataSafetyEndToEndTests.migration("trimmed", package: package, servers)
            #expect(try await env.kubectl("apply", "-f", "-", input: second).status == 0)
            let reported = try await eventually(timeout: 60, interval: 0.5) {
                try await env.jsonpath("migration/trimmed", #".status.conditions[?(@.type=="Progressing")].reason"#) == "Forbidden"
            }
            let message = try await env.jsonpath("migration/trimmed", ".status.message")
            #expect(reported, "\(message)\n\(controller.log.suffix(1500))")
            #expect(message.contains("cannot patch resource \"deployments\"") && message.contains("ClusterRole"), "\(message)")
            #expect(try await env.jsonpath("deployment/web", ".spec.replicas") == "2", "nothing was stopped")
            _ = try await RestoreEndToEndTests.sql(servers, "DROP DATABASE IF EXISTS `\(db)`;")
        }
    }
}
