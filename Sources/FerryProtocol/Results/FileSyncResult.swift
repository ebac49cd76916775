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


extension FileSyncResult: StepResult {
    public var summary: String { "files \(filesTotal), copied \(filesCopied), skipped \(filesSkipped)" }
}
