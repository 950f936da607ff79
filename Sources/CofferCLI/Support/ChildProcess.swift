import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// Becoming another program (`coffer run`): an exec, so that its standard streams, its signals
/// and its exit status are the command's own, with no coffer process left between it and its
/// caller, and coffer's memory (its secrets included) gone with the old image.
enum ChildProcess {
    /// Variables that open the vault (coffer's own secrets, and where its key is), never handed
    /// to a command: it gets the values it was given, not the means to read every other one.
    static let withheldVariables: Set<String> = [
        "COFFER_PASSPHRASE", "COFFER_NEW_PASSPHRASE", "COFFER_BUNDLE_PASSPHRASE", "COFFER_KEY_FILE",
        "COFFER_PASSPHRASE_FILE",
    ]

    /// Refuses a value with a NUL byte, which no environment variable can hold (nor a dotenv
    /// file that `import --dotenv` reads): exit 1, naming the variable, never the value.
    static func refuseNULBytes(in values: [(name: String, value: SecureBytes)]) throws(CommandFailure) {
        for (name, value) in values where value.withUnsafeBytes({ $0.contains(0) }) {
            throw CommandFailure(
                .no, code: "invalid_input",
                "The value for \(name) holds a NUL byte, which an environment variable cannot.")
        }
    }

    /// Replaces this process with `command` (looked up in `PATH` when it has no `/`), its
    /// environment `environment` without ``withheldVariables`` and with `added` set.
    ///
    /// - Throws: only when the exec failed: exit 127 when the command was not found, 126
    ///   otherwise; a value with a NUL byte, which no environment can hold, is exit 1.
    static func become(
        _ command: [String], environment: [String: String], adding added: [(name: String, value: SecureBytes)]
    ) throws(CommandFailure) {
        precondition(!command.isEmpty, "the command is checked when the arguments are")
        try refuseNULBytes(in: added)
        let addedNames = Set(added.map(\.name))
        var entries: [UnsafeMutablePointer<CChar>?] = []
        for (name, value) in environment where !withheldVariables.contains(name) && !addedNames.contains(name) {
            entries.append(strdup("\(name)=\(value)"))
        }
        // The secrets are copied into C strings only now, and wiped if the exec fails.
        var secretEntries: [(pointer: UnsafeMutablePointer<CChar>, count: Int)] = []
        for (name, value) in added {
            let prefix = Array("\(name)=".utf8)
            let count = prefix.count + value.count + 1
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: count)
            let raw = UnsafeMutableRawBufferPointer(start: pointer, count: count)
            raw.copyBytes(from: prefix)
            value.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: raw[prefix.count..<(count - 1)]).copyMemory(from: $0)
            }
            raw[count - 1] = 0
            secretEntries.append((pointer, count))
            entries.append(pointer)
        }
        entries.append(nil)
        var arguments = command.map { strdup($0) }
        arguments.append(nil)
        let number = execute(command[0], arguments: arguments, environment: entries, path: environment["PATH"])
        for entry in secretEntries {
            secureZero(UnsafeMutableRawBufferPointer(start: entry.pointer, count: entry.count))
            entry.pointer.deallocate()
        }
        let status: ExitStatus = number == ENOENT ? .commandNotFound : .commandNotExecutable
        throw CommandFailure(
            status, code: number == ENOENT ? "not_found" : "io",
            "The command \(command[0]) could not be started: \(String(cString: strerror(number))).")
    }

    /// `execvp`'s search with a given environment: a name with a `/` is run as it is, any
    /// other is tried in each directory of `path` in turn; a file the kernel cannot run
    /// (a script without `#!`) is run by `/bin/sh`, as `execvp` does. Returns only on failure,
    /// with the errno to report (EACCES when a file was found but none could be run).
    private static func execute(
        _ name: String, arguments: [UnsafeMutablePointer<CChar>?], environment: [UnsafeMutablePointer<CChar>?],
        path: String?
    ) -> Int32 {
        func run(_ file: String) -> Int32 {
            execve(file, arguments, environment)
            let number = errno
            guard number == ENOEXEC else { return number }
            var shell: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup(file)] + arguments.dropFirst()
            execve("/bin/sh", &shell, environment)
            return errno
        }
        if name.contains("/") { return run(name) }
        var found = ENOENT
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":", omittingEmptySubsequences: false)
        {
            let number = run((directory.isEmpty ? "." : String(directory)) + "/" + name)
            switch number {
            case ENOENT, ENOTDIR: continue
            case EACCES: found = EACCES
            default: return number
            }
        }
        return found
    }
}
