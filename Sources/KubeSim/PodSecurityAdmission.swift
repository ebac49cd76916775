import KubeClient

/// The PodSecurity admission a cluster runs: a namespace labelled
/// `pod-security.kubernetes.io/enforce: baseline|restricted` refuses pods
/// that break the level, with the API server's message
/// (`pods "x" is forbidden: violates PodSecurity "restricted:latest": …`).
/// The checks are those of the Pod Security Standards (latest).
enum PodSecurityAdmission {
    static let enforceLabel = "pod-security.kubernetes.io/enforce"

    /// The refusal for `pod` in a namespace with these labels; nil when admitted.
    static func refusal(pod: JSONValue, name: String, namespaceLabels: [String: JSONValue]) -> SimError? {
        guard let level = namespaceLabels[enforceLabel]?.stringValue, level == "baseline" || level == "restricted" else { return nil }
        let problems = violations(pod, restricted: level == "restricted")
        guard !problems.isEmpty else { return nil }
        return SimError(403, "Forbidden", "pods \"\(name)\" is forbidden: violates PodSecurity \"\(level):latest\": \(problems.joined(separator: ", "))")
    }

    /// Each broken rule as the API server words it.
    static func violations(_ pod: JSONValue, restricted: Bool) -> [String] {
        let spec = pod["spec"] ?? .emptyObject
        let containers = (spec["initContainers"]?.arrayValue ?? []) + (spec["containers"]?.arrayValue ?? [])
        let names = { (list: [JSONValue]) in list.compactMap { $0["name"]?.stringValue }.map { "\"\($0)\"" }.joined(separator: ", ") }
        let podContext = spec["securityContext"] ?? .emptyObject
        var out: [String] = []

        // baseline
        let hostNamespaces = ["hostNetwork", "hostPID", "hostIPC"].filter { spec[$0]?.boolValue == true }
        if !hostNamespaces.isEmpty { out.append("host namespaces (\(hostNamespaces.map { "\($0)=true" }.joined(separator: ", ")))") }
        let privileged = containers.filter { $0[path: ["securityContext", "privileged"]]?.boolValue == true }
        if !privileged.isEmpty { out.append("privileged (container\(privileged.count > 1 ? "s" : "") \(names(privileged)) must not set securityContext.privileged=true)") }
        let hostPaths = (spec["volumes"]?.arrayValue ?? []).filter { $0["hostPath"] != nil }.compactMap { $0["name"]?.stringValue }
        if !hostPaths.isEmpty && !restricted { out.append("hostPath volumes (volume\(hostPaths.count > 1 ? "s" : "") \(hostPaths.map { "\"\($0)\"" }.joined(separator: ", ")))") }
        let hostPorts = containers.filter { ($0["ports"]?.arrayValue ?? []).contains { ($0["hostPort"]?.intValue ?? 0) != 0 } }
        if !hostPorts.isEmpty { out.append("hostPort (container\(hostPorts.count > 1 ? "s" : "") \(names(hostPorts)) uses hostPort)") }
        let baselineCaps: Set<String> = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
        let allowedAdds: Set<String> = restricted ? ["NET_BIND_SERVICE"] : baselineCaps
        let addsCaps = containers.filter { ($0[path: ["securityContext", "capabilities", "add"]]?.arrayValue ?? []).contains { !allowedAdds.contains($0.stringValue ?? "") } }
        if !addsCaps.isEmpty && !restricted { out.append("non-default capabilities (container\(addsCaps.count > 1 ? "s" : "") \(names(addsCaps)) must not include capabilities beyond the default set)") }
        guard restricted else { return out }

        // restricted
        let allowedVolumes: Set<String> = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]
        let badVolumes = (spec["volumes"]?.arrayValue ?? []).compactMap { v -> String? in
            guard let type = v.objectValue?.keys.first(where: { $0 != "name" }), !allowedVolumes.contains(type) else { return nil }
            return "\"\(v["name"]?.stringValue ?? "")\" uses restricted volume type \"\(type)\""
        }
        if !badVolumes.isEmpty { out.append("restricted volume types (volume\(badVolumes.count > 1 ? "s" : "") \(badVolumes.joined(separator: ", ")))") }
        let escalating = containers.filter { $0[path: ["securityContext", "allowPrivilegeEscalation"]]?.boolValue != false }
        if !escalating.isEmpty { out.append("allowPrivilegeEscalation != false (container\(escalating.count > 1 ? "s" : "") \(names(escalating)) must set securityContext.allowPrivilegeEscalation=false)") }
        let dropsAll = { (c: JSONValue) in (c[path: ["securityContext", "capabilities", "drop"]]?.arrayValue ?? []).contains { $0.stringValue == "ALL" } }
        let addsBeyond = { (c: JSONValue) in (c[path: ["securityContext", "capabilities", "add"]]?.arrayValue ?? []).contains { !allowedAdds.contains($0.stringValue ?? "") } }
        let unrestricted = containers.filter { !dropsAll($0) || addsBeyond($0) }
        if !unrestricted.isEmpty { out.append("unrestricted capabilities (container\(unrestricted.count > 1 ? "s" : "") \(names(unrestricted)) must set securityContext.capabilities.drop=[\"ALL\"])") }
        let podNonRoot = podContext["runAsNonRoot"]?.boolValue == true
        let rootish = containers.filter { c in
            let own = c[path: ["securityContext", "runAsNonRoot"]]?.boolValue
            return own == false || (own == nil && !podNonRoot)
        }
        if !rootish.isEmpty { out.append("runAsNonRoot != true (pod or container\(rootish.count > 1 ? "s" : "") \(names(rootish)) must set securityContext.runAsNonRoot=true)") }
        let zeroUID = podContext["runAsUser"]?.intValue == 0 || containers.contains { $0[path: ["securityContext", "runAsUser"]]?.intValue == 0 }
        if zeroUID { out.append("runAsUser=0 (pod and containers must not set runAsUser=0)") }
        let podSeccomp = podContext[path: ["seccompProfile", "type"]]?.stringValue
        let okSeccomp = { (t: String?) in t == "RuntimeDefault" || t == "Localhost" }
        let noSeccomp = containers.filter { c in
            let own = c[path: ["securityContext", "seccompProfile", "type"]]?.stringValue
            return own.map { !okSeccomp($0) } ?? !okSeccomp(podSeccomp)
        }
        if !noSeccomp.isEmpty { out.append("seccompProfile (pod or container\(noSeccomp.count > 1 ? "s" : "") \(names(noSeccomp)) must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")") }
        return out
    }
}
