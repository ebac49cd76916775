/// What `restore cache` reports.
public struct CacheResult: Codable, Sendable, Equatable {
    /// "FLUSHALL" or "FLUSHDB (db 3)".
    public var command: String
    public var keysBefore: Int
    public var keysAfter: Int
    public var seconds: Double

    public init(command: String, keysBefore: Int, keysAfter: Int, seconds: Double) {
        self.command = command
        self.keysBefore = keysBefore
        self.keysAfter = keysAfter
        self.seconds = seconds
    }
}


extension CacheResult: StepResult {
    public var summary: String { "\(command): \(keysBefore) keys before, \(keysAfter) after" }
}
