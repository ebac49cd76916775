/// The mover's control endpoint, as the controller and `ferry mover files` both use it:
/// every request carries `Authorization: Bearer <token>`.
public enum MoverAPI {
    /// GET: a ``MoverProgress`` as JSON.
    public static let progress = "/progress"
    /// POST, empty body.
    public static let pause = "/pause"
    /// POST, empty body.
    public static let resume = "/resume"
    /// POST, body: bytes per second as decimal text (0 = unlimited).
    public static let bandwidth = "/bandwidth"
    /// GET, no token needed.
    public static let health = "/healthz"
    /// POST, empty body: a watching mover (`--watch`) runs its final pass from the journals and ends.
    public static let final = "/final"
}

/// What the mover is doing.
public enum MoverState: String, Codable, Sendable {
    case scanning, copying, paused, waitingForWindow, verifying, done, failed
    /// The first pass is done; the journals record changes until the final pass is asked for.
    case watching
}

/// The progress document served on GET ``MoverAPI/progress``.
public struct MoverProgress: Codable, Sendable, Equatable {
    public var state: MoverState
    public var filesDone: Int64
    public var filesTotal: Int64
    public var filesCopied: Int64
    public var bytesDone: Int64
    public var bytesTotal: Int64
    public var bytesCopied: Int64
    /// Whether the totals are final (the counting scan has finished).
    public var totalsFinal: Bool
    public var bytesPerSecond: Int64
    public var etaSeconds: Int64?
    public var percent: Double
    public var bandwidth: Int64
    public var errorCount: Int
    public var errors: [String]
    public var seconds: Double
    /// The change journals of the sources, while watching and after the final pass.
    public var journals: [JournalReport]?
    /// A watching mover's first pass, complete and verified.
    public var firstPass: FileSyncResult?

    public init(state: MoverState, filesDone: Int64, filesTotal: Int64, filesCopied: Int64, bytesDone: Int64, bytesTotal: Int64, bytesCopied: Int64, totalsFinal: Bool, bytesPerSecond: Int64, etaSeconds: Int64? = nil, percent: Double, bandwidth: Int64, errorCount: Int, errors: [String], seconds: Double, journals: [JournalReport]? = nil, firstPass: FileSyncResult? = nil) {
        self.journals = journals
        self.firstPass = firstPass
        self.state = state
        self.filesDone = filesDone
        self.filesTotal = filesTotal
        self.filesCopied = filesCopied
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.bytesCopied = bytesCopied
        self.totalsFinal = totalsFinal
        self.bytesPerSecond = bytesPerSecond
        self.etaSeconds = etaSeconds
        self.percent = percent
        self.bandwidth = bandwidth
        self.errorCount = errorCount
        self.errors = errors
        self.seconds = seconds
    }
}

