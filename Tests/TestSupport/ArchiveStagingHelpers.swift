import Foundation
import Testing

/// Tar archives for the SaaS-export tests, written by Python's tarfile (an independent writer).
public enum ArchiveStagingHelpers {
    /// Runs Python to write `name.tar.gz` into `folder` from (path, kind, content) entries;
    /// kind: f (file), d (folder), l (symlink to content), h (hard link), p (FIFO); `format`: gnu or pax.
    public static func archive(_ folder: String, _ name: String, _ entries: [(String, String, String)], format: String = "pax") async throws {
        let spec = try makeTempDir("tar-spec") + "/entries.json"
        try JSONSerialization.data(withJSONObject: entries.map { [$0.0, $0.1, $0.2] }).write(to: URL(fileURLWithPath: spec))
        let script = """
            import io, json, sys, tarfile
            entries = json.load(open(sys.argv[3]))
            fmt = tarfile.GNU_FORMAT if sys.argv[4] == "gnu" else tarfile.PAX_FORMAT
            with tarfile.open(sys.argv[1] + "/" + sys.argv[2] + ".tar.gz", "w:gz", format=fmt) as t:
                for path, kind, content in entries:
                    i = tarfile.TarInfo(path); i.mtime = 1700000000
                    if kind == "f":
                        data = content.encode(); i.size = len(data); t.addfile(i, io.BytesIO(data))
                    else:
                        i.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE, "p": tarfile.FIFOTYPE}[kind]
                        i.linkname = content; t.addfile(i)
            """
        let r = try await runCommand("/usr/bin/python3", ["-c", script, folder, name, spec, format])
        #expect(r.status == 0, "\(r.combined)")
    }

}
