/// Turns the calls of a trace into a ``CrashModel``: the operations on files under `root`
/// and the syncs that made them durable. Calls on other files (libraries, the terminal) are
/// left out.
public struct TraceReplay {
    enum Descriptor {
        case file(inode: Int, position: Int, append: Bool)
        case directory(String)
    }

    /// The directory the trace's files live in, absolute.
    public let root: String
    public private(set) var model: CrashModel
    /// Every operation applied: what the process saw.
    public private(set) var live: FileTree
    /// The descriptor tables of the traced processes; threads share their process's.
    private var tables: [[Int: Descriptor]] = []
    /// Thread id → its table, and the table of the calls being applied.
    private var tableOfThread: [Int: Int] = [:]
    private var current = 0
    /// Thread id → the thread that made it and whether it shares its descriptors
    /// (`CLONE_FILES`), from ``expectThreads(of:)``.
    private var parents: [Int: (parent: Int, sharesDescriptors: Bool)] = [:]
    private var descriptors: [Int: Descriptor] {
        get { tables[current] }
        _modify { yield &tables[current] }
    }
    private var directories: Set<String> = ["."]
    private var nextInode: Int
    /// The file outside `root` whose lines acknowledge batches (``CrashLedger``), if any.
    public let acknowledgementsPath: String?
    /// Each line written to it: how many events came before it, and the line.
    public private(set) var acknowledgements: [(events: Int, batch: String)] = []

    public init(root: String, initial: FileTree, acknowledgements: String? = nil) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        self.acknowledgementsPath = acknowledgements
        self.model = CrashModel(initial: initial)
        self.live = initial
        self.nextInode = (initial.inodes.keys.max() ?? -1) + 1
        for path in initial.entries.keys {
            var directory = FileOperation.directory(of: path)
            while directory != "." && directories.insert(directory).inserted {
                directory = FileOperation.directory(of: directory)
            }
        }
    }

    /// The calls that follow are another command's: its descriptors are its own.
    public mutating func startProcess() {
        tables = []
        tableOfThread = [:]
        parents = [:]
    }

    /// Reads which threads and processes the calls of one command (`strace -f`, which names
    /// each call by its thread id) made, from its `clone`, `clone3`, `fork` and `vfork` calls:
    /// a thread shares its parent's descriptors, a new process starts with a copy of them. A
    /// child's first calls can come before the parent's clone returns in the trace, so this
    /// reads them all before any is applied.
    public mutating func expectThreads(of calls: [TracedCall]) {
        for call in calls where ["clone", "clone3", "fork", "vfork"].contains(call.name) && call.result > 0 {
            let shares = call.arguments.contains { argument in
                if case .other(let text) = argument { return text.contains("CLONE_FILES") }
                return false
            }
            parents[Int(call.result)] = (call.process, shares)
        }
    }

    /// The table of a thread, made when it is first met: its parent's, a copy of it, or (for
    /// the command's first process) a new one.
    private mutating func table(of thread: Int) -> Int {
        if let table = tableOfThread[thread] { return table }
        let table: Int
        if let (parent, shares) = parents[thread] {
            let parentTable = self.table(of: parent)
            if shares {
                table = parentTable
            } else {
                tables.append(tables[parentTable])
                table = tables.count - 1
            }
        } else {
            tables.append([:])
            table = tables.count - 1
        }
        tableOfThread[thread] = table
        return table
    }

    private mutating func record(_ operation: FileOperation) {
        model.record(operation)
        operation.apply(to: &live)
    }

    /// The path relative to `root` of an absolute or descriptor-relative path; nil outside it.
    func relative(_ path: String, from directory: String?) -> String? {
        var absolute = path
        if !path.hasPrefix("/") {
            guard let directory else { return nil }
            absolute = directory + "/" + path
        }
        var parts: [Substring] = []
        for part in absolute.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        let normalized = "/" + parts.joined(separator: "/")
        if normalized == root { return "." }
        guard normalized.hasPrefix(root + "/") else { return nil }
        return String(normalized.dropFirst(root.count + 1))
    }

    /// The two paths of a rename or link (`rename(a, b)` or `renameat(fd, a, fd, b, …)`)
    /// relative to the root; nil when both are outside it.
    private func sourceAndTarget(_ call: TracedCall) throws -> (String, String)? {
        let (from, to) =
            call.name == "rename" || call.name == "link"
            ? (relative(call.string(0) ?? "", from: nil), relative(call.string(1) ?? "", from: nil))
            : (
                relative(call.string(1) ?? "", from: call.descriptorPath(0)),
                relative(call.string(3) ?? "", from: call.descriptorPath(2))
            )
        switch (from, to) {
        case (nil, nil): return nil
        case (let from?, let to?): return (from, to)
        default: throw TraceError("\(call.name) across the edge of \(root)")
        }
    }

    private func openFile(_ descriptor: Int64?) -> (Int, Descriptor)? {
        guard let descriptor, let found = descriptors[Int(descriptor)], case .file(let inode, _, _) = found else {
            return nil
        }
        return (inode, found)
    }

    /// A call on a descriptor this replay does not know: fine outside the root, but one whose
    /// path (`-y`) is under it was opened some way the replay missed (`dup`, a descriptor
    /// passed in), and its changes would go unmodelled.
    private func checkKnown(_ call: TracedCall) throws {
        guard let number = call.number(0), descriptors[Int(number)] == nil else { return }
        if let path = call.descriptorPath(0), relative(path, from: nil) != nil {
            throw TraceError("\(call.name) on descriptor \(number) (\(path)), which the trace never opened")
        }
    }

    public mutating func apply(_ call: TracedCall) throws {
        guard !call.failed else { return }
        current = table(of: call.process)
        // A new process's copy is taken when its parent's clone returns, unless its own
        // calls came first (the parent's table cannot change while it waits in the clone).
        if ["clone", "clone3", "fork", "vfork"].contains(call.name), call.result > 0 {
            _ = table(of: Int(call.result))
        }
        if ["pwrite64", "write", "ftruncate", "fsync", "fdatasync", "lseek"].contains(call.name) {
            try checkKnown(call)
        }
        switch call.name {
        case "openat", "open", "creat":
            let (path, flags): (String?, Set<Substring>) =
                switch call.name {
                case "openat": (relative(call.string(1) ?? "", from: call.descriptorPath(0)), call.flags(2))
                case "open": (relative(call.string(0) ?? "", from: nil), call.flags(1))
                default: (relative(call.string(0) ?? "", from: nil), ["O_CREAT", "O_WRONLY", "O_TRUNC"])
                }
            let descriptor = Int(call.result)
            guard let path else {
                descriptors[descriptor] = nil
                if let opened = call.resultPath, relative(opened, from: nil) != nil {
                    throw TraceError("\(call.name) of a path the replay could not resolve, which names \(opened)")
                }
                return
            }
            if flags.contains("O_TMPFILE") { throw TraceError("O_TMPFILE under \(root): the replay does not model it") }
            if flags.contains("O_DIRECTORY") || directories.contains(path) {
                descriptors[descriptor] = .directory(path)
                return
            }
            let inode: Int
            if let existing = live.entries[path] {
                inode = existing
                if flags.contains("O_TRUNC") && !(live.inodes[inode] ?? []).isEmpty {
                    record(.truncate(inode: inode, size: 0))
                }
            } else {
                guard flags.contains("O_CREAT") else {
                    throw TraceError("\(path) was opened without O_CREAT, yet the replay never saw it made")
                }
                inode = nextInode
                nextInode += 1
                record(.link(path: path, inode: inode))
            }
            descriptors[descriptor] = .file(inode: inode, position: 0, append: flags.contains("O_APPEND"))
        case "pwrite64":
            guard let (inode, _) = openFile(call.number(0)), let bytes = call.bytes(1), let offset = call.number(3)
            else { return }
            record(.write(inode: inode, offset: Int(offset), bytes: Array(bytes.prefix(Int(call.result)))))
        case "write":
            if let path = acknowledgementsPath, call.descriptorPath(0) == path, let bytes = call.bytes(1) {
                for line in bytes.split(separator: UInt8(ascii: "\n")) {
                    acknowledgements.append((model.events.count, String(decoding: line, as: UTF8.self)))
                }
                return
            }
            guard let descriptor = call.number(0), let (inode, found) = openFile(descriptor), let bytes = call.bytes(1),
                case .file(_, let position, let append) = found
            else { return }
            let offset = append ? (live.inodes[inode] ?? []).count : position
            record(.write(inode: inode, offset: offset, bytes: Array(bytes.prefix(Int(call.result)))))
            descriptors[Int(descriptor)] = .file(inode: inode, position: offset + Int(call.result), append: append)
        case "lseek":
            guard let descriptor = call.number(0), let (inode, found) = openFile(descriptor),
                case .file(_, _, let append) = found
            else { return }
            descriptors[Int(descriptor)] = .file(inode: inode, position: Int(call.result), append: append)
        case "ftruncate":
            guard let (inode, _) = openFile(call.number(0)), let size = call.number(1) else { return }
            record(.truncate(inode: inode, size: Int(size)))
        case "fsync", "fdatasync":
            guard let descriptor = call.number(0), let found = descriptors[Int(descriptor)] else { return }
            switch found {
            case .file(let inode, _, _): model.syncFile(inode: inode)
            case .directory(let path): model.syncDirectory(path)
            }
        case "rename", "renameat", "renameat2":
            if call.name == "renameat2" && call.flags(4).contains("RENAME_EXCHANGE") {
                throw TraceError("renameat2 with RENAME_EXCHANGE: the replay does not model it")
            }
            guard let (from, to) = try sourceAndTarget(call) else { return }
            record(.rename(from: from, to: to))
        case "link", "linkat":
            if call.name == "linkat" && call.flags(4).contains("AT_EMPTY_PATH") {
                throw TraceError("linkat with AT_EMPTY_PATH: the replay does not model it")
            }
            guard let (from, to) = try sourceAndTarget(call) else { return }
            guard let inode = live.entries[from] else {
                throw TraceError("link of \(from), which the trace never made")
            }
            record(.link(path: to, inode: inode))
        case "unlink", "unlinkat":
            let path =
                call.name == "unlink"
                ? relative(call.string(0) ?? "", from: nil)
                : relative(call.string(1) ?? "", from: call.descriptorPath(0))
            guard let path else { return }
            if call.name == "unlinkat" && call.flags(2).contains("AT_REMOVEDIR") {
                directories.remove(path)
            } else {
                record(.unlink(path: path))
            }
        case "mkdir", "mkdirat":
            let path =
                call.name == "mkdir"
                ? relative(call.string(0) ?? "", from: nil)
                : relative(call.string(1) ?? "", from: call.descriptorPath(0))
            if let path { directories.insert(path) }
        case "close":
            if let descriptor = call.number(0) { descriptors[Int(descriptor)] = nil }
        case "writev", "pwritev", "pwritev2", "fallocate", "sync_file_range", "copy_file_range", "sendfile":
            guard let descriptor = call.number(0), descriptors[Int(descriptor)] != nil else {
                try checkKnown(call)
                return
            }
            throw TraceError("\(call.name) on a file under \(root): the replay does not model it")
        case "truncate", "openat2":
            let path =
                call.name == "truncate"
                ? relative(call.string(0) ?? "", from: nil)
                : relative(call.string(1) ?? "", from: call.descriptorPath(0))
            if path != nil { throw TraceError("\(call.name) under \(root): the replay does not model it") }
        default:
            return
        }
    }
}
