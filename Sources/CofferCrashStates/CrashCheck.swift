import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// What a crash state must satisfy, and the check of one materialized state.
public struct CrashExpectation: Sendable {
    /// The vault's path relative to the root.
    public var vault: String
    /// The key file that opens it (read from outside the crash states).
    public var key: [UInt8]
    /// The digests (``CrashCheck/digest(vaultAt:key:)``) a crash state may show: the state
    /// before the command and, if it exited 0, after.
    public var allowedDigests: Set<String>
    /// Files (relative path → the bytes they end with) that must be whole or absent.
    public var outputs: [String: [UInt8]]
    /// Files that must be there and whole (outputs of earlier commands).
    public var required: [String: [UInt8]]

    public init(
        vault: String, key: [UInt8], allowedDigests: Set<String>, outputs: [String: [UInt8]] = [:],
        required: [String: [UInt8]] = [:]
    ) {
        self.vault = vault
        self.key = key
        self.allowedDigests = allowedDigests
        self.outputs = outputs
        self.required = required
    }
}

public enum CrashCheck {
    /// What a vault holds, in one line: its chain head and its keyslots, or why it does not
    /// open. No secret is in it.
    public static func digest(vaultAt path: String, key: [UInt8]) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { return "absent" }
        do {
            let vault = try Vault.open(path: path, unlock: .keyFile(contents: SecureBytes(copying: key)))
            defer { vault.close() }
            let head = vault.head
            let slots = vault.keyslots.map { "\($0.id):\($0.kind)" }.joined(separator: ",")
            return "head \(head.generation):\(head.sequence):\(hex(head.digest)) slots \(slots)"
        } catch {
            return "error \(error.code)"
        }
    }

    /// Writes `files` (path → bytes, with a hash of each) into `scratch`'s directory and checks
    /// them; the failures, in words.
    public static func check(
        _ files: [String: (bytes: [UInt8], hash: Int)], in scratch: Scratch, _ expectation: CrashExpectation
    ) throws -> [String] {
        try scratch.materialize(files, rewriting: expectation.vault)
        var failures: [String] = []
        let found = digest(vaultAt: scratch.directory + "/" + expectation.vault, key: expectation.key)
        if !expectation.allowedDigests.contains(found) {
            failures.append("the vault shows \(found), expected one of \(expectation.allowedDigests.sorted())")
        }
        for (path, bytes) in expectation.outputs.sorted(by: { $0.key < $1.key }) {
            if let present = files[path]?.bytes, present != bytes {
                failures.append("\(path) is there but not whole (\(present.count) of \(bytes.count) bytes, or other bytes)")
            }
        }
        for (path, bytes) in expectation.required.sorted(by: { $0.key < $1.key }) where files[path]?.bytes != bytes {
            failures.append("\(path), written by an acknowledged command, is \(files[path] == nil ? "missing" : "not whole")")
        }
        return failures
    }

    /// The directory crash states are written into, one after another: a file the last state
    /// had with the same bytes is left as it is.
    public final class Scratch {
        public let directory: String
        /// Path → hash of what was written there last.
        private var written: [String: Int] = [:]

        public init(directory: String) throws {
            self.directory = directory
            try removeContents(of: directory)
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
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw TraceError("cannot create \(path): errno \(errno)") }
        defer { close(descriptor) }
        var done = 0
        while done < bytes.count {
            let count = bytes[done...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { throw TraceError("cannot write \(path): errno \(errno)") }
            done += count
        }
    }

    static func makeDirectories(_ path: String) throws {
        var status = stat()
        if stat(path, &status) == 0 { return }
        try makeDirectories(FileOperation.directory(of: path))
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw TraceError("cannot create \(path): errno \(errno)") }
    }

    static func removeContents(of directory: String) throws {
        guard let handle = opendir(directory) else {
            try makeDirectories(directory)
            return
        }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(handle)
        for name in names {
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                try removeContents(of: path)
                rmdir(path)
            } else {
                unlink(path)
            }
        }
    }

    /// The files under `directory`, relative path → bytes.
    public static func snapshot(of directory: String, prefix: String = "") throws -> [String: [UInt8]] {
        guard let handle = opendir(directory) else { throw TraceError("cannot read \(directory): errno \(errno)") }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(handle)
        var files: [String: [UInt8]] = [:]
        for name in names {
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
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TraceError("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw TraceError("cannot read \(path): errno \(errno)") }
            if count == 0 { return bytes }
            bytes += buffer[..<count]
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: text, as: UTF8.self)
    }
}
