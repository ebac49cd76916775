/// What `restore config` reports: the Secret and its key names, never values.
public struct ConfigResult: Codable, Sendable, Equatable {
    public var secret: String
    public var namespace: String
    public var keys: [String]
    /// created, updated or unchanged.
    public var action: String

    public init(secret: String, namespace: String, keys: [String], action: String) {
        self.secret = secret
        self.namespace = namespace
        self.keys = keys
        self.action = action
    }
}


extension ConfigResult: StepResult {
    public var summary: String { "Secret \(secret) \(action), keys \(keys.count)" }
}
