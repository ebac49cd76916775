import FerryPlugin

/// The `kubectl-ferry` executable: kubectl runs it for `kubectl ferry …` when it is on PATH.
@main
enum KubectlFerryMain {
    static func main() async { await KubectlFerry.main(nil) }
}
