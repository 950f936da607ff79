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
    private var descriptors: [Int: Descriptor] = [:]
    private var directories: Set<String> = ["."]
    private var nextInode: Int

    public init(root: String, initial: FileTree) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        self.model = CrashModel(initial: initial)
        self.live = initial
        self.nextInode = (initial.inodes.keys.max() ?? -1) + 1
        for path in initial.entries.keys {
            var directory = FileOperation.directory(of: path)
            while directory != "." && directories.insert(directory).inserted { directory = FileOperation.directory(of: directory) }
        }
    }

    /// The calls that follow are another process's: its descriptors are its own.
    public mutating func startProcess() {
        descriptors = [:]
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
        guard let descriptor, let found = descriptors[Int(descriptor)], case .file(let inode, _, _) = found else { return nil }
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
        if ["pwrite64", "write", "ftruncate", "fsync", "fdatasync", "lseek"].contains(call.name) { try checkKnown(call) }
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
                if flags.contains("O_TRUNC") && !(live.inodes[inode] ?? []).isEmpty { record(.truncate(inode: inode, size: 0)) }
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
            guard let (inode, _) = openFile(call.number(0)), let bytes = call.bytes(1), let offset = call.number(3) else { return }
            record(.write(inode: inode, offset: Int(offset), bytes: Array(bytes.prefix(Int(call.result)))))
        case "write":
            guard let descriptor = call.number(0), let (inode, found) = openFile(descriptor), let bytes = call.bytes(1),
                case .file(_, let position, let append) = found
            else { return }
            let offset = append ? (live.inodes[inode] ?? []).count : position
            record(.write(inode: inode, offset: offset, bytes: Array(bytes.prefix(Int(call.result)))))
            descriptors[Int(descriptor)] = .file(inode: inode, position: offset + Int(call.result), append: append)
        case "lseek":
            guard let descriptor = call.number(0), let (inode, found) = openFile(descriptor), case .file(_, _, let append) = found
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
            guard let inode = live.entries[from] else { throw TraceError("link of \(from), which the trace never made") }
            record(.link(path: to, inode: inode))
        case "unlink", "unlinkat":
            let path =
                call.name == "unlink"
                ? relative(call.string(0) ?? "", from: nil) : relative(call.string(1) ?? "", from: call.descriptorPath(0))
            guard let path else { return }
            if call.name == "unlinkat" && call.flags(2).contains("AT_REMOVEDIR") {
                directories.remove(path)
            } else {
                record(.unlink(path: path))
            }
        case "mkdir", "mkdirat":
            let path =
                call.name == "mkdir"
                ? relative(call.string(0) ?? "", from: nil) : relative(call.string(1) ?? "", from: call.descriptorPath(0))
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
            let path = call.name == "truncate" ? relative(call.string(0) ?? "", from: nil) : relative(call.string(1) ?? "", from: call.descriptorPath(0))
            if path != nil { throw TraceError("\(call.name) under \(root): the replay does not model it") }
        default:
            return
        }
    }
}
