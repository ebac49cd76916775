import Foundation

/// boto3, an independent S3 client, to set up and check what Ferry wrote to a bucket.
public struct Boto3: Sendable {
    public var endpoint: String
    public var accessKey: String
    public var secretKey: String

    public init(endpoint: String, accessKey: String, secretKey: String) {
        self.endpoint = endpoint
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    public init(_ swift: SwiftS3) {
        self.init(endpoint: swift.endpoint, accessKey: SwiftS3.accessKey, secretKey: SwiftS3.secretKey)
    }

    /// Runs `body` (Python, with `s3` a client) and returns its stdout; the keys travel in the environment.
    public func run(_ body: String) async throws -> String {
        let script = """
            import boto3, botocore, json, os, sys
            s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], aws_access_key_id=os.environ["S3_KEY"], aws_secret_access_key=os.environ["S3_SECRET"],
                              region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}))
            \(body)
            """
        let r = try await runCommand("/usr/bin/env", ["PYTHONPATH=\(repoRoot)/.tools/python/moto", "S3_ENDPOINT=\(endpoint)", "S3_KEY=\(accessKey)", "S3_SECRET=\(secretKey)",
                                                      "python3", "-c", script], timeout: 120)
        guard r.status == 0 else { throw TestServersError.startFailed("boto3: \(r.combined)") }
        return r.stdout
    }

    public func createBucket(_ bucket: String) async throws { _ = try await run("s3.create_bucket(Bucket=\"\(bucket)\")") }

    /// key → bytes (as text), written as objects.
    public func put(_ bucket: String, _ objects: [String: String]) async throws {
        let data = String(decoding: try Self.encoder.encode(objects), as: UTF8.self)
        _ = try await run("for k, v in json.loads(\(pythonString(data))).items(): s3.put_object(Bucket=\"\(bucket)\", Key=k, Body=v.encode())")
    }

    /// Every key under `prefix` → its bytes as text.
    public func contents(_ bucket: String, prefix: String) async throws -> [String: String] {
        let out = try await run("""
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="\(bucket)", Prefix=\(pythonString(prefix))):
                for o in page.get("Contents", []): out[o["Key"]] = s3.get_object(Bucket="\(bucket)", Key=o["Key"])["Body"].read().decode("utf-8", "replace")
            print(json.dumps(out))
            """)
        return try JSONDecoder().decode([String: String].self, from: Data(out.utf8))
    }

    /// A Python string literal of `s` (JSON's escapes are Python's, once `/` is left alone).
    func pythonString(_ s: String) -> String { String(decoding: try! Self.encoder.encode(s), as: UTF8.self) }

    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = .withoutEscapingSlashes
        return e
    }
}
