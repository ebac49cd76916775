import FerryCLI

/// The `ferry` executable: every command lives in FerryCLI (so tests can parse what the
/// controller writes exactly as the binary does).
@main
enum FerryMain {
    static func main() async { await Ferry.entry() }
}
