import ArgumentParser
import FerryProtocol
import FerrySteps

/// `--package`: the backup package's top folder.
struct PackageOption: ParsableArguments {
    @Option(help: "The backup package's top folder.")
    var package: String
}

/// `--credentials-dir`: a mounted Secret's keys as files. Credentials never go on the command line.
struct CredentialsOption: ParsableArguments {
    @Option(help: "Folder with the credentials Secret's keys as files.")
    var credentialsDir: String?
}

/// Where the step's report goes.
struct ResultOptions: ParsableArguments {
    @Option(help: "File for the JSON report (the container's termination message).")
    var resultFile: String = TerminationMessage.path
}

/// How to reach the brokers, shared by `restore kafka` and `export kafka`.
struct KafkaConnectionOptions: ParsableArguments {
    @Option(help: "Brokers, host:port[,host:port…].")
    var bootstrap: String
    @Flag(help: "Reach the brokers over TLS (trusts ca.crt from --credentials-dir or --ca-file, else the system's roots).")
    var tls = false
    @Option(help: "PEM CA file to trust (implies --tls).")
    var caFile: String?
    @Option(help: "PEM client certificate, with --key-file (implies --tls).")
    var certFile: String?
    @Option(help: "PEM key of the client certificate.")
    var keyFile: String?
    @Option(help: "Name to check the brokers' certificates against (default: the host reached).")
    var tlsServerName: String?
    @Flag(help: "Do not check the brokers' certificates (tests only).")
    var tlsInsecureSkipVerify = false
    @Option(help: "Folder with the credentials Secret's keys as files: username, password, mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; default SCRAM-SHA-512), ca.crt, tls.crt, tls.key. Or FERRY_KAFKA_USERNAME / FERRY_KAFKA_PASSWORD / FERRY_KAFKA_MECHANISM. Never on the command line.")
    var credentialsDir: String?

    func security() throws -> KafkaSecurity {
        let wantsTLS = tls || caFile != nil || certFile != nil || tlsServerName != nil || tlsInsecureSkipVerify
        let t = wantsTLS ? KafkaSecurity.TLS(caFile: caFile, certFile: certFile, keyFile: keyFile, serverName: tlsServerName, insecureSkipVerify: tlsInsecureSkipVerify) : nil
        return try KafkaSecurity.load(tls: t, directory: credentialsDir)
    }

    func client() throws -> KafkaClient {
        try KafkaClient(bootstrap: bootstrap, security: try security())
    }
}

/// `--parallelism`: a number of connections, or auto (0 in the step's arguments: the restore
/// picks from the server's cores and the parts' sizes).
struct Connections: ExpressibleByArgument {
    var count: Int

    init(_ count: Int) { self.count = count }

    init?(argument: String) {
        guard let n = CountArgument.parse(argument) else { return nil }
        count = n
    }

    var defaultValueDescription: String { CountArgument.spell(count) }
}
