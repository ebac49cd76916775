import FerryAPI
import FerrySteps
import Foundation
import KubeClient
import TestSupport
import Testing

/// spec.files with buckets (OpenStack Swift's S3 API; boto3 checks what arrived): the transfer
/// pod gets each side's keys only as a mounted Secret's files.
@Suite("Files to and from buckets end to end (kubectl, KubeSim, Swift s3api)", .serialized, .timeLimit(.minutes(4)))
struct BucketFilesEndToEndTests {
    func secret(_ env: KubectlEnv, _ name: String, _ pairs: [String: String]) async throws {
        // kubectl apply (KubeSim takes JSON, not kubectl create's protobuf).
        let json = try JSONSerialization.data(withJSONObject: ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": name, "namespace": "default"], "stringData": pairs])
        let r = try await env.kubectl("apply", "-f", "-", input: String(decoding: json, as: UTF8.self))
        #expect(r.status == 0, "\(r.combined)")
    }

    @Test("a package folder into a bucket, a bucket into a claim, a bucket into another bucket, in one Migration (the first over TLS signed by the store's own CA, from caSecret): Succeeded; boto3 sees every file under its key, the claim holds every object; the keys reach the pod only as mounted files")
    func pairings() async throws {
        let server = try await SwiftS3.shared()
        let s3 = Boto3(server)
        let id = UUID().uuidString.prefix(6).lowercased()
        let (up, old, copy) = ("up-\(id)", "old-\(id)", "copy-\(id)")
        for b in [up, old, copy] { try await s3.createBucket(b) }
        var published: [String: String] = [:]
        for i in 0..<15 { published["pub/att/\(i % 3)/file \(i) ü.txt"] = "attachment \(i)" }
        try await s3.put(old, published)
        let tls = try await TLSProxy.start(to: server.port)
        defer { tls.stop() }
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let package = try FilesEndToEndTests.makePackage(count: 12)
            let controller = try FilesEndToEndTests.controller(env, "buckets", moverPort: try FilesEndToEndTests.freePort())
            defer { controller.terminateNow() }
            try await secret(env, "s3-creds", ["AWS_ACCESS_KEY_ID": SwiftS3.accessKey, "AWS_SECRET_ACCESS_KEY": SwiftS3.secretKey])
            try await secret(env, "s3-ca", ["ca.crt": try String(contentsOfFile: tls.caFile, encoding: .utf8)])
            let store = "endpoint: \(server.endpoint), credentialsSecret: s3-creds"
            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: buckets, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  files:
                  - {name: publish, from: files, to: {s3: {endpoint: "\(tls.endpoint)", credentialsSecret: s3-creds, caSecret: s3-ca, bucket: \(up), prefix: app/files}}}
                  - {name: mirror, from: {s3: {\(store), bucket: \(old), prefix: pub}}, to: {persistentVolumeClaim: app-files}}
                  - {name: across, from: {s3: {\(store), bucket: \(old), prefix: pub/att}}, to: {s3: {\(store), bucket: \(copy), prefix: att}}}

                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            let succeeded = try await eventually(timeout: 120, interval: 0.3) { try await env.jsonpath("migration/buckets", ".status.phase") == "Succeeded" }
            let shown = try await env.kubectl("get", "migration", "buckets", "-o", "yaml").stdout
            #expect(succeeded, "\(shown)\n\(controller.log.suffix(2000))")
            // The package's files, under the prefix, byte for byte.
            let uploaded = try await s3.contents(up, prefix: "app/files/")
            var local: [String: String] = [:]
            for p in try FileManager.default.subpathsOfDirectory(atPath: package + "/files") where !p.hasSuffix("/") {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: "\(package)/files/\(p)", isDirectory: &isDir), !isDir.boolValue {
                    local["app/files/\(p)"] = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(package)/files/\(p)")), as: UTF8.self)
                }
            }
            #expect(uploaded.count == 12 && uploaded == local, "\(uploaded.keys.sorted().prefix(3)) vs \(local.keys.sorted().prefix(3))\n\(shown)")
            // The published bucket in the claim.
            let claim = env.fixture.server.dataDirectory + "/volumes/default/app-files"
            for (key, text) in published {
                #expect((try? String(contentsOfFile: claim + "/" + key.dropFirst("pub/".count), encoding: .utf8)) == text, "\(key)")
            }
            // Bucket to bucket.
            let copied = try await s3.contents(copy, prefix: "att/")
            #expect(copied.count == 15 && copied["att/1/file 4 ü.txt"] == "attachment 4", "\(copied.keys.sorted())")
            // The keys: mounted Secret files, never in the pod's spec.
            let pod = try await env.kubectl("get", "pods", "-l", "app=data-files-transfer", "-o", "json").stdout
            #expect(!pod.contains(SwiftS3.secretKey) && pod.contains("s3-creds"), "\(pod.prefix(3000))")
            #expect(try await env.jsonpath("migration/buckets", #".status.steps[?(@.name=="files")].result.filesCopied"#) == "42")
        }
    }

    @Test("refused before anything is written, naming the field and the fix: a Secret with the wrong key names; a from that is neither a folder nor {s3}; a to with both a claim and s3; a wrong secret key refused by the store")
    func hostile() async throws {
        let server = try await SwiftS3.shared()
        let s3 = Boto3(server)
        let bucket = "hostile-\(UUID().uuidString.prefix(6).lowercased())"
        try await s3.createBucket(bucket)
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let package = try FilesEndToEndTests.makePackage(count: 3)
            let controller = try FilesEndToEndTests.controller(env, "hostile-buckets", moverPort: try FilesEndToEndTests.freePort())
            defer { controller.terminateNow() }
            try await secret(env, "wrong-names", ["access": SwiftS3.accessKey, "secret": SwiftS3.secretKey])
            try await secret(env, "wrong-secret", ["AWS_ACCESS_KEY_ID": SwiftS3.accessKey, "AWS_SECRET_ACCESS_KEY": "not-the-secret"])
            func migration(_ name: String, _ files: String) -> String {
                """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: \(name), namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  files:
                  - \(files)

                """
            }
            let to = "to: {s3: {endpoint: \(server.endpoint), bucket: \(bucket), prefix: x"
            for (name, files) in [("names", "{name: a, from: files, \(to), credentialsSecret: wrong-names}}}"),
                                  ("shape", "{name: a, from: {path: files}, to: {persistentVolumeClaim: p}}"),
                                  ("both", "{name: a, from: files, to: {persistentVolumeClaim: p, s3: {endpoint: \(server.endpoint), bucket: \(bucket), credentialsSecret: c}}}"),
                                  ("keys", "{name: a, from: files, \(to), credentialsSecret: wrong-secret}}}")] {
                #expect(try await env.kubectl("apply", "-f", "-", input: migration(name, files)).status == 0)
            }
            func failed(_ name: String) async throws -> String {
                _ = try await eventually(timeout: 90, interval: 0.3) { try await env.jsonpath("migration/\(name)", ".status.phase") == "Failed" }
                return try await env.jsonpath("migration/\(name)", ".status.message")
            }
            let names = try await failed("names")
            #expect(names.contains("wrong-names") && names.contains("AWS_ACCESS_KEY_ID") && names.contains("spec.files[0].to.s3.credentialsSecret"), "\(names)")
            let shape = try await failed("shape")
            #expect(shape.contains("spec.files[0].from") && shape.contains("only s3"), "\(shape)")
            let both = try await failed("both")
            #expect(both.contains("spec.files[0].to") && both.contains("exactly one"), "\(both)")
            let keys = try await failed("keys")
            #expect(keys.contains("SignatureDoesNotMatch") || keys.contains("secret key is wrong"), "\(keys)")
            #expect(!keys.contains("not-the-secret"), "the secret is never echoed")
            #expect(try await s3.contents(bucket, prefix: "").isEmpty, "nothing was written")
        }
    }

    @Test("fallback: during a bandwidth-limited copy the application, through the gateway with its own keys, reads 200 random files with the right bytes; its PUT lands on the target only; a deleted file stays deleted after the copy; the gateway killed comes back and loses nothing; status says when the store can be used directly")
    func gatewayUnderCopy() async throws {
        let server = try await SwiftS3.shared()
        let target = "gwe2e-\(UUID().uuidString.prefix(6).lowercased())"
        let direct = Boto3(server)
        try await direct.createBucket(target)
        try await KubectlEnv.with { env in
            #expect(try await env.kubectl("apply", "-f", repoRoot + "/manifests/crd.yaml").status == 0)
            let package = try FilesEndToEndTests.makePackage(count: 150)  // ~15 MB at 300 kB/s: the copy lasts about 50 s
            let controller = try FilesEndToEndTests.controller(env, "gateway", moverPort: try FilesEndToEndTests.freePort())
            defer { controller.terminateNow() }
            try await secret(env, "s3-creds", ["AWS_ACCESS_KEY_ID": SwiftS3.accessKey, "AWS_SECRET_ACCESS_KEY": SwiftS3.secretKey])
            let yaml = """
                apiVersion: ferry.dev/v1alpha1
                kind: Migration
                metadata: {name: fb, namespace: default}
                spec:
                  package: {hostPath: \(package)}
                  appVersion: "6.4.1"
                  files:
                  - {name: images, from: files, fallback: true, to: {s3: {endpoint: "\(server.endpoint)", bucket: \(target), prefix: img, credentialsSecret: s3-creds}}}
                  fileSync: {bandwidth: 300000}

                """
            #expect(try await env.kubectl("apply", "-f", "-", input: yaml).status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.3) { try await !env.jsonpath("migration/fb", ".status.gateway.endpoint").isEmpty })
            let endpoint = try await env.jsonpath("migration/fb", ".status.gateway.endpoint")
            let keysSecret = try await env.jsonpath("migration/fb", ".status.gateway.keysSecret")
            func key(_ k: String) async throws -> String {
                String(decoding: Data(base64Encoded: try await env.jsonpath("secret/\(keysSecret)", ".data.\(k)")) ?? Data(), as: UTF8.self)
            }
            let app = Boto3(endpoint: endpoint, accessKey: try await key("AWS_ACCESS_KEY_ID"), secretKey: try await key("AWS_SECRET_ACCESS_KEY"))
            #expect(try await eventually(timeout: 60, interval: 0.5) { (try? await app.run("s3.head_bucket(Bucket=\"\(target)\")")) != nil }, "the gateway answers")
            // 200 random reads while the copy runs.
            var files: [String] = []
            for p in try FileManager.default.subpathsOfDirectory(atPath: package + "/files") where p.hasSuffix(".bin") { files.append(p) }
            let picks = (0..<200).map { _ in files.randomElement()! }
            let sums = try await app.run("""
                import hashlib
                out = {}
                for k in json.loads(\(String(decoding: try JSONEncoder().encode(Array(Set(picks))), as: UTF8.self).debugDescription)):
                    out[k] = hashlib.sha256(s3.get_object(Bucket="\(target)", Key=k)["Body"].read()).hexdigest()
                print(json.dumps(out))
                """)
            let state = try await env.jsonpath("migration/fb", ".status.phase")
            #expect(state == "Running", "read while the copy ran: \(state)")
            let got = try JSONDecoder().decode([String: String].self, from: Data(sums.utf8))
            var wrong: [String] = []
            for (k, sum) in got {
                if try ManifestBuilder.sha256(of: package + "/files/" + k) != sum { wrong.append(k) }
            }
            #expect(got.count == Set(picks).count && wrong.isEmpty, "every read served with the right bytes: \(wrong.prefix(3))")
            // A write, and a delete of a file the copy has not reached or has.
            _ = try await app.run("s3.put_object(Bucket=\"\(target)\", Key=\"uploads/new.png\", Body=b\"written during the copy\")")
            let gone = files.sorted().last!
            _ = try await app.run("s3.delete_object(Bucket=\"\(target)\", Key=\"\(gone)\")")
            #expect(try await direct.contents(target, prefix: "img/uploads/") == ["img/uploads/new.png": "written during the copy"], "on the target")
            #expect(!FileManager.default.fileExists(atPath: package + "/files/uploads"), "never in the source")
            // The gateway killed: a new one serves again.
            #expect(try await env.kubectl("delete", "pod", "-l", "app=ferry-gateway", "--wait=false").status == 0)
            #expect(try await eventually(timeout: 60, interval: 0.5) {
                (try? await app.run("print(s3.get_object(Bucket=\"\(target)\", Key=\"uploads/new.png\")[\"Body\"].read().decode())"))?.contains("written during") == true
            }, "served again after the restart")
            let succeeded = try await eventually(timeout: 150, interval: 0.5) { try await env.jsonpath("migration/fb", ".status.phase") == "Succeeded" }
            let shown = try await env.kubectl("get", "migration", "fb", "-o", "yaml").stdout
            #expect(succeeded, "\(shown)\n\(controller.log.suffix(2000))")
            #expect(try await env.jsonpath("migration/fb", ".status.gateway.copied") == "true", "\(shown)")
            let all = Set(try await direct.contents(target, prefix: "img/").keys)
            let keys = all.filter { !$0.hasPrefix("img/.ferry-tombstones/") }
            #expect(keys.count == files.count && keys.contains("img/uploads/new.png") && !keys.contains("img/" + gone), "every file but the deleted one, and the upload: \(keys.count)")
            #expect(all.subtracting(keys) == ["img/.ferry-tombstones/" + gone], "the delete's tombstone, and nothing else of the gateway's")
            let after = try await app.run("""
                try:
                    s3.head_object(Bucket="\(target)", Key="\(gone)"); print("found")
                except botocore.exceptions.ClientError as e: print(e.response["Error"]["Code"])
                """)
            #expect(after.contains("404"), "the deleted file stayed deleted: \(after)")
        }
    }
}
