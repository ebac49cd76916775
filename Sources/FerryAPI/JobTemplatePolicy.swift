import KubeClient

/// A Job from a user's template (a rebuild, the old application's stop) runs with the
/// controller's authority, so it
/// gets the limits of Ferry's own step pods: whatever PodSecurity `restricted`
/// forbids (host namespaces and paths, privilege, added capabilities, root) or
/// a service-account token is refused by name, before anything is created;
/// what it leaves unset is filled in with the restricted settings.
public enum JobTemplatePolicy {
    static let allowedVolumes: Set<String> = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]

    /// Each refused field as `<field>.template.spec.…: why` (`field`: where the Job spec is, e.g. `rebuilds[report].job.template`).
    public static func problems(_ jobSpec: JSONValue, field template: String) -> [String] {
        let field = "\(template).template.spec"
        let spec = jobSpec[path: ["template", "spec"]] ?? .emptyObject
        var out: [String] = []
        for key in ["serviceAccountName", "serviceAccount"] {
            if let account = spec[key]?.stringValue, !account.isEmpty, account != "default" {
                out.append("\(field).\(key): \(account) would run the Job with that account's rights; Jobs from templates run without one")
            }
        }
        if spec["hostUsers"]?.boolValue == false || spec[path: ["securityContext", "sysctls"]] != nil {
            out.append("\(field): hostUsers and sysctls are not allowed")
        }
        if let seccomp = spec[path: ["securityContext", "seccompProfile", "type"]]?.stringValue, seccomp != "RuntimeDefault" && seccomp != "Localhost" {
            out.append("\(field).securityContext.seccompProfile: \(seccomp) is not allowed")
        }
        if spec["automountServiceAccountToken"]?.boolValue == true { out.append("\(field).automountServiceAccountToken: Jobs from templates get no API token") }
        for key in ["hostNetwork", "hostPID", "hostIPC"] where spec[key]?.boolValue == true { out.append("\(field).\(key): not allowed") }
        for v in spec["volumes"]?.arrayValue ?? [] {
            if let type = v.objectValue?.keys.first(where: { $0 != "name" }), !allowedVolumes.contains(type) {
                out.append("\(field).volumes[\(v["name"]?.stringValue ?? "")]: \(type) volumes are not allowed")
            }
            if (v[path: ["projected", "sources"]]?.arrayValue ?? []).contains(where: { $0["serviceAccountToken"] != nil }) {
                out.append("\(field).volumes[\(v["name"]?.stringValue ?? "")]: a projected serviceAccountToken would give the Job an API token")
            }
        }
        if spec[path: ["securityContext", "runAsNonRoot"]]?.boolValue == false || spec[path: ["securityContext", "runAsUser"]]?.intValue == 0 {
            out.append("\(field).securityContext: must not run as root")
        }
        for c in (spec["initContainers"]?.arrayValue ?? []) + (spec["containers"]?.arrayValue ?? []) {
            let at = "\(field).containers[\(c["name"]?.stringValue ?? "")].securityContext"
            let sc = c["securityContext"] ?? .emptyObject
            if sc["privileged"]?.boolValue == true { out.append("\(at).privileged: not allowed") }
            if sc["procMount"]?.stringValue == "Unmasked" || sc[path: ["windowsOptions", "hostProcess"]]?.boolValue == true { out.append("\(at): procMount Unmasked and hostProcess are not allowed") }
            if let seccomp = sc[path: ["seccompProfile", "type"]]?.stringValue, seccomp != "RuntimeDefault" && seccomp != "Localhost" { out.append("\(at).seccompProfile: \(seccomp) is not allowed") }
            if sc["allowPrivilegeEscalation"]?.boolValue == true { out.append("\(at).allowPrivilegeEscalation: must be false") }
            if sc["runAsNonRoot"]?.boolValue == false || sc["runAsUser"]?.intValue == 0 { out.append("\(at): must not run as root") }
            let adds = (sc[path: ["capabilities", "add"]]?.arrayValue ?? []).compactMap(\.stringValue).filter { $0 != "NET_BIND_SERVICE" }
            if !adds.isEmpty { out.append("\(at).capabilities.add: \(adds.joined(separator: ", ")) not allowed") }
            if (c["ports"]?.arrayValue ?? []).contains(where: { ($0["hostPort"]?.intValue ?? 0) != 0 }) { out.append("\(field).containers[\(c["name"]?.stringValue ?? "")].ports: hostPort not allowed") }
        }
        return out
    }

    /// The template with restricted settings wherever it sets none, and no API token.
    public static func hardened(_ jobSpec: JSONValue) -> JSONValue {
        var job = jobSpec
        var spec = job[path: ["template", "spec"]] ?? .emptyObject
        spec["automountServiceAccountToken"] = false
        var pod = spec["securityContext"] ?? .emptyObject
        if pod["runAsNonRoot"] == nil { pod["runAsNonRoot"] = true }
        if pod["seccompProfile"] == nil { pod["seccompProfile"] = ["type": "RuntimeDefault"] }
        spec["securityContext"] = pod
        for list in ["initContainers", "containers"] {
            guard var containers = spec[list]?.arrayValue else { continue }
            for i in containers.indices {
                var sc = containers[i]["securityContext"] ?? .emptyObject
                if sc["allowPrivilegeEscalation"] == nil { sc["allowPrivilegeEscalation"] = false }
                if sc[path: ["capabilities", "drop"]] == nil { sc[path: ["capabilities", "drop"]] = ["ALL"] }
                containers[i]["securityContext"] = sc
            }
            spec[list] = .array(containers)
        }
        job[path: ["template", "spec"]] = spec
        return job
    }
}
