import FerryOperator
import Foundation
import TestSupport
import Testing

/// The image is written twice: the Dockerfile (for users with Docker) and scripts/build-image.sh
/// (`make image`: mmdebstrap and buildah, what this project builds and smoke-tests). These read
/// what each says the image is, and name every difference.
enum ImageDefinition {
    struct Image: Equatable {
        var suite = "", packages: [String] = [], trim = "", user = "", entrypoint: [String] = [], cmd: [String] = []
        var binaries: [String] = [], links: [String] = [], buildFlags: [String] = []
    }

    static func fromDockerfile(_ text: String) -> Image {
        var image = Image()
        let lines = text.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").map(String.init)
        for line in lines {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let first = words.first else { continue }
            switch first {
            case "FROM" where words.count == 2:
                image.suite = words[1].split(separator: ":").last.map { String($0.split(separator: "-")[0]) } ?? ""
            case "USER": image.user = words.dropFirst().joined()
            case "ENTRYPOINT": image.entrypoint = json(words.dropFirst().joined(separator: " "))
            case "CMD": image.cmd = json(words.dropFirst().joined(separator: " "))
            case "COPY" where words.contains("image/trim.sh"): image.trim = "image/trim.sh"
            case "COPY" where words.last == "/usr/local/bin/":
                image.binaries = words.dropFirst().filter { $0.hasPrefix("/out/") }.map { String($0.dropFirst(5)) }
            case "RUN" where words.count >= 5 && words[1] == "ln" && words[2] == "-s":
                // RUN ln -s ferry /usr/local/bin/NAME: NAME runs ferry.
                if words[3] == "ferry", words[4].hasPrefix("/usr/local/bin/") { image.links.append(String(words[4].dropFirst(15))) }
            case "RUN":
                if let i = words.firstIndex(of: "--no-install-recommends") {
                    image.packages = Array(words[(i + 1)...].prefix { $0 != "&&" }).sorted()
                }
                // Every product's flags; one list when all agree.
                let flags = words.indices.filter { words[$0] == "--product" && $0 + 2 <= words.count }
                    .map { Array(words[($0 + 2)...].prefix { $0 != "&&" }) }
                if let f = flags.first { image.buildFlags = flags.allSatisfy { $0 == f } ? f : ["(differ between products)"] }
            default: break
            }
        }
        return image
    }

    static func fromScript(_ text: String) -> Image {
        var vars: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let s = String(line)
            guard let eq = s.firstIndex(of: "="), s[..<eq].allSatisfy({ $0.isUppercase || $0 == "_" }), !s[..<eq].isEmpty else { continue }
            var value = String(s[s.index(after: eq)...])
            if let q = value.first, q == "\"" || q == "'", value.last == q, value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            vars[String(s[..<eq])] = value
        }
        var image = Image()
        image.suite = vars["SUITE"] ?? ""
        image.packages = (vars["PACKAGES"] ?? "").split(separator: " ").map(String.init).sorted()
        image.user = vars["IMAGE_USER"] ?? ""
        image.entrypoint = json(vars["ENTRYPOINT"] ?? "")
        image.cmd = (vars["CMD"] ?? "").split(separator: " ").map(String.init)
        image.binaries = (vars["BINARIES"] ?? "").split(separator: " ").map(String.init)
        image.links = (vars["LINKS"] ?? "").split(separator: " ").map(String.init)
        image.trim = text.contains("--customize-hook=\"sh '$root/image/trim.sh'") ? "image/trim.sh" : ""
        if let build = text.split(separator: "\n").first(where: { $0.contains("swift build -c release --product \"$product\"") }) {
            let words = build.split(separator: " ").map(String.init)
            if let i = words.firstIndex(of: "--product") { image.buildFlags = Array(words[(i + 2)...].prefix { $0 != "--scratch-path" }) }
        }
        return image
    }

    static func json(_ text: String) -> [String] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] ?? []
    }

    /// What differs, by name; empty when both describe one image.
    static func differences(_ docker: Image, _ script: Image) -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { out.append("\(name): Dockerfile \(a), build-image.sh \(b)") } }
        check("Debian suite", docker.suite, script.suite)
        check("packages", docker.packages, script.packages)
        check("trimming", docker.trim, script.trim)
        check("user", docker.user, script.user)
        check("entrypoint", docker.entrypoint, script.entrypoint)
        check("command", docker.cmd, script.cmd)
        check("binaries", docker.binaries, script.binaries)
        check("links", docker.links, script.links)
        check("build flags", docker.buildFlags, script.buildFlags)
        return out
    }
}

@Suite("The image: the Dockerfile and make image describe the same image")
struct ImageDefinitionTests {
    let dockerfile = (try? String(contentsOfFile: repoRoot + "/Dockerfile", encoding: .utf8)) ?? ""
    let script = (try? String(contentsOfFile: repoRoot + "/scripts/build-image.sh", encoding: .utf8)) ?? ""

    @Test("same Debian suite, packages, trimming, user, entrypoint, command, binaries, links and build flags; the user is the one Ferry's pods run as")
    func same() {
        let docker = ImageDefinition.fromDockerfile(dockerfile), made = ImageDefinition.fromScript(script)
        #expect(ImageDefinition.differences(docker, made) == [])
        // Read, not defaulted: an empty parse would make the comparison pass on nothing.
        #expect(docker.suite == "bookworm")
        #expect(docker.packages.contains("mariadb-client") && docker.packages.contains("zstd"))
        #expect(docker.trim == "image/trim.sh")
        #expect(docker.entrypoint == ["/usr/local/bin/ferry"] && docker.cmd == ["controller"])
        #expect(docker.binaries == ["ferry"] && docker.links == ["ferry-controller"])
        #expect(docker.buildFlags.contains("-Osize") && docker.buildFlags.contains("--static-swift-stdlib"))
        #expect(docker.user == "\(RestrictedPod.uid):\(RestrictedPod.uid)")
        // The Deployment runs a name the image holds.
        let deployment = (try? String(contentsOfFile: repoRoot + "/manifests/deployment.yaml", encoding: .utf8)) ?? ""
        #expect(deployment.contains("command: [/usr/local/bin/ferry-controller]"))
    }

    @Test("a change to either file alone is named: another user, a package left out, a binary not copied, other build flags")
    func drift() {
        let made = ImageDefinition.fromScript(script)
        let cases: [(String, String, String)] = [
            ("USER 65532:65532", "USER 1000:1000", "user"),
            ("mariadb-client zstd", "mariadb-client", "packages"),
            ("COPY --from=build /out/ferry /usr/local/bin/", "COPY --from=build /out/ferry /out/ferry-controller /usr/local/bin/", "binaries"),
            ("RUN ln -s ferry /usr/local/bin/ferry-controller", "RUN ln -s ferry /usr/local/bin/ferry-ctl", "links"),
            ("-Xlinker -no-pie -Xlinker -s \\\n", "-Xlinker -s \\\n", "build flags"),
            ("CMD [\"controller\"]", "CMD [\"version\"]", "command"),
            ("COPY image/trim.sh", "COPY other/trim.sh", "trimming"),
        ]
        for (from, to, name) in cases {
            #expect(dockerfile.contains(from), "the Dockerfile no longer holds \(from)")
            let changed = ImageDefinition.fromDockerfile(dockerfile.replacingOccurrences(of: from, with: to))
            #expect(ImageDefinition.differences(changed, made).contains { $0.hasPrefix(name + ":") }, "\(name)")
        }
        let scriptChanged = ImageDefinition.fromScript(script.replacingOccurrences(of: "IMAGE_USER=\"65532:65532\"", with: "IMAGE_USER=\"0:0\""))
        #expect(ImageDefinition.differences(ImageDefinition.fromDockerfile(dockerfile), scriptChanged).contains { $0.hasPrefix("user:") })
    }
}
