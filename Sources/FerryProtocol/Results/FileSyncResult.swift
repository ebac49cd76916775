/// What `mover files` reports when it ends (the file sync steps).
public struct FolderCount: Codable, Sendable, Equatable {
    public var sourceFiles: Int64
    public var sourceBytes: Int64
    public var targetFiles: Int64
    public var targetBytes: Int64

    public init(sourceFiles: Int64 = 0, sourceBytes: Int64 = 0, targetFiles: Int64 = 0, targetBytes: Int64 = 0) {
        self.sourceFiles = sourceFiles
        self.sourceBytes = sourceBytes
        self.targetFiles = targetFiles
        self.targetBytes = targetBytes
    }
}

public struct FileVerification: Codable, Sendable, Equatable {
    public var mode: String
    public var folders: [String: FolderCount]
    /// Files missing, of another size, or (checksum) other content in the target.
    public var differing: Int64
    public var examples: [String]
    public var removed: Int64

    public init(mode: String, folders: [String: FolderCount], differing: Int64, examples: [String], removed: Int64) {
        self.mode = mode
        self.folders = folders
        self.differing = differing
        self.examples = examples
        self.removed = removed
    }
}

public struct FileSyncResult: Codable, Sendable, Equatable {
    public var filesTotal: Int64
    public var bytesTotal: Int64
    public var filesCopied: Int64
    public var bytesCopied: Int64
    public var filesSkipped: Int64
    public var seconds: Double
    public var filesPerSecond: Int64
    public var bytesPerSecond: Int64
    public var parallelism: Int
    public var errors: [String]
    public var verify: FileVerification
    /// One per source tree with a change journal.
    public var journals: [JournalReport]?
    /// How the files reached the target: `copy`, `reflink` (every file shares the source's
    /// blocks), `reflink+copy` (some could not be cloned and were copied) or `move`.
    public var method: String?
    /// Files made as reflinks (sharing the source's blocks), or moved, counted in `filesCopied`.
    public var filesCloned: Int64?
    public var filesMoved: Int64?
    /// The share of the trees this pod copied, and the plan every shard must agree on.
    public var shard: ShardReport?

    public init(filesTotal: Int64, bytesTotal: Int64, filesCopied: Int64, bytesCopied: Int64, filesSkipped: Int64, seconds: Double, filesPerSecond: Int64, bytesPerSecond: Int64, parallelism: Int, errors: [String], verify: FileVerification) {
        self.filesTotal = filesTotal
        self.bytesTotal = bytesTotal
        self.filesCopied = filesCopied
        self.bytesCopied = bytesCopied
        self.filesSkipped = filesSkipped
        self.seconds = seconds
        self.filesPerSecond = filesPerSecond
        self.bytesPerSecond = bytesPerSecond
        self.parallelism = parallelism
        self.errors = errors
        self.verify = verify
    }
}


extension FileSyncResult {
    /// Small enough for a pod's termination message (4 KiB, where the controller reads it):
    /// the largest folders kept while their names fit about 1.2 KiB (at most `limit`), the rest
    /// summed under `(N more folders)`; 5 errors and examples of 160 characters at most (the
    /// counts stay whole).
    public func compacted(folders limit: Int = 16) -> FileSyncResult {
        var r = self
        let sorted = r.verify.folders.sorted { $0.value.sourceFiles != $1.value.sourceFiles ? $0.value.sourceFiles > $1.value.sourceFiles : $0.key < $1.key }
        var fits = 0, size = 0
        while fits < sorted.count, fits < limit - 1, size + sorted[fits].key.utf8.count + 100 <= 1200 {
            size += sorted[fits].key.utf8.count + 100
            fits += 1
        }
        if fits < sorted.count {
            var kept = Dictionary(uniqueKeysWithValues: sorted.prefix(fits).map { ($0.key, $0.value) })
            var rest = FolderCount()
            for (_, v) in sorted.dropFirst(fits) {
                rest.sourceFiles += v.sourceFiles
                rest.sourceBytes += v.sourceBytes
                rest.targetFiles += v.targetFiles
                rest.targetBytes += v.targetBytes
            }
            kept["(\(sorted.count - fits) more folders)"] = rest
            r.verify.folders = kept
        }
        r.errors = Array(r.errors.prefix(5)).map { String($0.prefix(160)) }
        r.verify.examples = Array(r.verify.examples.prefix(5)).map { String($0.prefix(160)) }
        return r
    }
}

extension FileSyncResult: StepResult {
    public var summary: String { "files \(filesTotal), copied \(filesCopied), skipped \(filesSkipped)" }
}

/// The change journal of a source tree, as the watcher and the final pass see it
/// (`status.files.journal`).
public struct JournalReport: Codable, Sendable, Equatable, Hashable {
    /// The source folder watched.
    public var source: String
    /// fanotify or inotify.
    public var mechanism: String?
    /// Whether the journal holds every change since the first pass began.
    public var trusted: Bool
    /// Paths recorded (each once).
    public var paths: Int64
    /// Why it is not trusted, or why the final pass walked the whole tree after all.
    public var reason: String?
    /// When unrecorded changes may have begun (RFC 3339).
    public var gapSince: String?
    /// The final pass: `journal` (only the recorded paths) or `walk` (the whole tree).
    public var pass: String?
    /// Untouched files compared as a check, and how many differed.
    public var sampled: Int?
    public var sampleDiffering: Int?

    public init(source: String, mechanism: String? = nil, trusted: Bool, paths: Int64, reason: String? = nil, gapSince: String? = nil, pass: String? = nil, sampled: Int? = nil, sampleDiffering: Int? = nil) {
        self.source = source
        self.mechanism = mechanism
        self.trusted = trusted
        self.paths = paths
        self.reason = reason
        self.gapSince = gapSince
        self.pass = pass
        self.sampled = sampled
        self.sampleDiffering = sampleDiffering
    }
}

/// A transfer pod's share (`--shard I/N`): how the trees were split, and the plan's digest,
/// the same on every shard that scanned the same trees.
public struct ShardReport: Codable, Sendable, Equatable, Hashable {
    public var index: Int
    public var count: Int
    /// `folders` (whole top-level folders per shard) or `hash` (each file by its path).
    public var mode: String
    public var digest: String
    public init(index: Int, count: Int, mode: String, digest: String) {
        self.index = index
        self.count = count
        self.mode = mode
        self.digest = digest
    }
}
