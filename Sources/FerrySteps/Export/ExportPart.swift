/// One part of a package, written once: a database dump, a table, the offsets, a folder, the
/// sealed config. `write` produces its files and says how the manifest records them; the
/// exporter records the part in its state file, so a rerun after a crash skips it.
struct ExportPart: Sendable {
    struct Written: Sendable {
        /// Its manifest entries (and their sha256).
        var record: @Sendable (inout PackageManifest) -> Void
        /// The progress line, e.g. `crm 12.0 MiB, 21 tables`.
        var note: String
    }

    /// The state file's key, e.g. `mysql/crm`.
    let id: String
    /// What the progress shows when an earlier run did it.
    let label: String
    let write: @Sendable () async throws -> Written
}
