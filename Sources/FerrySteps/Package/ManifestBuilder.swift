import Crypto
import Foundation

/// Computes manifest entries from files already in a package (what `ferry
/// export` records, and what tests use to build packages).
public enum ManifestBuilder {
    /// sha256 (hex) of a file.
    public static func sha256(of path: String) throws -> String {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) { SHA256.hash(data: file.bytes).hexString }
    }

    /// A MySQL database entry from its dump: tables with row counts and structure digests.
    public static func mysqlEntry(dumpPath: String, relativePath: String) throws -> PackageManifest.MySQLDatabase {
        let file = try MappedFile(path: dumpPath)
        let plan = withExtendedLifetime(file) { SQLDumpScanner.scan(file.bytes) }
        guard plan.completed else { throw StepError.badPackage("\(dumpPath) has no \"-- Dump completed\" line") }
        var tables: [String: PackageManifest.MySQLTable] = [:]
        for t in plan.createdTables {
            tables[t.name] = PackageManifest.MySQLTable(rows: t.rows, structureDigest: TableStructure.digest(t.createStatement))
        }
        return PackageManifest.MySQLDatabase(dump: relativePath, tables: tables)
    }

    /// Writes `value` as pretty, key-sorted JSON.
    public static func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    }

    /// `12.0 MiB`.
    static func human(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }
}
