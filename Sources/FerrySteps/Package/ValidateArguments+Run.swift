import FerryProtocol

extension ValidateArguments {
    /// Checks the package, endpoints and volumes (``PackageValidation``).
    public func run(minFreePercent: Double = 20, checksums: Bool = true, say: (String) -> Void = { print($0) }) throws -> ValidateResult {
        let result = try PackageValidation(.init(
            packagePath: package, appVersion: appVersion, allowVersionMismatch: allowVersionMismatch,
            mysqlDatabases: databases.isEmpty ? nil : databases, clickhouseTables: tables.isEmpty ? nil : tables,
            fileFolders: folders, endpoints: endpoints, volumes: volumes, minFreePercent: minFreePercent, required: Set(required), checksums: checksums, external: external, unpack: unpack)).run()
        for n in result.notes { say("note: \(n)") }
        for p in result.parts ?? [] { say("\(p.path): \(p.verdict)\(p.reason.map { " (\($0))" } ?? "")") }
        return PackageParts.fitted(result)
    }
}
