import ArgumentParser
import FerryProtocol
import FerrySteps
import Foundation

/// Runs a step body and turns its outcome into the step report (``StepReport``) and the exit code.
func reportStep<R: Encodable>(_ resultFile: String, _ body: () async throws -> R) async throws {
    // Progress lines reach the pod log (and kubectl logs) as they are printed.
    lineBufferedOutput()
    do {
        let outcome = try await body()
        StepReport.write(StepReport.success(outcome), to: resultFile)
    } catch {
        let stepError = error as? StepError
        StepReport.write(StepReport.failure("\(error)", retryable: stepError?.isRetryable ?? true, changed: !(stepError?.changedNothing ?? false)), to: resultFile)
        throw ExitCode(1)
    }
}

/// One result as an object (a step restores one table), several as a list.
struct OneOrMany<T: Encodable>: Encodable {
    var items: [T]
    init(_ items: [T]) { self.items = items }
    func encode(to encoder: Encoder) throws {
        if items.count == 1 { try items[0].encode(to: encoder) } else { try items.encode(to: encoder) }
    }
}

/// Makes stdout line-buffered (it is fully buffered when it is a pipe or a file).
func lineBufferedOutput() {
    // glibc's `stdout` variable, looked up (Swift 6 refuses the mutable C global).
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "stdout") else { return }
    let file = symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee
    setvbuf(file, nil, _IOLBF, 0)
}
