/// Every default of the Migration API, in one place. The CRD schema declares
/// the same values (a test compares them).
public enum MigrationDefaults {
    public static let mysqlPort = 3306
    public static let mysqlParallelism = 2
    public static let mysqlMode = "restore"
    /// `spec.mysql.external.configRef.format`.
    public static let configRefFormat = "{host}:{port}"
    /// Replicate mode: the cutover starts only while the target is at most this far behind.
    public static let cutoverMaxLagSeconds = 5
    /// Replicate mode: how long the target may take to apply the source's last transaction.
    public static let cutoverTimeoutSeconds = 30
    public static let clickhouseMaxInsertBlockSize = 1_048_576
    public static let clickhouseParallelism = 2
    /// Incremental ClickHouse copy: the newest partitions of each table compared again, and how often.
    public static let clickhouseSyncLastPartitions = 2
    public static let clickhouseSyncEverySeconds = 60
    public static let kafkaMode = "package"
    public static let redisPort = 6379
    public static let fileSyncParallelism = 8
    public static let fileSyncVerify = "size"
    public static let fileSyncStallSeconds = 300
    public static let stepStallSeconds = 300
    public static let windowTimeZone = "UTC"
}

extension MigrationSpec {
    /// The spec with every unset field that has a default filled in.
    /// `namespace` is the Migration's own (the workloads' default).
    public func withDefaults(namespace: String) -> MigrationSpec {
        var s = self
        if s.allowVersionMismatch == nil { s.allowVersionMismatch = false }
        if var w = s.workloads {
            if w.namespace == nil || w.namespace == "" { w.namespace = namespace }
            if w.leaveStoppedOnFailure == nil { w.leaveStoppedOnFailure = false }
            if w.resumeOnFailure == nil { w.resumeOnFailure = false }
            s.workloads = w
        }
        if var m = s.mysql {
            if m.port == nil { m.port = MigrationDefaults.mysqlPort }
            if m.parallelism == nil { m.parallelism = .count(MigrationDefaults.mysqlParallelism) }
            if m.optional == nil { m.optional = false }
            if m.mode == nil { m.mode = MigrationDefaults.mysqlMode }
            if m.verify == nil { m.verify = true }
            if var source = m.source {
                if source.port == nil { source.port = MigrationDefaults.mysqlPort }
                if source.snapshot == nil { source.snapshot = "live" }
                m.source = source
            }
            if var c = m.cutover {
                if c.maxLagSeconds == nil { c.maxLagSeconds = MigrationDefaults.cutoverMaxLagSeconds }
                if c.timeoutSeconds == nil { c.timeoutSeconds = MigrationDefaults.cutoverTimeoutSeconds }
                if c.killWriters == nil { c.killWriters = false }
                if var w = c.window, w.timeZone == nil {
                    w.timeZone = MigrationDefaults.windowTimeZone
                    c.window = w
                }
                m.cutover = c
            }
            s.mysql = m
        }
        if var c = s.clickhouse {
            if c.maxInsertBlockSize == nil { c.maxInsertBlockSize = MigrationDefaults.clickhouseMaxInsertBlockSize }
            if c.parallelism == nil { c.parallelism = MigrationDefaults.clickhouseParallelism }
            if c.optional == nil { c.optional = false }
            s.clickhouse = c
        }
        if var k = s.kafka {
            if k.mode == nil { k.mode = MigrationDefaults.kafkaMode }
            if k.optional == nil { k.optional = false }
            s.kafka = k
        }
        if var r = s.redis {
            if r.port == nil { r.port = MigrationDefaults.redisPort }
            s.redis = r
        }
        if s.files != nil || s.fileSync != nil {
            var f = s.fileSync ?? FileSyncSpec()
            if f.parallelism == nil { f.parallelism = MigrationDefaults.fileSyncParallelism }
            if f.verify == nil { f.verify = MigrationDefaults.fileSyncVerify }
            if f.preSync == nil { f.preSync = false }
            if f.stallSeconds == nil { f.stallSeconds = MigrationDefaults.fileSyncStallSeconds }
            if var w = f.window, w.timeZone == nil {
                w.timeZone = MigrationDefaults.windowTimeZone
                f.window = w
            }
            s.fileSync = f
        }
        if var st = s.steps, st.stallSeconds == nil {
            st.stallSeconds = MigrationDefaults.stepStallSeconds
            s.steps = st
        }
        return s
    }
}
