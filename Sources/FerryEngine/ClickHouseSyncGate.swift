import FerryAPI
import FerryProtocol
import Foundation

/// ClickHouse in incremental mode: when the sync may end so the final copy runs with the old
/// application stopped. Pure.
public enum ClickHouseSyncGate {
    public enum Decision: Equatable, Sendable {
        case wait(String)
        case cutover(String)
    }

    /// The sync's last line `in step: …` (every partition copied and verified, the newest kept
    /// equal) lets a requested cutover through; a first copy still running, or a round that
    /// failed (`behind: …`), holds it back.
    public static func decide(lastLine: String?, requested: String?) -> Decision {
        guard let line = lastLine else { return .wait("waiting for the online copy to report") }
        guard line.hasPrefix("in step: ") else {
            return .wait("\(line)\(requested.map { "; cutover asked for (\($0)) waits until every partition is copied and the newest compare equal" } ?? "")")
        }
        guard let requested else {
            return .wait("\(line); stop the old application's writes, then annotate \(FerryNames.cutoverAnnotation)=now for the final copy")
        }
        return .cutover("\(line.dropFirst("in step: ".count)); \(requested): the final copy runs now")
    }
}
