import FerryController
import Foundation

/// `ferry-controller`: only the controller, in a binary without the data plane,
/// KubeSim and the CLI's other commands — what the Deployment runs. It takes
/// the same flags as `ferry controller`, which is the same code.
@main
enum FerryControllerMain {
    static func main() async {
        // A parent that spawned us from a Dispatch worker thread passes on a mask that
        // blocks SIGTERM and SIGINT; unblock them so a graceful shutdown is possible.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        await ControllerCommand.runAsRoot()
    }
}
