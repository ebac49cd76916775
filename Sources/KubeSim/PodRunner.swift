import Foundation
import KubeClient
import Synchronization

/// Runs Pods as local processes, so Jobs and Deployments really run in tests
/// and the sandbox. A container's `command` + `args` run with its env (values
/// and `valueFrom`/`envFrom` Secrets and ConfigMaps); volume mount paths and
/// the termination-message path are mapped to local folders under the data
/// directory (hostPath as is, claims per claim, emptyDir per pod) wherever
/// they appear in args and env values. Pod phase and container statuses follow
/// the processes; the termination-message file becomes the container's
/// message. Deleting a Pod sends SIGTERM to its process group, then SIGKILL
/// after the grace period. A container whose command is not on this machine
/// stays Pending with the reason.
final class PodRunner: Sendable {
    struct Running: Sendable {
        var key: (namespace: String, name: String)
        var pids: [Int32]
        var grace: Double
        /// ConfigMap volumes (folder, ConfigMap name), refreshed while the pod runs as the kubelet does.
        var configMaps: [(dir: String, name: String)] = []
    }

    let store: ObjectStore
    let dataDirectory: String
    private let running = Mutex<[String: Running]>([:])
    private let refused = Mutex<Set<String>>([])
    /// Pods get addresses of their own on the loopback network (127.1.0.1, 127.1.0.2, …), as a
    /// cluster gives each pod its own IP: two pods can listen on the same port.
    private let addresses = Mutex<Int>(0)

    /// What a pod needs to call the API server as its service account (HTTPS mode only).
    struct APIAccess: Sendable {
        var host: String
        var port: Int
        var caPEM: String
        var tokens: ServiceAccountTokens
    }
    let apiAccess: APIAccess?
    /// Image mode: pods whose image is mapped here run inside it (``ImageStore``, ``ContainerSandbox``).
    let images: ImageStore?

    /// Where a pod's files live: volumes, the termination message, `<container>.log`.
    static func podDirectory(_ dataDirectory: String, namespace: String, name: String, uid: String) -> String {
        "\(dataDirectory)/pods/\(namespace)/\(name)-\(uid.prefix(8))"
    }

    init(store: ObjectStore, dataDirectory: String, apiAccess: APIAccess? = nil, images: ImageStore? = nil) {
        self.images = images
        self.store = store
        self.dataDirectory = dataDirectory
        self.apiAccess = apiAccess
    }

    var podType: ResourceType { store.registry.byKey["/pods"]! }

    /// One pass: start new pods, stop deleted ones.
    func reconcile() {
        let pods = (try? store.list(podType, filter: ObjectFilter(), limit: nil, continueToken: nil).items) ?? []
        var live = Set<String>()
        for pod in pods {
            guard let uid = pod.uid else { continue }
            if pod[path: ["metadata", "deletionTimestamp"]] != nil { continue }
            live.insert(uid)
            let phase = pod[path: ["status", "phase"]]?.stringValue
            if phase == "Succeeded" || phase == "Failed" { continue }
            let known = running.withLock { $0[uid] != nil } || refused.withLock { $0.contains(uid) }
            if !known { start(pod, uid: uid) }
        }
        let gone = running.withLock { r -> [Running] in
            let stale = r.filter { !live.contains($0.key) }
            for k in stale.keys { r.removeValue(forKey: k) }
            return Array(stale.values)
        }
        for r in gone { terminate(r) }
        refreshConfigMaps()
    }

    /// A changed ConfigMap reaches the pods that mount it (the kubelet's periodic volume sync).
    func refreshConfigMaps() {
        let mounted = running.withLock { r in r.values.flatMap { run in run.configMaps.map { (run.key.namespace, $0.dir, $0.name) } } }
        for (namespace, dir, name) in mounted {
            guard let cm = try? store.get(store.registry.byKey["/configmaps"]!, namespace: namespace, name: name) else { continue }
            for (k, v) in cm["data"]?.objectValue ?? [:] {
                let path = "\(dir)/\(k)", want = v.stringValue ?? ""
                if (try? String(contentsOfFile: path, encoding: .utf8)) != want { try? want.write(toFile: path, atomically: true, encoding: .utf8) }
            }
        }
    }

    /// Stops every process (server shutdown).
    func stopAll() {
        let all = running.withLock { r -> [Running] in
            defer { r.removeAll() }
            return Array(r.values)
        }
        for r in all {
            for pid in r.pids { kill(-pid, SIGKILL) }
        }
        images?.release()
    }

    func terminate(_ r: Running) {
        for pid in r.pids { kill(-pid, SIGTERM) }
        let pids = r.pids
        DispatchQueue.global().asyncAfter(deadline: .now() + r.grace) {
            for pid in pids { kill(-pid, SIGKILL) }
        }
    }

    /// Kubernetes' rule: `command` replaces the image's entrypoint (and drops its cmd), `args`
    /// replace its cmd.
    static func containerCommand(command: [String], args: [String], image: ImageStore.Image) -> [String] {
        if !command.isEmpty { return command + args }
        return image.entrypoint + (args.isEmpty ? image.cmd : args)
    }

    static func findExecutable(_ name: String, path: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Replaces mount paths where they appear as whole path prefixes inside `text`, in one pass:
    /// at each place the longest mount path that starts there wins, and replaced text is never
    /// looked at again (a claim folder under /tmp must not be mapped a second time by a /tmp mount).
    static func mapPaths(_ text: String, _ mounts: [(String, String)]) -> String {
        let sorted = mounts.filter { !$0.0.isEmpty }.sorted { $0.0.count > $1.0.count }
        guard !sorted.isEmpty else { return text }
        let chars = Array(text)
        var out = ""
        var i = 0
        while i < chars.count {
            let before: Character = i == 0 ? " " : chars[i - 1]
            if i == 0 || " \t'\"=:;(".contains(before) {
                var replaced = false
                for (from, to) in sorted {
                    let f = Array(from)
                    guard i + f.count <= chars.count, Array(chars[i..<(i + f.count)]) == f else { continue }
                    let after: Character = i + f.count < chars.count ? chars[i + f.count] : " "
                    guard " \t'\"/;:)".contains(after) else { continue }
                    out += to
                    i += f.count
                    replaced = true
                    break
                }
                if replaced { continue }
            }
            out.append(chars[i])
            i += 1
        }
        return out
    }

    func setStatus(_ namespace: String, _ name: String, _ status: JSONValue) {
        _ = try? store.patch(podType, namespace: namespace, name: name, patch: ["status": status], contentType: "application/merge-patch+json", subresource: "status")
    }

    func refuse(_ pod: JSONValue, uid: String, container: String, reason: String, message: String) {
        refused.withLock { _ = $0.insert(uid) }
        setStatus(pod.namespace ?? "default", pod.name ?? "", [
            "phase": "Pending",
            "conditions": [["type": "Ready", "status": "False", "reason": .string(reason), "message": .string(message)]],
            "containerStatuses": [["name": .string(container), "ready": false, "restartCount": 0, "state": ["waiting": ["reason": .string(reason), "message": .string(message)]]]],
        ])
    }

    func start(_ pod: JSONValue, uid: String) {
        let namespace = pod.namespace ?? "default"
        let name = pod.name ?? ""
        let containers = pod[path: ["spec", "containers"]]?.arrayValue ?? []
        guard let container = containers.first else { return }
        let containerName = container["name"]?.stringValue ?? "main"
        let imageName = container["image"]?.stringValue ?? ""
        var image: ImageStore.Image?
        if let images, images.handles(imageName) {
            switch images.image(imageName) {
            case .success(let i): image = i
            case .failure(let e):
                refuse(pod, uid: uid, container: containerName, reason: "ErrImagePull", message: e.description)
                return
            }
        }
        let commandField = (container["command"]?.arrayValue ?? []).compactMap(\.stringValue)
        let argsField = (container["args"]?.arrayValue ?? []).compactMap(\.stringValue)
        let command = image.map { Self.containerCommand(command: commandField, args: argsField, image: $0) } ?? (commandField + argsField)
        guard let program = command.first else {
            let message = image == nil
                ? "KubeSim runs containers as local processes and needs an explicit command; image \(imageName) has none"
                : "image \(imageName) has no entrypoint or command, and the container sets none"
            refuse(pod, uid: uid, container: containerName, reason: "NoCommand", message: message)
            return
        }
        let hostPATH = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var executable = program
        if image == nil {
            guard let found = Self.findExecutable(program, path: hostPATH) else {
                refuse(pod, uid: uid, container: containerName, reason: "CommandNotFound", message: "exec: \"\(program)\": executable file not found on this machine")
                return
            }
            executable = found
        }
        let securityContext = container["securityContext"], podSecurity = pod[path: ["spec", "securityContext"]]
        var identity: (uid: Int, gid: Int) = (0, 0)
        if let image {
            do {
                identity = try ContainerSandbox.user(container: securityContext, pod: podSecurity, image: image,
                                                     passwd: (try? String(contentsOfFile: image.rootfs + "/etc/passwd", encoding: .utf8)) ?? "",
                                                     names: (name, containerName))
            } catch {
                refuse(pod, uid: uid, container: containerName, reason: "CreateContainerConfigError", message: "\(error)")
                return
            }
        }
        let fsGroup = podSecurity?["fsGroup"]?.intValue.map(Int.init)
        let podIP = addresses.withLock { n -> String in
            n += 1
            return "127.1.\((n >> 8) & 255).\(n & 255 == 0 ? 1 : n & 255)"
        }
        // Volumes → local folders.
        let podDir = Self.podDirectory(dataDirectory, namespace: namespace, name: name, uid: uid)
        var volumes: [String: String] = [:]
        var configMaps: [(dir: String, name: String)] = []
        for v in pod[path: ["spec", "volumes"]]?.arrayValue ?? [] {
            guard let vname = v["name"]?.stringValue else { continue }
            if let path = v[path: ["hostPath", "path"]]?.stringValue {
                // As the kubelet: DirectoryOrCreate makes the folder; Directory wants it there.
                let kind = v[path: ["hostPath", "type"]]?.stringValue ?? ""
                var isDir: ObjCBool = false
                let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
                if kind == "Directory" && !(exists && isDir.boolValue) {
                    refuse(pod, uid: uid, container: containerName, reason: "ContainerCreating",
                           message: "MountVolume.SetUp failed for volume \"\(vname)\" : hostPath type check failed: \(path) is not a directory")
                    return
                }
                volumes[vname] = path
                if kind != "DirectoryOrCreate" && !exists { continue }
            } else if let claim = v[path: ["persistentVolumeClaim", "claimName"]]?.stringValue {
                volumes[vname] = "\(dataDirectory)/volumes/\(namespace)/\(claim)"
            } else {
                volumes[vname] = "\(podDir)/volumes/\(vname)"
            }
            if let dir = volumes[vname] {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                // As the kubelet makes an emptyDir, and K3s's local-path provisioner a claim: writable by the pod's user.
                if image != nil && v["hostPath"] == nil { chmod(dir, 0o777) }
            }
            // ConfigMap and Secret volumes: their keys as files.
            if let cm = v[path: ["configMap", "name"]]?.stringValue, let dir = volumes[vname] { configMaps.append((dir, cm)) }
            if let cm = v[path: ["configMap", "name"]]?.stringValue, let obj = try? store.get(store.registry.byKey["/configmaps"]!, namespace: namespace, name: cm) {
                for (k, val) in obj["data"]?.objectValue ?? [:] { try? (val.stringValue ?? "").write(toFile: "\(volumes[vname]!)/\(k)", atomically: true, encoding: .utf8) }
            }
            if let sec = v[path: ["secret", "secretName"]]?.stringValue, let obj = try? store.get(store.registry.byKey["/secrets"]!, namespace: namespace, name: sec) {
                // As the kubelet: defaultMode (0644 unless set), group fsGroup; host mode keeps them 0600.
                let mode = image == nil ? 0o600 : (v[path: ["secret", "defaultMode"]]?.intValue.map(Int.init) ?? 0o644)
                for (k, val) in obj["data"]?.objectValue ?? [:] {
                    let path = "\(volumes[vname]!)/\(k)"
                    FileManager.default.createFile(atPath: path, contents: Data(base64Encoded: val.stringValue ?? "") ?? Data(), attributes: [.posixPermissions: mode])
                    if image != nil, let fsGroup { chown(path, 0, gid_t(fsGroup)) }
                }
            }
        }
        var mounts: [(String, String)] = []
        var sandboxMounts: [ContainerSandbox.Mount] = []
        for m in container["volumeMounts"]?.arrayValue ?? [] {
            guard let path = m["mountPath"]?.stringValue, let vname = m["name"]?.stringValue, var local = volumes[vname] else { continue }
            if let sub = m["subPath"]?.stringValue, !sub.isEmpty {
                do {
                    local = try ContainerPath.subPath(sub, in: local)
                } catch {
                    refuse(pod, uid: uid, container: containerName, reason: "CreateContainerConfigError", message: "\(error)")
                    return
                }
                try? FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
                if image != nil { chmod(local, 0o777) }
            }
            mounts.append((path, local))
            sandboxMounts.append(.init(source: local, target: path, readOnly: m["readOnly"]?.boolValue == true))
        }
        let terminationPath = container["terminationMessagePath"]?.stringValue ?? "/dev/termination-log"
        let localTermination = "\(podDir)/\(containerName).termination-log"
        try? FileManager.default.createDirectory(atPath: podDir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: localTermination, contents: nil, attributes: image == nil ? nil : [.posixPermissions: 0o666])
        mounts.append((terminationPath, localTermination))
        sandboxMounts.append(.init(source: localTermination, target: terminationPath, file: true))
        // Environment: in image mode the image's, else the runner's.
        var env: [String: String] = image == nil ? ["PATH": hostPATH, "HOME": podDir, "HOSTNAME": name, "KUBESIM_POD_DIR": podDir] : ["HOSTNAME": name]
        for pair in image?.env ?? [] {
            guard let eq = pair.firstIndex(of: "=") else { continue }
            env[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        if image != nil {
            if env["PATH"] == nil { env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
            // Every pod gets an /etc/hosts of the kubelet's making.
            let hosts = podDir + "/hosts"
            FileManager.default.createFile(atPath: hosts, contents: Data("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".utf8), attributes: [.posixPermissions: 0o644])
            sandboxMounts.append(.init(source: hosts, target: "/etc/hosts", file: true))
        }
        if let api = apiAccess, pod[path: ["spec", "automountServiceAccountToken"]]?.boolValue != false {
            let account = pod[path: ["spec", "serviceAccountName"]]?.stringValue ?? "default"
            let dir = podDir + "/serviceaccount"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // In image mode at the path a cluster uses, readable by the pod's user (the projected volume's 0644).
            FileManager.default.createFile(atPath: dir + "/token", contents: Data(api.tokens.token(namespace: namespace, name: account).utf8), attributes: [.posixPermissions: image == nil ? 0o600 : 0o644])
            FileManager.default.createFile(atPath: dir + "/ca.crt", contents: Data(api.caPEM.utf8))
            FileManager.default.createFile(atPath: dir + "/namespace", contents: Data(namespace.utf8))
            env["KUBERNETES_SERVICE_HOST"] = api.host
            env["KUBERNETES_SERVICE_PORT"] = String(api.port)
            if image == nil {
                env["FERRY_SERVICE_ACCOUNT_DIR"] = dir
            } else {
                sandboxMounts.append(.init(source: dir, target: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true))
            }
        }
        let runnerKeys = Set(env.keys)
        let runnerValues = env
        do {
            for from in container["envFrom"]?.arrayValue ?? [] {
                let prefix = from["prefix"]?.stringValue ?? ""
                if let cm = from[path: ["configMapRef", "name"]]?.stringValue {
                    for (k, v) in try store.get(store.registry.byKey["/configmaps"]!, namespace: namespace, name: cm)["data"]?.objectValue ?? [:] { env[prefix + k] = v.stringValue }
                }
                if let sec = from[path: ["secretRef", "name"]]?.stringValue {
                    for (k, v) in try store.get(store.registry.byKey["/secrets"]!, namespace: namespace, name: sec)["data"]?.objectValue ?? [:] {
                        env[prefix + k] = String(decoding: Data(base64Encoded: v.stringValue ?? "") ?? Data(), as: UTF8.self)
                    }
                }
            }
            for e in container["env"]?.arrayValue ?? [] {
                guard let key = e["name"]?.stringValue else { continue }
                if let v = e["value"]?.stringValue {
                    env[key] = v
                } else if let ref = e[path: ["valueFrom", "secretKeyRef"]], let sec = ref["name"]?.stringValue, let k = ref["key"]?.stringValue {
                    let obj = try store.get(store.registry.byKey["/secrets"]!, namespace: namespace, name: sec)
                    guard let b64 = obj[path: ["data", k]]?.stringValue else { throw SimError(404, "NotFound", "key \(k) not found in secret \(sec)") }
                    env[key] = String(decoding: Data(base64Encoded: b64) ?? Data(), as: UTF8.self)
                } else if let ref = e[path: ["valueFrom", "configMapKeyRef"]], let cm = ref["name"]?.stringValue, let k = ref["key"]?.stringValue {
                    let obj = try store.get(store.registry.byKey["/configmaps"]!, namespace: namespace, name: cm)
                    guard let v = obj[path: ["data", k]]?.stringValue else { throw SimError(404, "NotFound", "key \(k) not found in configmap \(cm)") }
                    env[key] = v
                } else if let field = e[path: ["valueFrom", "fieldRef", "fieldPath"]]?.stringValue {
                    env[key] = field == "status.podIP" ? podIP : pod[path: field.split(separator: ".").map(String.init)]?.stringValue ?? ""
                }
            }
        } catch {
            refuse(pod, uid: uid, container: containerName, reason: "CreateContainerConfigError", message: "\(error)")
            return
        }
        // Only what the pod spec set names container paths; the runner's own values are host paths.
        var args: [String]
        if let image {
            // In the image, paths are the container's own: nothing is mapped.
            var sandbox = ContainerSandbox(rootfs: image.rootfs, stateDirectory: podDir + "/container-" + containerName, uid: identity.uid, gid: identity.gid,
                                           supplementalGroups: fsGroup.map { [$0] } ?? [],
                                           readOnlyRoot: securityContext?["readOnlyRootFilesystem"]?.boolValue == true,
                                           mounts: sandboxMounts, workingDir: container["workingDir"]?.stringValue ?? image.workingDir)
            do {
                sandbox = try sandbox.resolvingTargets()
                try sandbox.prepare()
            } catch {
                refuse(pod, uid: uid, container: containerName, reason: "CreateContainerError", message: "\(error)")
                return
            }
            (executable, args) = sandbox.launch(command)
        } else {
            for (k, v) in env where !runnerKeys.contains(k) || env[k] != runnerValues[k] { env[k] = Self.mapPaths(v, mounts) }
            args = command.dropFirst().map { Self.mapPaths($0, mounts) }
        }
        let logPath = "\(podDir)/\(containerName).log"
        let restartPolicy = pod[path: ["spec", "restartPolicy"]]?.stringValue ?? "Always"
        let grace = Double(pod[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30)
        let started = Timestamps.format(store.now())
        // Record the pod and its Running status before the process starts: a
        // container that exits at once must find both when it reports.
        running.withLock { $0[uid] = Running(key: (namespace, name), pids: [], grace: grace, configMaps: configMaps) }
        setStatus(namespace, name, [
            "phase": "Running", "podIP": .string(podIP), "podIPs": [["ip": .string(podIP)]], "hostIP": "127.0.0.1", "startTime": .string(started),
            "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(started)]],
            "containerStatuses": [["name": .string(containerName), "ready": true, "started": true, "restartCount": 0, "image": container["image"] ?? "", "state": ["running": ["startedAt": .string(started)]]]],
        ])
        do {
            let pid = try Spawn.run(executable, args, environment: env, directory: podDir, logPath: logPath) { [weak self] status in
                self?.exited(namespace: namespace, name: name, uid: uid, container: containerName, code: Spawn.exitCode(status), started: started, terminationFile: localTermination, restartPolicy: restartPolicy)
            }
            let stillRunning = running.withLock { r -> Bool in
                guard r[uid] != nil else { return false }
                r[uid]?.pids = [pid]
                return true
            }
            if !stillRunning { kill(-pid, SIGKILL) }
        } catch {
            _ = running.withLock { $0.removeValue(forKey: uid) }
            refuse(pod, uid: uid, container: containerName, reason: "StartError", message: "\(error)")
            return
        }
    }

    func exited(namespace: String, name: String, uid: String, container: String, code: Int32, started: String, terminationFile: String, restartPolicy: String) {
        let stillOurs = running.withLock { r -> Bool in
            guard r[uid] != nil else { return false }
            r.removeValue(forKey: uid)
            return true
        }
        guard stillOurs else { return }  // deleted: nobody to report to
        let data = FileManager.default.contents(atPath: terminationFile) ?? Data()
        let message = String(decoding: data.prefix(4096), as: UTF8.self)
        let exitCode = code
        let finished = Timestamps.format(store.now())
        var terminated: JSONValue = ["exitCode": .int(Int64(exitCode)), "reason": exitCode == 0 ? "Completed" : "Error", "startedAt": .string(started), "finishedAt": .string(finished)]
        if !message.isEmpty { terminated["message"] = .string(message) }
        let restart = restartPolicy == "Always" || (restartPolicy == "OnFailure" && exitCode != 0)
        if restart {
            // The controller will start it again on its next pass, as a kubelet restarts containers.
            setStatus(namespace, name, ["phase": "Pending", "conditions": [["type": "Ready", "status": "False"]], "containerStatuses": [["name": .string(container), "ready": false, "restartCount": 1, "lastState": ["terminated": terminated], "state": ["waiting": ["reason": "CrashLoopBackOff"]]]]])
            return
        }
        setStatus(namespace, name, [
            "phase": exitCode == 0 ? "Succeeded" : "Failed",
            "conditions": [["type": "Ready", "status": "False", "reason": "PodCompleted"]],
            "containerStatuses": [["name": .string(container), "ready": false, "started": false, "restartCount": 0, "state": ["terminated": terminated]]],
        ])
    }
}
