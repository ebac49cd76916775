/// The flag syntax both sides of a step share: `--name value` (or `--name=value` when the value
/// starts with `-`), repeated for lists, bare `--name` for a flag. The controller writes it with
/// ``ArgvWriter``; ``ArgvReader`` reads it back, so a test can round-trip every argument struct.
public struct ArgvWriter: Sendable {
    public private(set) var argv: [String]

    public init(_ command: [String]) { argv = command }

    public mutating func option(_ name: String, _ value: String) {
        if value.hasPrefix("-") { argv.append("--\(name)=\(value)") } else { argv += ["--\(name)", value] }
    }

    public mutating func option(_ name: String, _ value: String?) { if let value { option(name, value) } }
    public mutating func option(_ name: String, _ value: Int) { option(name, String(value)) }
    public mutating func option(_ name: String, _ value: Int?) { if let value { option(name, String(value)) } }
    public mutating func options(_ name: String, _ values: [String]) { for v in values { option(name, v) } }
    /// A count where 0 means auto (`--parallelism auto`).
    public mutating func count(_ name: String, _ value: Int) { option(name, CountArgument.spell(value)) }
    public mutating func flag(_ name: String, _ on: Bool) { if on { argv.append("--\(name)") } }
}

/// Why an argv does not read as a step's arguments, naming the flag.
public struct ArgvError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Reads argv written by ``ArgvWriter``: every flag must be one the step knows, every option
/// must have its value, single options appear at most once.
public struct ArgvReader: Sendable {
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// `command` is the leading words (`restore mysql`); `options` and `flags` the names it knows.
    public init(_ argv: [String], command: [String], options: Set<String>, flags known: Set<String> = []) throws {
        guard argv.starts(with: command) else {
            throw ArgvError("expected \(command.joined(separator: " ")), got \(argv.prefix(command.count).joined(separator: " "))")
        }
        var rest = argv.dropFirst(command.count)[...]
        while let word = rest.popFirst() {
            guard word.hasPrefix("--"), word.count > 2 else { throw ArgvError("unexpected argument \(word)") }
            var name = String(word.dropFirst(2))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if known.contains(name) {
                guard inline == nil else { throw ArgvError("--\(name) takes no value") }
                flags.insert(name)
            } else if options.contains(name) {
                guard let value = inline ?? rest.popFirst() else { throw ArgvError("--\(name) needs a value") }
                values[name, default: []].append(value)
            } else {
                throw ArgvError("unknown option --\(name)")
            }
        }
    }

    public func optional(_ name: String) throws -> String? {
        let all = values[name] ?? []
        guard all.count <= 1 else { throw ArgvError("--\(name) is given \(all.count) times") }
        return all.first
    }

    public func required(_ name: String) throws -> String {
        guard let v = try optional(name) else { throw ArgvError("--\(name) is required") }
        return v
    }

    public func int(_ name: String) throws -> Int? {
        guard let text = try optional(name) else { return nil }
        guard let v = Int(text) else { throw ArgvError("--\(name) \(text) is not a whole number") }
        return v
    }

    public func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }
    /// A count where `auto` reads as 0.
    public func count(_ name: String, default value: Int) throws -> Int {
        guard let text = try optional(name) else { return value }
        guard let v = CountArgument.parse(text) else { throw ArgvError("--\(name) \(text) is neither a whole number nor auto") }
        return v
    }
    public func list(_ name: String) -> [String] { values[name] ?? [] }
    public func flag(_ name: String) -> Bool { flags.contains(name) }

    /// `left=right`, split at the first `=`; both sides non-empty unless allowed.
    public static func pair(_ text: String, option: String, shape: String, emptyRight: Bool = false) throws -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex, emptyRight || text.index(after: eq) != text.endIndex else {
            throw ArgvError("--\(option) \(text) must be \(shape)")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
}

/// One Job step's arguments: what the controller passes and the step binary reads. `argv`
/// starts with the subcommand (`restore mysql`); `init(argv:)` reads exactly that back.
public protocol StepArguments: Equatable, Sendable {
    /// The subcommand words, e.g. `["restore", "mysql"]`.
    static var command: [String] { get }
    var argv: [String] { get }
    init(argv: [String]) throws
}

/// Where every step writes its report (the container's termination message file).
public enum TerminationMessage {
    public static let path = "/dev/termination-log"
}

/// A count option that can be `auto`, spelled 0 inside the argument structs.
public enum CountArgument {
    public static func parse(_ text: String) -> Int? { text == "auto" ? 0 : Int(text) }
    public static func spell(_ value: Int) -> String { value == 0 ? "auto" : String(value) }
}
