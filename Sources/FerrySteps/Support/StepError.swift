/// Why a restore step failed, phrased for the person reading
/// `kubectl describe migration`: what, where, and what to do.
public enum StepError: Error, CustomStringConvertible, Equatable {
    /// The backup package is unusable; nothing was touched.
    case badPackage(String)
    /// A target server refused or failed an operation.
    case target(String)
    /// The data arrived but does not match what the package says.
    case verification(String)
    /// The target refused the package's rows (a duplicate key, a value that does not fit its
    /// column): loading them again fails the same way.
    case badData(String)
    /// Bad options or missing credentials.
    case configuration(String)
    /// Local I/O failed.
    case io(String)
    /// Failed in the checks, before anything on the target was dropped or written.
    indirect case beforeChange(StepError)

    /// Whether the target is provably as it was: bad packages and bad options are found
    /// before anything is touched; other failures may come after a change.
    public var changedNothing: Bool {
        switch self {
        case .badPackage, .configuration, .beforeChange: return true
        case .target, .verification, .badData, .io: return false
        }
    }

    /// Whether trying again could succeed: a bad package, bad options or rows the target refuses stay bad.
    public var isRetryable: Bool {
        switch self {
        case .badPackage, .configuration, .badData: return false
        case .target, .verification, .io: return true
        case .beforeChange(let e): return e.isRetryable
        }
    }

    public var description: String {
        switch self {
        case .badPackage(let m): return "bad package: \(m)"
        case .target(let m): return m
        case .verification(let m): return "verification failed: \(m)"
        case .badData(let m): return "the target refused the package's rows: \(m)"
        case .configuration(let m): return m
        case .io(let m): return m
        case .beforeChange(let e): return e.description
        }
    }
}

extension StepError {
    /// Runs checks that change nothing: any failure in them says so (``beforeChange(_:)``).
    static func unchanged<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as StepError {
            throw e.changedNothing ? e : .beforeChange(e)
        } catch {
            throw StepError.beforeChange(.target("\(error)"))
        }
    }
}
