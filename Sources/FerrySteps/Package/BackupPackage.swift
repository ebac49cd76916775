import Foundation
import KubeClient

/// A backup package on disk, in Ferry's layout (`ferry-package.json` +
/// `manifest.json`) or the legacy exporter's (`<db>.sql` files, `files/`,
/// `plugin/`, `conf/`, `info.json`). Opening reads what is there and notes
/// what is missing; it never guesses: an unknown layout or unreadable
/// metadata is an error naming the file.
public struct BackupPackage: Sendable {
    public enum Layout: String, Sendable, Codable {
        case ferry
        case legacy
    }

    public let root: String
    public let layout: Layout
    public let metadata: PackageMetadata
    /// Ferry layout only.
    public let manifest: PackageManifest?
    /// What a reader should know (legacy layout, missing folders, ...).
    public let notes: [String]

    /// The legacy exporter's well-known folders.
    public static let legacyFolders = ["files", "plugin", "conf"]
    /// Legacy folders whose format Ferry does not read, with what they hold.
    public static let legacyUnreadFolders = [("kafka-backup", "Kafka offsets")]
    /// The old tool's ClickHouse dumps: `clickhouse-backup/<db>.<table>.zst`.
    public static let legacyClickHouseFolder = "clickhouse-backup"

    public static func open(_ root: String) throws -> BackupPackage {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw StepError.badPackage("\(root) does not exist or is not a directory; check spec.package")
        }
        guard FileManager.default.isReadableFile(atPath: root), (try? FileManager.default.contentsOfDirectory(atPath: root)) != nil else {
            throw StepError.badPackage("\(root) is not readable by this pod (uid \(getuid())); fix its permissions")
        }
        let resolved = (root as NSString).resolvingSymlinksInPath
        if FileManager.default.fileExists(atPath: root + "/" + PackageFiles.metadata) {
            return try openFerry(resolved)
        }
        if FileManager.default.fileExists(atPath: root + "/" + PackageFiles.legacyInfo) {
            return try openLegacy(resolved)
        }
        throw StepError.badPackage("\(root) has neither \(PackageFiles.metadata) (Ferry layout) nor \(PackageFiles.legacyInfo) (legacy layout): missing metadata; is spec.package pointing at the package's top folder?")
    }

    static func readJSON<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try refuseSpecialFile(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StepError.badPackage("cannot read \(path)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw StepError.badPackage("\(path): missing field \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw StepError.badPackage("\(path): wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw StepError.badPackage("\(path) is not valid JSON: \(error.localizedDescription)")
        }
    }

    static func openFerry(_ root: String) throws -> BackupPackage {
        let metadata = try readJSON(PackageMetadata.self, root + "/" + PackageFiles.metadata)
        guard metadata.formatVersion == 1 else {
            throw StepError.badPackage("\(root)/\(PackageFiles.metadata): formatVersion \(metadata.formatVersion) is not supported (this Ferry reads 1); upgrade Ferry")
        }
        guard FileManager.default.fileExists(atPath: root + "/" + PackageFiles.manifest) else {
            throw StepError.badPackage("\(root)/\(PackageFiles.manifest) is missing; the package cannot be verified. Re-export it")
        }
        let manifest = try readJSON(PackageManifest.self, root + "/" + PackageFiles.manifest)
        let package = BackupPackage(root: root, layout: .ferry, metadata: metadata, manifest: manifest, notes: [])
        // Every path the manifest names must stay inside the package.
        var named: [String] = manifest.mysql.values.flatMap { [$0.dump] + ($0.parts?.map(\.file) ?? []) }
        named += manifest.clickhouse.values.flatMap { [$0.schema, $0.data] + ($0.parts?.map(\.file) ?? []) }
        named += Array(manifest.sha256.keys) + [manifest.kafkaOffsets, manifest.config?.sealed].compactMap { $0 }
        for path in named { _ = try package.resolve(path) }
        for db in metadata.contents.mysql where manifest.mysql[db] == nil {
            throw StepError.badPackage("\(root)/\(PackageFiles.manifest) has no entry for MySQL database \(db) listed in \(PackageFiles.metadata)")
        }
        for table in metadata.contents.clickhouse where manifest.clickhouse[table] == nil {
            throw StepError.badPackage("\(root)/\(PackageFiles.manifest) has no entry for ClickHouse table \(table) listed in \(PackageFiles.metadata)")
        }
        return package
    }

    static func openLegacy(_ root: String) throws -> BackupPackage {
        let infoPath = root + "/" + PackageFiles.legacyInfo
        try refuseSpecialFile(infoPath)
        guard let raw = FileManager.default.contents(atPath: infoPath) else { throw StepError.badPackage("cannot read \(infoPath)") }
        let info = try decodeLegacyInfo(Array(raw), path: infoPath)
        guard let version = ["appVersion", "app_version", "version", "productVersion"].lazy.compactMap({ info[$0]?.stringValue }).first else {
            throw StepError.badPackage("\(infoPath) has no version (looked for appVersion, app_version, version, productVersion); add it or set spec.allowVersionMismatch")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let databases = entries.filter { $0.hasSuffix(".sql") }.map { String($0.dropLast(4)) }.sorted()
        var notes = ["legacy layout: no manifest, so MySQL tables are verified against the dumps' own CREATE TABLE and INSERT counts"]
        var folders: [String] = []
        for folder in legacyFolders {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + folder, isDirectory: &isDir), isDir.boolValue {
                folders.append(folder)
            } else {
                notes.append("no \(folder)/ folder")
            }
        }
        if databases.isEmpty { notes.append("no <database>.sql dumps at the top level") }
        let clickhouse = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + legacyClickHouseFolder)) ?? []).compactMap(LegacyClickHouseDump.table(fileName:)).sorted()
        for (folder, what) in legacyUnreadFolders {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + folder, isDirectory: &isDir), isDir.boolValue {
                notes.append("\(folder)/ is in the package but is not restored: Ferry does not read that exporter's \(what) format; export with ferry export to restore \(what)")
            }
        }
        let metadata = PackageMetadata(
            appVersion: version,
            createdAt: info["createdAt"]?.stringValue ?? info["created_at"]?.stringValue ?? info["time"]?.stringValue ?? "",
            sourceHost: info["sourceHost"]?.stringValue ?? info["host"]?.stringValue ?? info["hostname"]?.stringValue ?? "",
            contents: .init(mysql: databases, clickhouse: clickhouse, files: folders), externalMySQL: LegacyInfo.externalMySQL(info))
        return BackupPackage(root: root, layout: .legacy, metadata: metadata, manifest: nil, notes: notes)
    }

    /// info.json as JSON, or as base64 of JSON.
    static func decodeLegacyInfo(_ raw: [UInt8], path: String) throws -> JSONValue {
        if let v = try? JSONWire.parse(raw), case .object = v { return v }
        let text = String(decoding: raw, as: UTF8.self).filter { !$0.isWhitespace }
        if let data = Data(base64Encoded: text), let v = try? JSONWire.parse(Array(data)), case .object = v { return v }
        throw StepError.badPackage("\(path) is neither JSON nor base64-encoded JSON")
    }

    /// The absolute path of a package-relative path; refuses `..`, absolute
    /// paths and symlinks that lead outside the package.
    public func resolve(_ relative: String) throws -> String {
        if relative.hasPrefix("/") {
            throw StepError.badPackage("\(relative): absolute paths are not allowed in a package (must be relative to \(root))")
        }
        if relative.split(separator: "/").contains("..") {
            throw StepError.badPackage("\(relative): '..' escapes the package at \(root)")
        }
        let full = root + "/" + relative
        let real = (full as NSString).resolvingSymlinksInPath
        if real != root && !real.hasPrefix(root + "/") {
            throw StepError.badPackage("\(relative) is a symlink to \(real), outside the package at \(root)")
        }
        try Self.refuseSpecialFile(full)
        return full
    }

    /// A FIFO, socket or device in a package would hang or mislead every reader: only regular
    /// files and folders are allowed. A missing path passes (the caller says what is missing).
    public static func refuseSpecialFile(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let type = st.st_mode & S_IFMT
        guard type != S_IFREG && type != S_IFDIR else { return }
        let what: String
        switch type {
        case S_IFIFO: what = "a FIFO (named pipe)"
        case S_IFSOCK: what = "a socket"
        case S_IFCHR, S_IFBLK: what = "a device"
        default: what = "not a regular file"
        }
        throw StepError.badPackage("\(path) is \(what), not a regular file; a package holds only regular files and folders. Replace it with the exported file")
    }

    /// Where a database's dump is and what the manifest says about it.
    public struct MySQLSource: Sendable {
        public var dumpPath: String
        public var expectedTables: [String: PackageManifest.MySQLTable]?
        public var sha256: String?
        /// The rows as data parts (the parallel export's layout); `dumpPath` then holds the schema.
        public var parts: [MySQLPartFile]? = nil
    }

    public func mysql(_ database: String) throws -> MySQLSource {
        switch layout {
        case .ferry:
            guard let entry = manifest?.mysql[database] else {
                throw StepError.badPackage("the package has no MySQL database \(database) (it has: \(metadata.contents.mysql.joined(separator: ", ")))")
            }
            let parts = try entry.parts?.map { p in
                MySQLPartFile(path: try resolve(p.file), file: p.file, table: p.table, rows: p.rows, columns: p.columns, sha256: manifest?.sha256[p.file])
            }
            return MySQLSource(dumpPath: try resolve(entry.dump), expectedTables: entry.tables, sha256: manifest?.sha256[entry.dump], parts: parts)
        case .legacy:
            guard metadata.contents.mysql.contains(database) else {
                throw StepError.badPackage("the package has no \(database).sql (it has: \(metadata.contents.mysql.map { $0 + ".sql" }.joined(separator: ", ")))")
            }
            return MySQLSource(dumpPath: try resolve(database + ".sql"), expectedTables: nil, sha256: nil)
        }
    }

    /// The old tool's zstd dump of a ClickHouse table (legacy layout).
    public func legacyClickHouse(_ table: String) throws -> String {
        guard layout == .legacy, metadata.contents.clickhouse.contains(table) else {
            throw StepError.badPackage("the package has no ClickHouse dump \(Self.legacyClickHouseFolder)/\(table).zst (it has: \(metadata.contents.clickhouse.joined(separator: ", ")))")
        }
        return try resolve("\(Self.legacyClickHouseFolder)/\(table).zst")
    }

    /// Where a ClickHouse table's schema and data are (Ferry layout only): one data file, or a
    /// split table's partition files (`parts`, `dataPath` their folder).
    public func clickhouse(_ table: String) throws -> (schemaPath: String, dataPath: String, entry: PackageManifest.ClickHouseTable, sha256: String?, parts: [ClickHouseRestore.PartFile]?) {
        guard let entry = manifest?.clickhouse[table] else {
            throw StepError.badPackage("the package has no ClickHouse table \(table) (it has: \(metadata.contents.clickhouse.joined(separator: ", ")))")
        }
        let parts = try entry.parts.map { try $0.map { ClickHouseRestore.PartFile(path: try resolve($0.file), file: $0.file, partition: $0.partition, rows: $0.rows, sha256: manifest?.sha256[$0.file]) } }
        return (try resolve(entry.schema), try resolve(entry.data), entry, entry.parts == nil ? manifest?.sha256[entry.data] : nil, parts)
    }
}
