import FerryCLI
import Testing

@Suite("ferry called as ferry-controller is the controller (the image's link)")
struct InvocationTests {
    @Test("the name it was started under decides, whatever the folder; anything else is ferry")
    func byName() {
        #expect(Ferry.invokedAs("/usr/local/bin/ferry-controller") == .controller)
        #expect(Ferry.invokedAs("ferry-controller") == .controller)
        #expect(Ferry.invokedAs("./.build/debug/ferry-controller") == .controller)
        #expect(Ferry.invokedAs("/usr/local/bin/ferry") == .ferry)
        #expect(Ferry.invokedAs("ferry") == .ferry)
        #expect(Ferry.invokedAs("") == .ferry)
        #expect(Ferry.invokedAs("/") == .ferry)
        // Only the exact name: a folder called ferry-controller, or a longer name, is not it.
        #expect(Ferry.invokedAs("/opt/ferry-controller/ferry") == .ferry)
        #expect(Ferry.invokedAs("/usr/bin/ferry-controller-old") == .ferry)
    }
}
