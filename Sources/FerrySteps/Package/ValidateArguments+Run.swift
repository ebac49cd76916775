import FerryProtocol

extension ValidateArguments {
    /// Checks the package, endpoints and volumes (``PackageValidation``).
    public func run(minFreePercent: Double = 20, checksums: Bool = true) throws -> ValidateResult {
        try PackageValidation(.init(
            packagePath: package, appVersion: appVersion, allowVersionMismatch: allowVersionMismatch,
            mysqlDatabases: databases.isEmpty ? nil : databases, clickhouseTables: tables.isEmpty ? nil : tables,
            fileFolders: folders, endpoints: endpoints, volumes: volumes, minFreePercent: minFreePercent, required: Set(required), checksums: checksums)).run()
    }
}
