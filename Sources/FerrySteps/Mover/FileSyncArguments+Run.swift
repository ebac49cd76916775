import FerryProtocol
import Foundation
import ProcessSpawn

extension FileSyncArguments {
    /// Copies each tree into its target, one after another with one progress, serving the
    /// control endpoint on `controlHost` (or the address in `controlHostEnv`) while it runs.
    /// Fails when a file could not be copied or differs after the copy.
    public func run(controlHost: String = "0.0.0.0") async throws -> FileSyncResult {
        guard parallelism >= 1 && parallelism <= 256 else { throw StepError.configuration("--parallelism must be between 1 and 256 (spec.fileSync.parallelism)") }
        guard verify == "size" || verify == "checksum" else { throw StepError.configuration("--verify must be size or checksum (spec.fileSync.verify)") }
        let control = MoverControl(bandwidth: Int64(bandwidth), window: try window.map { try DailyWindow(start: $0.start, end: $0.end, timeZone: $0.timeZone) })
        if startPaused { control.pause() }
        if controlPort >= 0 {
            let host = controlHostEnv.flatMap { ProcessInfo.processInfo.environment[$0] }.flatMap { $0.isEmpty ? nil : $0 } ?? controlHost
            var token: String?
            if let file = controlTokenFile {
                guard let t = Credentials.read(file), !t.isEmpty else {
                    throw StepError.configuration("--control-token-file \(file) cannot be read or is empty; the control endpoint will not run without its token")
                }
                token = t
            }
            let server = try MoverControlServer(control: control, host: host, port: controlPort, token: token)
            server.start()
            print("control endpoint on \(host):\(server.port)\(token == nil ? " (no token)" : " (bearer token required)")")
        }
        guard !copies.isEmpty else { throw StepError.configuration("give --source and --target, or --copy SOURCE=TARGET") }
        let pairs = copies.map { ($0.source, $0.target) }
        for side in pairs.flatMap({ [$0.0, $0.1] }) where side.hasPrefix("s3://") && S3URL(side) == nil {
            throw StepError.configuration("--copy: \(side) is not s3://bucket/prefix with a bucket name S3 takes (3–63 lowercase letters, digits, - and .)")
        }
        if let both = pairs.first(where: { $0.0.hasPrefix("s3://") && $0.1.hasPrefix("s3://") }) {
            throw StepError.configuration("--copy \(both.0)=\(both.1): bucket to bucket is not supported yet; one side must be a folder")
        }
        let buckets = try pairs.map { try S3URL($0.1).map { try bucketClient($0) } }
        let sources = try pairs.map { try S3URL($0.0).map { try bucketClient($0) } }
        // Copies with a bucket side count their own totals as they list and walk.
        let roots = pairs.filter { !$0.0.hasPrefix("s3://") && !$0.1.hasPrefix("s3://") }.map { RawPath($0.0) }
        let partSize = s3?.partSize ?? 8 << 20, parts = s3?.parts ?? 4
        let (parallelism, checksum, delete) = (parallelism, verify == "checksum", delete)
        let outcome = try await ProcessSpawn.onThread { () throws -> FileSyncResult in
            let scanner = Thread { FileMover.countTotals(roots, control: control) }
            scanner.start()
            var results: [FileSyncResult] = []
            for (((from, to), bucket), source) in zip(zip(pairs, buckets), sources) {
                if let (client, prefix) = source {
                    results.append(try BucketToFolder(client: client, prefix: prefix, target: RawPath(to), parallelism: parallelism, partSize: partSize, checksum: checksum, control: control).run())
                    continue
                }
                if let (client, prefix) = bucket {
                    results.append(try FolderToBucket(source: RawPath(from), client: client, prefix: prefix, parallelism: parallelism, partSize: partSize, partsAtOnce: parts,
                                                      delete: delete, checksum: checksum, control: control).run())
                    continue
                }
                var options = FileMover.Options(source: from, target: to, parallelism: parallelism, checksum: checksum, delete: delete)
                options.countTotals = false
                results.append(try FileMover(options: options, control: control).run())
            }
            while !scanner.isFinished { usleep(10_000) }
            return FileSyncResult.combined(results, pairs: pairs.map(\.1))
        }
        if !outcome.errors.isEmpty || outcome.verify.differing > 0 {
            let list = outcome.errors.prefix(20).joined(separator: "; ")
            throw StepError.target("\(outcome.errors.count) files could not be copied (\(list)); \(outcome.verify.differing) differ after the copy (\(outcome.verify.examples.prefix(5).joined(separator: "; ")))")
        }
        return outcome
    }

    /// The client and key prefix of an `s3://bucket/prefix` side, from `--s3-*` and the mounted credentials.
    func bucketClient(_ url: S3URL) throws -> (S3Client, String) {
        guard let s3 else { throw StepError.configuration("\(url.text) needs --s3-endpoint (spec.files[].to.s3.endpoint)") }
        guard URL(string: s3.endpoint)?.host != nil, s3.endpoint.hasPrefix("http://") || s3.endpoint.hasPrefix("https://") else {
            throw StepError.configuration("--s3-endpoint \"\(s3.endpoint)\" must be an http(s) URL, e.g. https://s3.example:443 (spec.files[].to.s3.endpoint)")
        }
        guard s3.partSize >= 5 << 20, s3.partSize <= 5 << 30 else { throw StepError.configuration("--s3-part-size must be between 5 MiB and 5 GiB (S3's limits)") }
        guard (1...64).contains(s3.parts) else { throw StepError.configuration("--s3-parts must be between 1 and 64") }
        let env = ProcessInfo.processInfo.environment
        let access = s3.credentialsDir.flatMap { Credentials.read("\($0)/AWS_ACCESS_KEY_ID") } ?? env["AWS_ACCESS_KEY_ID"]
        let secret = s3.credentialsDir.flatMap { Credentials.read("\($0)/AWS_SECRET_ACCESS_KEY") } ?? env["AWS_SECRET_ACCESS_KEY"]
        guard let access, !access.isEmpty, let secret, !secret.isEmpty else {
            throw StepError.configuration("no S3 credentials for \(url.text): the Secret needs keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (spec.files[].to.s3.credentialsSecret)")
        }
        let client = S3Client(location: S3Location(endpoint: s3.endpoint, region: s3.region, bucket: url.bucket, prefix: url.prefix, pathStyle: s3.pathStyle),
                              credentials: .init(accessKey: access, secretKey: secret), http: .shared)
        return (client, url.prefix)
    }
}

/// `s3://bucket/prefix`: a side of a copy in an object store. Pure.
struct S3URL: Equatable {
    var bucket: String
    var prefix: String
    var text: String { "s3://\(bucket)/\(prefix)" }

    /// nil when `s` is not an s3:// URL; a bucket name S3 would refuse is nil too (the caller says why).
    init?(_ s: String) {
        guard s.hasPrefix("s3://") else { return nil }
        let rest = s.dropFirst(5)
        let bucket = rest.prefix { $0 != "/" }
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }) else { return nil }
        self.bucket = String(bucket)
        self.prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
    }
}
