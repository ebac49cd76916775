import Foundation
import KubeClient

/// One problem with a Migration spec: the field path and what to do about it.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}

/// The step kinds a plan can hold, in order; `spec.steps.skip` names these (or full step names).
public enum StepKind: String, CaseIterable, Sendable {
    case validate, presync, quiesce
    case mysqlSnapshot = "mysql-snapshot", mysqlReplicate = "mysql-replicate", mysqlStopSource = "mysql-stop-source", mysqlCutover = "mysql-cutover"
    case mysqlReverse = "mysql-reverse", mysqlCutback = "mysql-cutback"
    case mysql, mysqlExternal = "mysql-external", clickhouse
    case clickhouseCopy = "clickhouse-copy"
    case kafka, config, resume, cache, rebuild, files
}

extension MigrationSpec {
    /// Every problem in the spec (empty when valid). Pure: no I/O.
    public func validate() -> [ValidationError] {
        var errors: [ValidationError] = []
        func fail(_ field: String, _ message: String) { errors.append(ValidationError(field, message)) }

        // package
        let p = package
        switch (p.hostPath?.isEmpty == false, p.persistentVolumeClaim?.isEmpty == false) {
        case (false, false): fail("spec.package", "set hostPath (a folder on a node) or persistentVolumeClaim (a volume claim holding the package)")
        case (true, true): fail("spec.package", "set only one of hostPath and persistentVolumeClaim")
        default: break
        }
        if let h = p.hostPath, !h.isEmpty, !h.hasPrefix("/") { fail("spec.package.hostPath", "\"\(h)\" must be an absolute path, e.g. /data/backup") }
        if let sub = p.subPath, !Self.isSafeRelative(sub) { fail("spec.package.subPath", "\"\(sub)\" must be a relative path without '..'") }
        if p.nodeName != nil && p.hostPath == nil { fail("spec.package.nodeName", "only applies with hostPath; remove it or set hostPath") }
        if appVersion.trimmedWhitespace.isEmpty {
            fail("spec.appVersion", "is empty; set the application version the package was exported from (see the package's metadata)")
        }

        if let w = workloads {
            let sel = w.selector
            if (sel.matchLabels ?? [:]).isEmpty && (sel.matchExpressions ?? []).isEmpty {
                fail("spec.workloads.selector", "is empty and would stop every workload in the namespace; set matchLabels, e.g. {app.kubernetes.io/part-of: myapp}")
            }
            for (i, r) in (sel.matchExpressions ?? []).enumerated() {
                let field = "spec.workloads.selector.matchExpressions[\(i)]"
                switch r.operator {
                case "In", "NotIn":
                    if (r.values ?? []).isEmpty { fail("\(field).values", "must list at least one value for operator \(r.operator)") }
                case "Exists", "DoesNotExist":
                    if !(r.values ?? []).isEmpty { fail("\(field).values", "must be empty for operator \(r.operator)") }
                default:
                    fail("\(field).operator", "\"\(r.operator)\" is not one of In, NotIn, Exists, DoesNotExist")
                }
            }
        }

        if let m = mysql, let x = m.external {
            Self.checkExternal(m, x, &errors)
            if let ref = x.configRef, ref.kind == "Secret", let taken = credentialSecrets.first(where: { $0.name == ref.name })?.field ?? (config?.secretName == ref.name ? "spec.config.secretName" : nil) {
                fail("spec.mysql.external.configRef.name", "\"\(ref.name)\" is also \(taken): Ferry would write the address into a Secret it reads or writes itself; name the Secret the application reads")
            }
        } else if let m = mysql {
            if m.host.isEmpty { fail("spec.mysql.host", "is empty; set the MySQL service name, e.g. mysql.myapp (or spec.mysql.external for a database that stays outside the cluster)") }
            if m.credentialsSecret.isEmpty { fail("spec.mysql.credentialsSecret", "is empty; name a Secret with keys username and password") }
            Self.checkPort(m.port, "spec.mysql.port", &errors)
            if case .invalid(let text) = m.parallelism { fail("spec.mysql.parallelism", "\"\(text)\" is neither a number of connections (1…64) nor auto") }
            if case .count(let n) = m.parallelism { Self.checkRange(n, 1...64, "spec.mysql.parallelism", &errors) }
            for (i, db) in (m.databases ?? []).enumerated() where db.isEmpty || db.contains("/") || db.contains(".") || db.contains(" ") {
                fail("spec.mysql.databases[\(i)]", "\"\(db)\" is not a database name")
            }
            switch m.mode ?? MigrationDefaults.mysqlMode {
            case "restore":
                if m.source != nil { fail("spec.mysql.source", "is used only with mode: replicate; set spec.mysql.mode: replicate or remove source") }
                if m.cutover != nil { fail("spec.mysql.cutover", "is used only with mode: replicate; set spec.mysql.mode: replicate or remove cutover") }
            case "replicate":
                if m.databases != nil { fail("spec.mysql.databases", "lists what a package restore restores; in mode replicate list the databases in spec.mysql.source.databases") }
                guard let src = m.source else {
                    fail("spec.mysql.source", "is required with mode: replicate: the old server's host, port and credentialsSecret")
                    break
                }
                if src.host.isEmpty { fail("spec.mysql.source.host", "is empty; set the old server's address") }
                if src.credentialsSecret.isEmpty { fail("spec.mysql.source.credentialsSecret", "is empty; name a Secret with username and password of a user with REPLICATION SLAVE, SELECT, READ_ONLY ADMIN and PROCESS") }
                Self.checkPort(src.port, "spec.mysql.source.port", &errors)
                if let snap = src.snapshot, snap != "live" && snap != "package" {
                    fail("spec.mysql.source.snapshot", "\"\(snap)\" is not live or package (the package's dumps, exported with mysql.gtid: true)")
                }
                if src.host == m.host && (src.port ?? MigrationDefaults.mysqlPort) == (m.port ?? MigrationDefaults.mysqlPort) {
                    fail("spec.mysql.source", "is the target itself (\(m.host):\(m.port ?? MigrationDefaults.mysqlPort)); a server cannot replicate from itself")
                }
                for (i, db) in (src.databases ?? []).enumerated() where db.isEmpty || db.contains(",") || db.contains("/") || db.unicodeScalars.contains(where: { $0.value < 32 }) {
                    fail("spec.mysql.source.databases[\(i)]", "\"\(db)\" is not a database name replication can be limited to (no comma, slash or control character)")
                }
                if let c = m.cutover {
                    Self.checkRange(c.maxLagSeconds, 0...86_400, "spec.mysql.cutover.maxLagSeconds", &errors)
                    Self.checkRange(c.timeoutSeconds, 1...3_600, "spec.mysql.cutover.timeoutSeconds", &errors)
                    if let w = c.window { Self.checkWindow(w, "spec.mysql.cutover.window", &errors) }
                    if let job = c.stopSource { Self.checkJobTemplate(job.template, "spec.mysql.cutover.stopSource.template", &errors) }
                    if c.reverseReplication != true {
                        if c.reverseHost != nil { fail("spec.mysql.cutover.reverseHost", "is used only with reverseReplication: true") }
                        if c.reversePort != nil { fail("spec.mysql.cutover.reversePort", "is used only with reverseReplication: true") }
                    }
                    if let h = c.reverseHost, h.isEmpty || h.contains(where: { $0.isWhitespace || $0 == "'" }) { fail("spec.mysql.cutover.reverseHost", "must be a host name or address") }
                    Self.checkRange(c.reversePort, 1...65_535, "spec.mysql.cutover.reversePort", &errors)
                }
            case let other:
                fail("spec.mysql.mode", "\"\(other)\" is not a mode; use restore (import the package with the app stopped) or replicate (copy and follow the running source, then cut over)")
            }
        }
        if let c = clickhouse {
            if !(c.url.hasPrefix("http://") || c.url.hasPrefix("https://")) {
                fail("spec.clickhouse.url", "\(c.url.contains("@") ? "the URL" : "\"\(c.url)\"") must be the HTTP interface URL, e.g. http://clickhouse:8123")
            } else if let authority = c.url.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first, authority.contains("@") {
                // Never echo the URL: it holds a password.
                fail("spec.clickhouse.url", "carries a user (and maybe a password) before '@', which would end up in Job arguments; remove it and put username and password in the Secret named by spec.clickhouse.credentialsSecret")
            } else if c.url.contains("?") && (c.url.lowercased().contains("password=") || c.url.lowercased().contains("user=")) {
                fail("spec.clickhouse.url", "carries user or password as a query parameter, which would end up in Job arguments; remove it and use spec.clickhouse.credentialsSecret")
            }
            for (i, t) in (c.tables ?? []).enumerated() where t.split(separator: ".").count != 2 {
                fail("spec.clickhouse.tables[\(i)]", "\"\(t)\" must be database.table")
            }
            Self.checkRange(c.maxInsertBlockSize, 1...100_000_000, "spec.clickhouse.maxInsertBlockSize", &errors)
            Self.checkRange(c.parallelism, 1...16, "spec.clickhouse.parallelism", &errors)
            if let copy = c.copy {
                if c.tables != nil { fail("spec.clickhouse.tables", "lists what a package restore restores; with copy, list the tables in spec.clickhouse.copy.tables") }
                errors += copy.problems()
            }
        }
        if let k = kafka {
            let brokers = k.bootstrap.split(separator: ",").map { $0.trimmedWhitespace }
            if brokers.isEmpty || brokers.contains(where: { $0.split(separator: ":").count != 2 || Int($0.split(separator: ":").last ?? "") == nil }) {
                fail("spec.kafka.bootstrap", "\"\(k.bootstrap)\" must be host:port[,host:port…]")
            }
            let modes = ["package", "earliest", "latest", "timestamp"]
            if let mode = k.mode, !modes.contains(mode) { fail("spec.kafka.mode", "\"\(mode)\" is not one of \(modes.joined(separator: ", "))") }
            if k.mode == "timestamp" {
                if let ts = k.timestamp {
                    if Timestamps.parse(ts) == nil { fail("spec.kafka.timestamp", "\"\(ts)\" is not RFC 3339, e.g. 2026-11-20T22:00:00Z") }
                } else {
                    fail("spec.kafka.timestamp", "is required when mode is timestamp")
                }
            } else if k.timestamp != nil {
                fail("spec.kafka.timestamp", "only applies with mode: timestamp")
            }
        }
        if let c = config {
            if !Self.isDNSSubdomain(c.secretName) { fail("spec.config.secretName", "\"\(c.secretName)\" must be a Secret name (lowercase a-z, 0-9, '-', '.')") }
            if let k = c.keySecret, !Self.isDNSSubdomain(k) { fail("spec.config.keySecret", "\"\(k)\" must be a Secret name holding the export key under key") }
            if c.secretName == c.keySecret { fail("spec.config.secretName", "must differ from keySecret: the key would be overwritten by the config") }
            for (field, name) in credentialSecrets where name == c.secretName {
                fail("spec.config.secretName", "\"\(c.secretName)\" is also \(field): the config step would overwrite those credentials; name another Secret for the config")
            }
        }
        if let r = redis {
            if r.host.isEmpty { fail("spec.redis.host", "is empty; set the Redis service name") }
            Self.checkPort(r.port, "spec.redis.port", &errors)
            Self.checkRange(r.database, 0...1023, "spec.redis.database", &errors)
        }
        var fileNames = Set<String>()
        for (i, f) in (files ?? []).enumerated() {
            let field = "spec.files[\(i)]"
            if !Self.isDNSLabel(f.name) { fail("\(field).name", "\"\(f.name)\" must be a lowercase DNS label (a-z, 0-9, '-')") }
            if !fileNames.insert(f.name).inserted { fail("\(field).name", "\"\(f.name)\" is used twice; names must be unique") }
            switch f.from {
            case .package(let folder):
                if !Self.isSafeRelative(folder) { fail("\(field).from", "\"\(folder)\" must be a folder inside the package: relative, without '..'") }
                else if Self.isPackageRoot(folder) { fail("\(field).from", "\"\(folder)\" is the whole package (dumps, metadata and all); name the folder of files inside it, e.g. files") }
            case .s3(let b): errors += Self.checkS3(b, "\(field).from.s3")
            case .unreadable(let why): fail("\(field).from", why)
            }
            if f.unpack == true {
                if f.from.folder == nil { fail("\(field).unpack", "unpacks the package folder's .tar.gz archives; from must be a package folder, not a bucket") }
                if fileSync?.method == "move" { fail("\(field).unpack", "stages the archives' contents and copies them; spec.fileSync.method move renames the package's own files: use copy or leave the method out") }
            }
            if f.fallback == true {
                if f.to.s3 == nil { fail("\(field).fallback", "serves a bucket to the application: it needs to.s3 (the bucket the files move into)") }
                if (files ?? []).prefix(i).contains(where: { $0.fallback == true }) { fail("\(field).fallback", "one entry per Migration may have a gateway; split the others into another Migration") }
            }
            switch (f.to.persistentVolumeClaim, f.to.s3) {
            case (nil, nil), (_?, _?): fail("\(field).to", "set exactly one of persistentVolumeClaim (a volume) and s3 (a bucket)")
            case (let claim?, nil):
                if claim.isEmpty { fail("\(field).to.persistentVolumeClaim", "is empty; name the claim to copy into") }
                if let sub = f.to.subPath, !Self.isSafeRelative(sub) { fail("\(field).to.subPath", "\"\(sub)\" must be relative, without '..'") }
            case (nil, let b?):
                errors += Self.checkS3(b, "\(field).to.s3")
                if f.to.subPath != nil { fail("\(field).to.subPath", "is for a volume; a bucket takes s3.prefix") }
                if let a = f.from.bucket, S3Spec.overlap(a, b) {
                    fail("\(field).to.s3.prefix", "s3://\(b.bucket)/\(b.prefix ?? "") overlaps the source s3://\(a.bucket)/\(a.prefix ?? "") at the same endpoint: the copy would read what it writes; name prefixes apart")
                }
            }
        }
        if let fs = fileSync {
            Self.checkRange(fs.parallelism, 1...256, "spec.fileSync.parallelism", &errors)
            if let b = fs.bandwidth, b <= 0 { fail("spec.fileSync.bandwidth", "must be a positive number of bytes per second; remove it for no limit") }
            if let v = fs.verify, v != "size" && v != "checksum" { fail("spec.fileSync.verify", "\"\(v)\" is not one of size, checksum") }
            Self.checkRange(fs.stallSeconds, 10...86_400, "spec.fileSync.stallSeconds", &errors)
            if let w = fs.window {
                Self.checkWindow(w, "spec.fileSync.window", &errors)
            }
            if fs.preSync == true && (files ?? []).isEmpty { fail("spec.fileSync.preSync", "needs spec.files to copy") }
            if let m = fs.method { Self.checkMethod(m, self, &errors) }
            if case .invalid(let text) = fs.shards { fail("spec.fileSync.shards", "\"\(text)\" is neither a number of pods (1…64) nor auto") }
            if case .count(let n) = fs.shards { Self.checkRange(n, 1...64, "spec.fileSync.shards", &errors) }
            if case .count(let n) = fs.shards, n > 1 {
                if fs.journal == true { fail("spec.fileSync.journal", "with shards above 1 each pod copies a share of each folder, and one pod keeps the journal: turn the journal off or leave shards out") }
                if fs.method == "move" { fail("spec.fileSync.shards", "move renames whole folders in one pod; leave shards out") }
                for (i, f) in (files ?? []).enumerated() where f.from.bucket != nil || f.to.s3 != nil {
                    fail("spec.fileSync.shards", "shards split package folders copied into claims, but spec.files[\(i)] (\(f.name)) has a bucket side; leave shards out")
                }
            }
        }
        var rebuildNames = Set<String>()
        for (i, r) in (rebuilds ?? []).enumerated() {
            let field = "spec.rebuilds[\(i)]"
            if !Self.isDNSLabel(r.name) { fail("\(field).name", "\"\(r.name)\" must be a lowercase DNS label") }
            if !rebuildNames.insert(r.name).inserted { fail("\(field).name", "\"\(r.name)\" is used twice") }
            let triggers = [r.configMap != nil, r.job != nil, r.rolloutRestart != nil].filter { $0 }.count
            if triggers != 1 { fail(field, "set exactly one of configMap, job, rolloutRestart") }
            if let c = r.configMap, c.name.isEmpty || c.key.isEmpty { fail("\(field).configMap", "needs name and key") }
            if let job = r.job { Self.checkJobTemplate(job.template, "\(field).job.template", &errors) }
        }
        Self.checkRange(steps?.stallSeconds, 10...86_400, "spec.steps.stallSeconds", &errors)
        let kinds = Set(StepKind.allCases.map(\.rawValue))
        for (i, s) in (steps?.skip ?? []).enumerated() {
            let kind = String(s.split(separator: "/").first ?? "")
            if !kinds.contains(kind) {
                fail("spec.steps.skip[\(i)]", "\"\(s)\" is not a step; use one of \(StepKind.allCases.map(\.rawValue).joined(separator: ", ")) or a full name such as mysql/project")
            }
            if kind == "validate" { fail("spec.steps.skip[\(i)]", "validate cannot be skipped: it protects your data") }
        }
        return errors
    }

    /// A bucket's fields: an http(s) endpoint, a bucket name S3 takes, a prefix without `..`, a credentials Secret.
    static func checkS3(_ b: S3Spec, _ field: String) -> [ValidationError] {
        var errors: [ValidationError] = []
        let url = URL(string: b.endpoint)
        if !(b.endpoint.hasPrefix("http://") || b.endpoint.hasPrefix("https://")) || url?.host?.isEmpty != false || (url?.path ?? "") .count > 1 || url?.query != nil {
            errors.append(ValidationError("\(field).endpoint", "\"\(b.endpoint)\" must be an http(s) URL of the store, without a path, e.g. https://s3.example:443"))
        }
        if !(3...63).contains(b.bucket.count) || !b.bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") })
            || b.bucket.hasPrefix("-") || b.bucket.hasPrefix(".") || b.bucket.hasSuffix("-") || b.bucket.hasSuffix(".") {
            errors.append(ValidationError("\(field).bucket", "\"\(b.bucket)\" is not a bucket name S3 takes: 3–63 lowercase letters, digits, - and ., starting and ending with a letter or digit"))
        }
        if let p = b.prefix, !p.isEmpty, !Self.isSafeRelative(p) || p.utf8.count > 900 {
            errors.append(ValidationError("\(field).prefix", "\"\(p)\" must be a key prefix like app/files: no leading /, no '..', under 900 bytes"))
        }
        if b.credentialsSecret.isEmpty { errors.append(ValidationError("\(field).credentialsSecret", "is empty; name a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")) }
        if b.caSecret?.isEmpty == true { errors.append(ValidationError("\(field).caSecret", "is empty; name a Secret with ca.crt, or remove it")) }
        if let r = b.region, r.isEmpty || !r.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) {
            errors.append(ValidationError("\(field).region", "\"\(r)\" is not a region name like us-east-1"))
        }
        return errors
    }

    /// A Job spec from the user: containers to run, and nothing a restricted pod may not do
    /// (refused here, before anything is changed, rather than when its step comes).
    static func checkJobTemplate(_ template: JSONValue, _ field: String, _ errors: inout [ValidationError]) {
        guard !(template[path: ["template", "spec", "containers"]]?.arrayValue ?? []).isEmpty else {
            errors.append(ValidationError(field, "is a batch/v1 Job spec: it needs template.spec.containers"))
            return
        }
        for problem in JobTemplatePolicy.problems(template, field: field) {
            let parts = problem.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            errors.append(ValidationError(parts.first ?? field, parts.count == 2 ? parts[1] : problem))
        }
    }

    /// `spec.mysql.external`: the database stays where it is, so nothing of a restore or a replication may be asked for.
    static func checkExternal(_ m: MySQLSpec, _ x: MySQLExternalSpec, _ errors: inout [ValidationError]) {
        func fail(_ field: String, _ message: String) { errors.append(ValidationError(field, message)) }
        let why = "is not used with spec.mysql.external (the database stays on its external server); remove it"
        if !m.host.isEmpty { fail("spec.mysql.host", "\(why), or set spec.mysql.external.host") }
        if !m.credentialsSecret.isEmpty { fail("spec.mysql.credentialsSecret", "\(why), or set spec.mysql.external.credentialsSecret") }
        if m.replicates { fail("spec.mysql.mode", "replicate copies into the cluster; an external database is not moved: remove spec.mysql.external or the mode") }
        if m.source != nil { fail("spec.mysql.source", why) }
        if m.cutover != nil { fail("spec.mysql.cutover", why) }
        if let h = x.host, h.isEmpty || h.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "'" }) {
            fail("spec.mysql.external.host", "\"\(h)\" is not a host name or address; set it, or leave it out to use the one the package names")
        }
        checkPort(x.port, "spec.mysql.external.port", &errors)
        if x.credentialsSecret.isEmpty { fail("spec.mysql.external.credentialsSecret", "is empty; name a Secret with keys username and password of a user that may list the schemas") }
        for (i, db) in (m.databases ?? []).enumerated() where db.isEmpty || db.contains("/") || db.contains(".") || db.contains(" ") {
            fail("spec.mysql.databases[\(i)]", "\"\(db)\" is not a database name")
        }
        guard let ref = x.configRef else { return }
        if ref.kind != "ConfigMap" && ref.kind != "Secret" { fail("spec.mysql.external.configRef.kind", "\"\(ref.kind)\" is not ConfigMap or Secret") }
        if !isDNSSubdomain(ref.name) { fail("spec.mysql.external.configRef.name", "\"\(ref.name)\" is not a \(ref.kind) name (lowercase letters, digits, - and .)") }
        let keyBytes = Array(ref.key.utf8)
        if keyBytes.isEmpty || keyBytes.count > 253 || ref.key == "." || ref.key == ".."
            || !keyBytes.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 || $0 == 46 }) {
            fail("spec.mysql.external.configRef.key", "\"\(ref.key)\" is not a key a \(ref.kind) can hold (letters, digits, -, _ and .)")
        }
        if let f = ref.format, !f.contains("{host}") {
            fail("spec.mysql.external.configRef.format", "\"\(f)\" has no {host}; write what the application reads, e.g. {host}:{port} or mysql://{host}:{port}/app")
        }
    }

    /// Every credentials Secret the spec names, with its field.
    public var credentialSecrets: [(field: String, name: String)] {
        var out: [(String, String)] = []
        if let m = mysql, !m.isExternal { out.append(("spec.mysql.credentialsSecret", m.credentialsSecret)) }
        if let x = mysql?.external { out.append(("spec.mysql.external.credentialsSecret", x.credentialsSecret)) }
        if let s = mysql?.source { out.append(("spec.mysql.source.credentialsSecret", s.credentialsSecret)) }
        if let s = clickhouse?.credentialsSecret { out.append(("spec.clickhouse.credentialsSecret", s)) }
        if let s = clickhouse?.copy?.source.credentialsSecret { out.append(("spec.clickhouse.copy.source.credentialsSecret", s)) }
        if let s = kafka?.credentialsSecret { out.append(("spec.kafka.credentialsSecret", s)) }
        if let s = redis?.credentialsSecret { out.append(("spec.redis.credentialsSecret", s)) }
        return out
    }

    /// `.`, `./`, `./.` …: a relative path that names the package's top folder itself.
    static func isPackageRoot(_ path: String) -> Bool {
        path.split(separator: "/").allSatisfy { $0 == "." }
    }

    static func isSafeRelative(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && !path.split(separator: "/").contains("..")
    }

    static func isDNSSubdomain(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    static func isDNSLabel(_ s: String) -> Bool {
        let b = Array(s.utf8)
        return !b.isEmpty && b.count <= 63 && b.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
            && b.first != 45 && b.last != 45
    }

    static func minutes(_ hhmm: String) -> Int? {
        let parts = hhmm.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    static func checkWindow(_ w: DailyWindowSpec, _ field: String, _ errors: inout [ValidationError]) {
        if minutes(w.start) == nil { errors.append(ValidationError(field + ".start", "\"\(w.start)\" must be HH:MM")) }
        if minutes(w.end) == nil { errors.append(ValidationError(field + ".end", "\"\(w.end)\" must be HH:MM")) }
        if let tz = w.timeZone, TimeZone(identifier: tz) == nil { errors.append(ValidationError(field + ".timeZone", "\"\(tz)\" is not a time zone name, e.g. Europe/Berlin")) }
    }

    static func checkPort(_ port: Int?, _ field: String, _ errors: inout [ValidationError]) {
        checkRange(port, 1...65535, field, &errors)
    }

    /// `spec.fileSync.method`: reflink and move between volumes; move within the package's own
    /// claim (one mount, so rename(2) can), without a change journal.
    static func checkMethod(_ method: String, _ spec: MigrationSpec, _ errors: inout [ValidationError]) {
        let field = "spec.fileSync.method"
        guard ["copy", "reflink", "move"].contains(method) else {
            errors.append(ValidationError(field, "\"\(method)\" is not one of copy, reflink, move; leave it out to reflink where the filesystem can and copy elsewhere"))
            return
        }
        guard method != "copy" else { return }
        for (i, f) in (spec.files ?? []).enumerated() where f.from.bucket != nil || f.to.s3 != nil {
            errors.append(ValidationError(field, "\(method) works between volumes, but spec.files[\(i)] (\(f.name)) has a bucket side; leave the method out, or use copy"))
        }
        guard method == "move" else { return }
        if spec.fileSync?.journal == true {
            errors.append(ValidationError("spec.fileSync.journal", "a change journal would record the move itself as changes; with method move, leave journal out"))
        }
        guard let claim = spec.package.persistentVolumeClaim else {
            errors.append(ValidationError(field, "move renames within one volume: put the package on the target's claim (spec.package.persistentVolumeClaim), or use reflink or copy"))
            return
        }
        let package = (spec.package.subPath ?? "").split(separator: "/").filter { $0 != "." }
        for (i, f) in (spec.files ?? []).enumerated() where f.to.s3 == nil {
            guard f.to.persistentVolumeClaim == claim else {
                errors.append(ValidationError("spec.files[\(i)].to.persistentVolumeClaim", "method move renames within one volume, but \(f.to.persistentVolumeClaim ?? "nothing") is not the package's claim \(claim); use reflink or copy (spec.fileSync.method)"))
                continue
            }
            // One claim: the target is a folder of it apart from the package (and its folder).
            let to = (f.to.subPath ?? "").split(separator: "/").filter { $0 != "." }
            let from = package + (f.from.folder ?? "").split(separator: "/").filter { $0 != "." }
            if to.isEmpty || to.starts(with: from) || from.starts(with: to) {
                errors.append(ValidationError("spec.files[\(i)].to.subPath", "with method move the target is a folder of the package's claim \(claim): give a subPath that neither holds the package's folder \(from.joined(separator: "/")) nor lies inside it"))
            }
        }
    }

    static func checkRange(_ value: Int?, _ range: ClosedRange<Int>, _ field: String, _ errors: inout [ValidationError]) {
        if let v = value, !range.contains(v) {
            errors.append(ValidationError(field, "\(v) is out of range; use \(range.lowerBound)…\(range.upperBound)"))
        }
    }
}
