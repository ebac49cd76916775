extension StringProtocol {
    /// The text without leading and trailing white space, using the standard
    /// library's Unicode properties only (Foundation's CharacterSet would load
    /// ICU data: megabytes of memory in a small controller).
    public var trimmedWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        let last = lastIndex(where: { !$0.isWhitespace })!
        return String(self[first...last])
    }
}
