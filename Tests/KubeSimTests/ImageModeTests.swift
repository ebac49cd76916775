import Foundation
import KubeClient
@testable import KubeSim
import TestSupport
import Testing

/// The image `make image` built, named by FERRY_TEST_IMAGE (e.g. ferry/ferry:0.1.0; CI sets it
/// after building the image). Nil: the suites that need it are left out.
let testImage = ProcessInfo.processInfo.environment["FERRY_TEST_IMAGE"].flatMap { $0.isEmpty ? nil : $0 }

/// A pod spec's security as Ferry's step pods wear it (RestrictedPod): uid/gid 65532, fsGroup,
/// a read-only root, an emptyDir at /tmp.
func restrictedPod(_ name: String, image: String, command: [String], volumes: String = "", mounts: String = "", env: String = "") -> String {
    let commandJSON = String(decoding: try! JSONSerialization.data(withJSONObject: command, options: [.withoutEscapingSlashes]), as: UTF8.self)
    return """
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name)}
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
          volumes: [{name: tmp, emptyDir: {}}\(volumes)]
          containers:
          - name: main
            image: \(image)
            command: \(commandJSON)
            env: [{name: TMPDIR, value: /tmp}\(env)]
            securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: [ALL]}}
            volumeMounts: [{name: tmp, mountPath: /tmp}\(mounts)]

        """
}

@Suite("KubeSim image mode: what needs no image", .timeLimit(.minutes(2)))
struct ImageModeUnitTests {
    @Test("--image flags: NAME=REF, or a clear error naming the form")
    func flags() throws {
        #expect(try ImageStore.parse(["ferry:demo=oci-archive:/x/ferry.oci.tar", "a/b:1=localhost/a/b:1"]) == ["ferry:demo": "oci-archive:/x/ferry.oci.tar", "a/b:1": "localhost/a/b:1"])
        for bad in ["ferry:demo", "=x", "ferry:demo="] {
            #expect(throws: SimError.self) { try ImageStore.parse([bad]) }
        }
    }

    @Test("the user: runAsUser/runAsGroup over the image's USER (numeric or a name in its /etc/passwd); an unknown name is refused")
    func identity() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65533::/home/nonroot:/sbin/nologin\n"
        #expect(ContainerSandbox.identity(runAsUser: nil, runAsGroup: nil, imageUser: "65532:65532", passwd: "") ?? (-1, -1) == (65532, 65532))
        #expect(ContainerSandbox.identity(runAsUser: 1000, runAsGroup: nil, imageUser: "65532:65532", passwd: "") ?? (-1, -1) == (1000, 65532))
        #expect(ContainerSandbox.identity(runAsUser: nil, runAsGroup: nil, imageUser: "nonroot", passwd: passwd) ?? (-1, -1) == (65532, 65533))
        #expect(ContainerSandbox.identity(runAsUser: nil, runAsGroup: nil, imageUser: "", passwd: passwd) ?? (-1, -1) == (0, 0))
        #expect(ContainerSandbox.identity(runAsUser: nil, runAsGroup: nil, imageUser: "ghost", passwd: passwd) == nil)
        #expect(ContainerSandbox.identity(runAsUser: nil, runAsGroup: nil, imageUser: "65532:staff", passwd: passwd) == nil)
    }

    @Test("command and args against the image's entrypoint and cmd, as Kubernetes combines them")
    func command() {
        let image = ImageStore.Image(rootfs: "/", user: "", entrypoint: ["/usr/local/bin/ferry"], cmd: ["controller"], env: [], workingDir: "")
        #expect(PodRunner.containerCommand(command: [], args: [], image: image) == ["/usr/local/bin/ferry", "controller"])
        #expect(PodRunner.containerCommand(command: [], args: ["version"], image: image) == ["/usr/local/bin/ferry", "version"])
        #expect(PodRunner.containerCommand(command: ["mariadb"], args: [], image: image) == ["mariadb"])
        #expect(PodRunner.containerCommand(command: ["mariadb"], args: ["--version"], image: image) == ["mariadb", "--version"])
    }

    @Test("the sandbox script quotes every path, mounts volumes before the root goes read-only, and drops to the pod's user last")
    func script() {
        let s = ContainerSandbox(rootfs: "/var/lib/x/merged", stateDirectory: "/data/pod's dir", uid: 65532, gid: 65532, supplementalGroups: [65532],
                                 readOnlyRoot: true, mounts: [.init(source: "/host/a b", target: "/data", readOnly: true), .init(source: "/host/t", target: "/dev/termination-log", file: true)])
        let text = s.script()
        #expect(text.contains("'/data/pod'\\''s dir/merged'"), "a quote in a path is escaped")
        let bind = text.range(of: "mount --bind '/host/a b'")!.lowerBound, ro = text.range(of: "mount -o remount,ro '")!.lowerBound, exec = text.range(of: "exec chroot --userspec=65532:65532 --groups=65532")!.lowerBound
        #expect(bind < ro && ro < exec)
        #expect(text.contains("mount -o remount,bind,ro '/data/pod'\\''s dir/merged''/data'"))
        #expect(s.launch(["ferry", "version"]).args.suffix(2) == ["ferry", "version"])
    }

    @Test("mount targets follow the container's links inside its root: /var/run → /run, relative links, .. stopping at the root, a loop refused")
    func containerPaths() throws {
        let links = ["/var/run": "/run", "/a/b": "../c", "/up": "../../../../etc", "/l1": "/l2", "/l2": "/l1", "/etc/hosts": "/tmp/../../host-file", "/vol/escape": "/"]
        func resolve(_ p: String) throws -> String { try ContainerPath.resolve(p) { links[$0] } }
        #expect(try resolve("/var/run/secrets/kubernetes.io/serviceaccount") == "/run/secrets/kubernetes.io/serviceaccount")
        #expect(try resolve("/a/b/d") == "/c/d")
        #expect(try resolve("/up/passwd") == "/etc/passwd", ".. never climbs above the container's root")
        #expect(try resolve("/etc/hosts") == "/host-file")
        #expect(try resolve("/vol/escape/x") == "/x")
        #expect(try resolve("/./data//sub/") == "/data/sub")
        #expect(throws: ContainerPath.TooManyLinks.self) { try resolve("/l1/x") }
        // A path inside a volume is looked up in the volume's source, else in the image's tree.
        #expect(ContainerPath.host("/data/sub", rootfs: "/img", mounts: [(target: "/data", source: "/host/claim")]) == "/host/claim/sub")
        #expect(ContainerPath.host("/database", rootfs: "/img", mounts: [(target: "/data", source: "/host/claim")]) == "/img/database")
        #expect(ContainerPath.host("/data", rootfs: "/img", mounts: [(target: "/data", source: "/host/claim"), (target: "/", source: "/x")]) == "/host/claim")
    }

    @Test("a hostile image tree: absolute links in the image or in a volume land inside the container, never on the host's /run, /etc or /tmp")
    func hostileImageTree() throws {
        let root = try makeTempDir("hostile-image")
        let claim = try makeTempDir("hostile-claim")
        for dir in ["var", "etc", "usr"] { try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true) }
        try FileManager.default.createSymbolicLink(atPath: root + "/var/run", withDestinationPath: "/run")
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/hosts", withDestinationPath: "/tmp/kubesim-victim")
        try FileManager.default.createSymbolicLink(atPath: root + "/usr/share", withDestinationPath: "../../../../../../etc")
        try FileManager.default.createSymbolicLink(atPath: claim + "/inner", withDestinationPath: "/etc/cron.d")
        let sandbox = ContainerSandbox(rootfs: root, stateDirectory: root + "-state", uid: 65532, gid: 65532, readOnlyRoot: true, mounts: [
            .init(source: "/host/sa", target: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true),
            .init(source: "/host/hosts", target: "/etc/hosts", file: true),
            .init(source: "/host/claim", target: "/usr/share/data"),
            .init(source: claim, target: "/data"),
            .init(source: "/host/cache", target: "/data/inner/cache"),
        ])
        let targets = try sandbox.resolvingTargets().mounts.map(\.target)
        #expect(targets.count == 5)
        #expect(targets.contains("/run/secrets/kubernetes.io/serviceaccount"))
        #expect(targets.contains("/tmp/kubesim-victim"), "the image's own /tmp, under the container's root")
        #expect(targets.contains("/etc/data"))
        #expect(targets.contains("/etc/cron.d/cache"), "a link inside a volume resolves inside the container too")
        let script = try sandbox.resolvingTargets().script()
        #expect(!script.contains("/var/run/"), "\(script)")
        #expect(script.contains("mkdir -p '\(root)-state/merged''/run/secrets/kubernetes.io/serviceaccount'"), "\(script)")
    }

    @Test("a link planted in a volume where another mount's target lies is seen, whichever order the targets resolve in")
    func plantedInVolume() throws {
        let root = try makeTempDir("planted-image"), claim = try makeTempDir("planted-claim")
        try FileManager.default.createDirectory(atPath: root + "/var", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/var/run", withDestinationPath: "/run")
        // An earlier pod (the claim is 0777) left t → /etc/nologin; the claim goes at /var/run/aaaaaaaa
        // (17 characters, /run/aaaaaaaa once resolved), the termination file at /run/aaaaaaaa/t (15).
        try FileManager.default.createSymbolicLink(atPath: claim + "/t", withDestinationPath: "/etc/nologin")
        let sandbox = ContainerSandbox(rootfs: root, stateDirectory: root + "-state", uid: 65532, gid: 65532, readOnlyRoot: false, mounts: [
            .init(source: claim, target: "/var/run/aaaaaaaa"),
            .init(source: "/host/termination", target: "/run/aaaaaaaa/t", file: true),
        ])
        let targets = try sandbox.resolvingTargets().mounts.map(\.target)
        #expect(targets == ["/run/aaaaaaaa", "/etc/nologin"], "the container's /etc/nologin, not the host's")
    }

    @Test("the script's own check: a target reached through a link is refused on the spot (a link swapped in after the resolution), a plain one passes")
    func insideCheck() async throws {
        let root = try makeTempDir("inside-check")
        try FileManager.default.createDirectory(atPath: root + "/data/plain", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/data/swapped", withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "/nonexistent-\(UUID().uuidString)")
        let script = ContainerSandbox(rootfs: "/", stateDirectory: "/x", uid: 1, gid: 1, readOnlyRoot: false, mounts: []).script()
        let inside = try #require(script.split(separator: "\n").first { $0.hasPrefix("inside() {") })
        func check(_ path: String) async throws -> CommandResult {
            try await runCommand("/bin/sh", ["-c", "root=\(ContainerSandbox.quote(root)); \(inside); inside \(ContainerSandbox.quote(path)); echo ok"])
        }
        #expect(try await check("/data/plain/new/dir").stdout == "ok\n")
        let swapped = try await check("/data/swapped/cron.d")
        #expect(swapped.status != 0 && swapped.stderr.contains("/data/swapped/cron.d in the container passes through a symbolic link"), "\(swapped.combined)")
        #expect(try await check("/dangling").status != 0)
        #expect(script.contains("inside /proc; inside /dev; inside /tmp"))
    }

    @Test("subPath: absolute or '..' is refused as the API server does; a link inside the volume stays inside it")
    func subPaths() throws {
        let volume = try makeTempDir("subpath-volume")
        try FileManager.default.createSymbolicLink(atPath: volume + "/x", withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: volume + "/up", withDestinationPath: "../../..")
        #expect(try ContainerPath.subPath("logs/app", in: volume) == volume + "/logs/app")
        #expect(try ContainerPath.subPath("x", in: volume) == volume + "/etc")
        #expect(try ContainerPath.subPath("up/etc", in: volume) == volume + "/etc")
        for bad in ["/etc", "../x", "a/../../b"] {
            #expect(throws: ContainerSandbox.ConfigError.self) { try ContainerPath.subPath(bad, in: volume) }
        }
    }

    @Test("a restarted container starts from a fresh writable layer")
    func freshLayer() throws {
        let state = try makeTempDir("fresh-layer")
        let sandbox = ContainerSandbox(rootfs: "/", stateDirectory: state, uid: 1, gid: 1, readOnlyRoot: false, mounts: [])
        try sandbox.prepare()
        try FileManager.default.createSymbolicLink(atPath: state + "/upper/etc", withDestinationPath: "/tmp")
        try sandbox.prepare()
        #expect((try? FileManager.default.contentsOfDirectory(atPath: state + "/upper")) == [])
    }

    @Test("an image KubeSim cannot resolve: the pod waits in ErrImagePull naming the image, as a cluster shows it")
    func unresolvable() async throws {
        try await KubectlEnv.with(images: ["ferry/missing:1": "oci-archive:/nonexistent/ferry.oci.tar", "ferry/gone:1": "localhost/ferry/no-such-image:1"]) { env in
            try await Self.checkUnresolvable(env)
        }
    }

    static func checkUnresolvable(_ env: KubectlEnv) async throws {
        for (pod, image) in [("missing", "ferry/missing:1"), ("gone", "ferry/gone:1")] {
            let r = try await env.kubectl("apply", "-f", "-", input: restrictedPod(pod, image: image, command: ["ferry", "version"]))
            #expect(r.status == 0, "\(r.combined)")
            #expect(try await eventually(timeout: 60) { try await env.jsonpath("pod/\(pod)", ".status.containerStatuses[0].state.waiting.reason") == "ErrImagePull" })
            let message = try await env.jsonpath("pod/\(pod)", ".status.containerStatuses[0].state.waiting.message")
            #expect(message.hasPrefix("Failed to pull image \"\(image)\": "), "\(message)")
            #expect(try await env.kubectl("get", "pod", pod).stdout.contains("ErrImagePull"))
        }
        #expect(try await env.jsonpath("pod/missing", ".status.containerStatuses[0].state.waiting.message").contains("/nonexistent/ferry.oci.tar does not exist"))
    }
}

@Suite("The image, smoke-tested in KubeSim's image mode (FERRY_TEST_IMAGE; make image)", .serialized, .timeLimit(.minutes(6)),
       .enabled(if: testImage != nil, "set FERRY_TEST_IMAGE to the image make image built"))
struct ImageSmokeTests {
    static let ferry = repoRoot + "/.build/debug/ferry"

    static func withImage(_ body: (KubectlEnv) async throws -> Void) async throws {
        try await KubectlEnv.with(tls: true, images: ["ferry/ferry:under-test": testImage ?? ""], body)
    }

    /// Runs a pod to its end; its phase, log and termination message.
    static func run(_ env: KubectlEnv, _ manifest: String, name: String, timeout: Double = 120) async throws -> (phase: String, log: String, message: String) {
        let r = try await env.kubectl("apply", "-f", "-", input: manifest)
        #expect(r.status == 0, "\(r.combined)")
        _ = try await eventually(timeout: timeout) { ["Succeeded", "Failed"].contains(try await env.jsonpath("pod/\(name)", ".status.phase")) }
        let phase = try await env.jsonpath("pod/\(name)", ".status.phase")
        let log = try await env.kubectl("logs", "pod/\(name)").stdout
        let message = try await env.jsonpath("pod/\(name)", ".status.containerStatuses[0].state.terminated.message")
        return (phase, log, message)
    }

    static func sql(_ port: Int, _ statements: String) async throws -> String {
        let r = try await runCommand("/usr/bin/mariadb", ["--no-defaults", "-h127.0.0.1", "-P\(port)", "-uroot", "-N", "-B"], input: statements)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("as 65532 with a read-only root: ferry version, ferry-controller --help and mariadb --version run; the root, /etc and /usr/local/bin refuse writes; /tmp takes them")
    func binaries() async throws {
        try await Self.withImage { env in
            let script = """
                set -e; id -u; id -g; ferry version; ferry-controller --help | head -1; mariadb --version; mariadb-dump --version; zstd --version
                echo "namespace: $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"; test -s /var/run/secrets/kubernetes.io/serviceaccount/token
                for p in /x /etc/x /usr/local/bin/x /var/tmp/x; do if touch $p 2>/dev/null; then echo "wrote $p"; fi; done
                touch /tmp/ok && echo tmp-writable
                """
            let r = try await Self.run(env, restrictedPod("bins", image: "ferry/ferry:under-test", command: ["/bin/sh", "-c", script]), name: "bins")
            #expect(r.phase == "Succeeded", "\(r.log)")
            let lines = r.log.split(separator: "\n").map(String.init)
            #expect(lines.prefix(2) == ["65532", "65532"], "\(r.log)")
            #expect(lines.contains("ferry 0.1.0") || lines.contains { $0.hasPrefix("ferry ") }, "\(r.log)")
            #expect(r.log.contains("OVERVIEW: Run the Migration controller"), "\(r.log)")
            #expect(r.log.contains("mariadb  Ver") && r.log.contains("mariadb-dump  Ver") && r.log.contains("Zstandard"), "\(r.log)")
            #expect(!r.log.contains("wrote "), "nothing outside the volumes is writable: \(r.log)")
            #expect(r.log.contains("tmp-writable"))
            // The service account at the path a cluster uses, through Debian's /var/run → /run link.
            #expect(r.log.contains("namespace: default"), "\(r.log)")
        }
    }

    @Test("the image restores: ferry restore validate on a real package mounted read-only passes, ferry restore mysql restores the database (rows equal), the mover copies a tree into a claim as 65532; a step writing outside its volumes fails naming the path")
    func restores() async throws {
        let servers = try await TestServers.shared()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let db = "img_\(tag)"
        _ = try await Self.sql(servers.mysqlPort, """
            CREATE DATABASE \(db); USE \(db);
            CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), KEY (v)); INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_5000;
            CREATE TABLE u (id INT PRIMARY KEY, b BLOB); INSERT INTO u VALUES (1, 0x00ff0a09), (2, NULL);
            """)
        let dir = try makeTempDir("image-smoke")
        let package = dir + "/pkg"
        try FileManager.default.createDirectory(atPath: dir + "/files/docs/sub", withIntermediateDirectories: true)
        for i in 0..<20 { try Data("file \(i)\n".utf8).write(to: URL(fileURLWithPath: dir + "/files/docs/sub/f\(i).txt")) }
        try """
            output: \(package)
            appVersion: "6.4.1"
            minFreePercent: 1
            mysql: {host: 127.0.0.1, port: \(servers.mysqlPort), user: root, databases: [\(db)]}
            files: [{name: docs, path: \(dir)/files/docs}]
            """.write(toFile: dir + "/export.yaml", atomically: true, encoding: .utf8)
        let export = try await runCommand(Self.ferry, ["export", "--config", dir + "/export.yaml"], environment: ["FERRY_MYSQL_PASSWORD": ""])
        try #require(export.status == 0, "\(export.combined)")
        // Readable by the pod's user, as a package on a node's disk or a claim would be.
        _ = try await runCommand("/bin/chmod", ["-R", "a+rX", dir])

        try await Self.withImage { env in
            let packageVolume = ", {name: package, hostPath: {path: \(package), type: Directory}}"
            let packageMount = ", {name: package, mountPath: /package, readOnly: true}"
            let validate = try await Self.run(env, restrictedPod("validate", image: "ferry/ferry:under-test",
                command: ["ferry", "restore", "validate", "--package", "/package", "--app-version", "6.4.1", "--endpoint", "mysql=127.0.0.1:\(servers.mysqlPort)"],
                volumes: packageVolume, mounts: packageMount), name: "validate")
            #expect(validate.phase == "Succeeded", "\(validate.log)")
            #expect(validate.log.contains(db), "\(validate.log)")

            let target = db + "_r"
            let restore = try await Self.run(env, restrictedPod("restore", image: "ferry/ferry:under-test",
                command: ["ferry", "restore", "mysql", "--package", "/package", "--database", db, "--target-database", target, "--port", "\(servers.mysqlPort)", "--result-file", "/tmp/result.json"],
                volumes: packageVolume, mounts: packageMount, env: ", {name: FERRY_MYSQL_USERNAME, value: root}"), name: "restore")
            #expect(restore.phase == "Succeeded", "\(restore.log)")
            for table in ["t", "u"] {
                #expect(try await Self.sql(servers.mysqlPort, "CHECKSUM TABLE \(db).\(table)").split(separator: "\t").last
                        == (try await Self.sql(servers.mysqlPort, "CHECKSUM TABLE \(target).\(table)")).split(separator: "\t").last, "\(table)")
            }
            #expect(try await Self.sql(servers.mysqlPort, "SELECT COUNT(*) FROM \(target).t") == "5000")

            let copy = try await Self.run(env, restrictedPod("copy", image: "ferry/ferry:under-test",
                command: ["ferry", "mover", "files", "--source", "/package/docs", "--target", "/data/docs"],
                volumes: packageVolume + ", {name: data, persistentVolumeClaim: {claimName: docs}}", mounts: packageMount + ", {name: data, mountPath: /data}"), name: "copy")
            #expect(copy.phase == "Succeeded", "\(copy.log)")
            let claim = env.fixture.server.dataDirectory + "/volumes/default/docs/docs/sub"
            let copied = (try? FileManager.default.contentsOfDirectory(atPath: claim)) ?? []
            #expect(copied.count == 20, "\(copied)")
            var st = stat()
            #expect(stat(claim + "/f3.txt", &st) == 0 && st.st_uid == 65532, "written as the pod's user")
            #expect((try? String(contentsOfFile: claim + "/f3.txt", encoding: .utf8)) == "file 3\n")

            let outside = try await Self.run(env, restrictedPod("outside", image: "ferry/ferry:under-test",
                command: ["ferry", "mover", "files", "--source", "/package/docs", "--target", "/srv/docs"],
                volumes: packageVolume, mounts: packageMount), name: "outside")
            #expect(outside.phase == "Failed")
            #expect((outside.log + outside.message).contains("/srv/docs"), "the failure names the path: \(outside.log) \(outside.message)")
            #expect((outside.log + outside.message).contains("Read-only file system"), "\(outside.log) \(outside.message)")
        }
        _ = try await Self.sql(servers.mysqlPort, "DROP DATABASE \(db); DROP DATABASE IF EXISTS \(db)_r")
    }
}
