import Coffer
import CofferFormat
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// What a crash state must satisfy, and the check of one materialized state.
public struct CrashExpectation: Sendable {
    /// The vault's path relative to the root.
    public var vault: String
    /// The key file that opens it (read from outside the crash states).
    public var key: [UInt8]
    /// The vault's digest (``CrashCheck/digest(vaultAt:key:readOnly:)``) before the command
    /// and after it: a crash state must show one of them.
    public var before: String
    public var after: String
    /// Files (relative path → the bytes they end with) that must be whole or absent.
    public var outputs: [String: [UInt8]]
    /// Files that must be there and whole (outputs of earlier commands).
    public var required: [String: [UInt8]]
    /// For commits at once (threads or processes): the credentials a state must hold, checked
    /// instead of `before` and `after`.
    public var ledger: CrashLedger?

    public init(
        vault: String, key: [UInt8], before: String, after: String, outputs: [String: [UInt8]] = [:],
        required: [String: [UInt8]] = [:], ledger: CrashLedger? = nil
    ) {
        self.ledger = ledger
        self.vault = vault
        self.key = key
        self.before = before
        self.after = after
        self.outputs = outputs
        self.required = required
    }
}

public enum CrashCheck {
    /// What a vault holds, in one line: its chain head and its keyslots, or why it does not
    /// open. No secret is in it. A crash state is opened as the next command would, as a
    /// writer (which repairs what recovery repairs); the vault of the real run read-only, so
    /// that nothing outside the traces changes it.
    public static func digest(vaultAt path: String, key: [UInt8], readOnly: Bool = false) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { return "absent" }
        do {
            let vault = try Vault.open(
                path: path, unlock: .keyFile(contents: SecureBytes(copying: key)), options: .init(readOnly: readOnly))
            defer { vault.close() }
            let head = vault.head
            let slots = vault.keyslots.map { "\($0.id):\($0.kind)" }.joined(separator: ",")
            return "head \(head.generation):\(head.sequence):\(Hex.encode(head.digest)) slots \(slots)"
        } catch {
            return "error \(error.code)"
        }
    }

    /// Writes `files` (path → bytes, with a hash of each), the state of a crash after event
    /// `event`, into `scratch`'s directory and checks them: the failures, in words, and whether
    /// the vault had to be salvaged (``CrashLedger/contents(vaultAt:key:readOnly:)``).
    public static func check(
        _ files: [String: (bytes: [UInt8], hash: Int)], crashAfter event: Int, in scratch: Scratch,
        _ expectation: CrashExpectation
    ) throws -> (failures: [String], salvaged: Bool) {
        try scratch.materialize(files, rewriting: expectation.vault)
        var failures: [String] = []
        var salvaged = false
        let path = scratch.directory + "/" + expectation.vault
        var vaultChanged = false
        if let ledger = expectation.ledger {
            let found = CrashLedger.contents(vaultAt: path, key: expectation.key)
            if case .success(let value) = found { salvaged = value.salvaged }
            failures += ledger.check(found.map(\.credentials), crashAfter: event)
        } else {
            let found = digest(vaultAt: path, key: expectation.key)
            if found != expectation.before && found != expectation.after {
                failures.append("the vault shows \(found), expected \(expectation.before) or \(expectation.after)")
            }
            // Once the vault shows what the command did, what it wrote for it is there too: a
            // keyslot never depends on a key file a crash could still lose.
            vaultChanged = found == expectation.after && expectation.after != expectation.before
        }
        for (path, bytes) in expectation.outputs.sorted(by: { $0.key < $1.key }) {
            if let present = files[path]?.bytes, present != bytes {
                failures.append(
                    "\(path) is there but not whole (\(present.count) of \(bytes.count) bytes, or other bytes)")
            } else if files[path] == nil && vaultChanged {
                failures.append("\(path) is missing, yet the vault already shows the command's change")
            }
        }
        for (path, bytes) in expectation.required.sorted(by: { $0.key < $1.key }) where files[path]?.bytes != bytes {
            failures.append(
                "\(path), written by an acknowledged command, is \(files[path] == nil ? "missing" : "not whole")")
        }
        return (failures, salvaged)
    }

    /// The directory crash states are written into, one after another: a file the last state
    /// had with the same bytes is left as it is.
    public final class Scratch {
        public let directory: String
        /// Path → hash of what was written there last.
        private var written: [String: Int] = [:]

        /// `directory` must not exist: it is made here, and everything in it is the scratch's.
        public init(directory: String) throws {
            self.directory = directory
            guard mkdir(directory, 0o700) == 0 else {
                throw TraceError("cannot make the scratch directory \(directory) (it must not exist): errno \(errno)")
            }
        }

        /// Writes the files, removes those not among them; `rewriting` is written whatever
        /// it held (opening a vault may repair it).
        func materialize(_ files: [String: (bytes: [UInt8], hash: Int)], rewriting: String) throws {
            for path in written.keys where files[path] == nil {
                unlink(directory + "/" + path)
                written[path] = nil
            }
            for (path, file) in files where path == rewriting || written[path] != file.hash {
                try writeFile(directory + "/" + path, file.bytes)
                written[path] = file.hash
            }
            written[rewriting] = nil
            // Opening a vault as a writer removes a compaction's leftover files.
            for path in written.keys {
                var status = stat()
                if stat(directory + "/" + path, &status) != 0 { written[path] = nil }
            }
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        try makeDirectories(FileOperation.directory(of: path))
        if case .failure(let error) = PosixStorage().overwriteScratchFile(path, with: bytes) {
            throw TraceError("cannot write \(path): \(error)")
        }
    }

    static func makeDirectories(_ path: String) throws {
        var status = stat()
        if stat(path, &status) == 0 { return }
        try makeDirectories(FileOperation.directory(of: path))
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw TraceError("cannot create \(path): errno \(errno)")
        }
    }

    /// The names in a directory, without `.` and `..`.
    static func names(in directory: String) throws -> [String] {
        guard let handle = opendir(directory) else { throw TraceError("cannot read \(directory): errno \(errno)") }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The files under `directory`, relative path → bytes.
    public static func snapshot(of directory: String, prefix: String = "") throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try names(in: directory) {
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                files.merge(try snapshot(of: path, prefix: prefix + name + "/")) { first, _ in first }
            } else if status.st_mode & S_IFMT == S_IFREG {
                files[prefix + name] = try readFile(path)
            }
        }
        return files
    }

    public static func readFile(_ path: String) throws -> [UInt8] {
        switch PosixStorage().readScratchFile(path) {
        case .success(let bytes): return bytes
        case .failure(let error): throw TraceError("cannot read \(path): \(error)")
        }
    }

}
