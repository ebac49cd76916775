/// `ferry restore config`: decrypt the package's sealed config with the key in `keyDir` (a
/// mounted Secret), or decode the old tool's base64 JSON config (no key), and store it in the
/// Secret `secret`, through the API.
public struct ConfigArguments: StepArguments {
    public static let command = ["restore", "config"]
    public var package: String
    /// nil: no key (the old tool's config is not sealed).
    public var keyDir: String?
    public var secret: String
    /// nil: the service account's (or kubeconfig's) namespace.
    public var namespace: String?
    public var resultFile: String

    public init(package: String, keyDir: String?, secret: String, namespace: String? = nil, resultFile: String = TerminationMessage.path) {
        self.package = package
        self.keyDir = keyDir
        self.secret = secret
        self.namespace = namespace
        self.resultFile = resultFile
    }

    public var argv: [String] {
        var w = ArgvWriter(Self.command)
        w.option("package", package)
        w.option("key-dir", keyDir)
        w.option("secret", secret)
        w.option("namespace", namespace)
        w.option("result-file", resultFile)
        return w.argv
    }

    public init(argv: [String]) throws {
        let r = try ArgvReader(argv, command: Self.command, options: ["package", "key-dir", "secret", "namespace", "result-file"])
        self.init(package: try r.required("package"), keyDir: try r.optional("key-dir"), secret: try r.required("secret"),
                  namespace: try r.optional("namespace"), resultFile: try r.optional("result-file") ?? TerminationMessage.path)
    }
}
