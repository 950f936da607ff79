/// The files of a directory tree: each path names an inode, each inode has bytes.
public struct FileTree: Equatable, Sendable {
    public var entries: [String: Int] = [:]
    public var inodes: [Int: [UInt8]] = [:]

    public init() {}

    /// A tree holding `files` (path → bytes), one inode each.
    public init(files: [String: [UInt8]]) {
        for (number, path) in files.keys.sorted().enumerated() {
            entries[path] = number
            inodes[number] = files[path]
        }
    }

    /// Path → bytes of every file.
    public var files: [String: [UInt8]] {
        entries.reduce(into: [:]) { result, entry in result[entry.key] = inodes[entry.value] ?? [] }
    }
}

/// A change to a file tree that a traced call made.
public enum FileOperation: Equatable, Sendable {
    /// Bytes written into an inode at an offset.
    case write(inode: Int, offset: Int, bytes: [UInt8])
    /// An inode's size set (a truncation, or an extension with zeros).
    case truncate(inode: Int, size: Int)
    /// A new name for an inode (a created file, a hard link).
    case link(path: String, inode: Int)
    /// A name removed.
    case unlink(path: String)
    /// A name moved over another, atomically.
    case rename(from: String, to: String)

    /// The directories whose sync makes this operation durable; none for a data operation.
    public var directories: [String] {
        switch self {
        case .write, .truncate: []
        case .link(let path, _), .unlink(let path): [FileOperation.directory(of: path)]
        case .rename(let from, let to):
            Array(Set([FileOperation.directory(of: from), FileOperation.directory(of: to)])).sorted()
        }
    }

    /// The inode a data operation changes.
    public var inode: Int? {
        switch self {
        case .write(let inode, _, _), .truncate(let inode, _): inode
        default: nil
        }
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Applies the operation; a write only in the sectors `sectors` (all when nil), growing the
    /// file to the end of its last sector that landed, or to its own end with zeros where it
    /// did not land when `sizeLanded` (the size reached the disk before the data).
    func apply(to tree: inout FileTree, sectors: Set<Int>? = nil, sizeLanded: Bool = false) {
        switch self {
        case .write(let inode, let offset, let bytes):
            // Taken out of the tree and put back, so that it is changed in place, not copied.
            var data = tree.inodes.removeValue(forKey: inode) ?? []
            // A torn write extends the file only as far as its last sector that landed.
            let end =
                sizeLanded
                ? offset + bytes.count
                : sectors.map { kept in
                    kept.map { min(($0 + 1) * CrashModel.sectorBytes, offset + bytes.count) }.max() ?? 0
                }
                    ?? offset + bytes.count
            if sectors == nil && offset == data.count {
                data.append(contentsOf: bytes)  // the common case: an append
                tree.inodes[inode] = data
                return
            }
            if data.count < end { data.append(contentsOf: [UInt8](repeating: 0, count: end - data.count)) }
            if let kept = sectors {
                for index in 0..<bytes.count
                where offset + index < data.count && kept.contains((offset + index) / CrashModel.sectorBytes) {
                    data[offset + index] = bytes[index]
                }
            } else {
                data.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            }
            tree.inodes[inode] = data
        case .truncate(let inode, let size):
            var data = tree.inodes.removeValue(forKey: inode) ?? []
            if data.count > size {
                data.removeLast(data.count - size)
            } else {
                data.append(contentsOf: [UInt8](repeating: 0, count: size - data.count))
            }
            tree.inodes[inode] = data
        case .link(let path, let inode):
            tree.entries[path] = inode
            if tree.inodes[inode] == nil { tree.inodes[inode] = [] }
        case .unlink(let path):
            tree.entries[path] = nil
        case .rename(let from, let to):
            guard let inode = tree.entries[from] else { return }
            tree.entries[from] = nil
            tree.entries[to] = inode
        }
    }
}

/// The operations of a traced run with what each sync made durable, and the crash states
/// that follow from them under this persistence model (docs/crash-testing.md):
///
/// - a crash may happen after any call;
/// - an operation made durable by a sync before the crash is there: a file's writes and size
///   changes by an `fsync`/`fdatasync` of that file, a new, removed or renamed name by an
///   `fsync` of its directory (both directories for a rename across two);
/// - of the writes and size changes not yet synced, any subset is there (so they may land out
///   of order), and a write may land in part, sector (512 bytes) by sector;
/// - of the name changes not yet synced, a prefix is there, in order.
public struct CrashModel: Sendable {
    public static let sectorBytes = 512

    public struct Step: Sendable {
        public var operation: FileOperation
        /// Index of the event after which the operation is durable; nil while it is not.
        public var durableAfter: Int?
    }

    public let initial: FileTree
    public private(set) var steps: [Step] = []
    /// After each event (an operation or a sync), how many operations there were: the crash points.
    public private(set) var events: [Int] = []

    public init(initial: FileTree) { self.initial = initial }

    public mutating func record(_ operation: FileOperation) {
        steps.append(Step(operation: operation, durableAfter: nil))
        events.append(steps.count)
    }

    /// An fsync or fdatasync of a file: its data operations so far are durable.
    public mutating func syncFile(inode: Int) {
        events.append(steps.count)
        for index in steps.indices where steps[index].durableAfter == nil && steps[index].operation.inode == inode {
            steps[index].durableAfter = events.count - 1
        }
    }

    /// An fsync of a directory: the name changes in it so far are durable once every directory
    /// they involve was synced after them.
    public mutating func syncDirectory(_ directory: String) {
        events.append(steps.count)
        for index in steps.indices where steps[index].durableAfter == nil {
            var pending = syncedDirectories[index, default: Set(steps[index].operation.directories)]
            guard pending.remove(directory) != nil else { continue }
            syncedDirectories[index] = pending
            if pending.isEmpty { steps[index].durableAfter = events.count - 1 }
        }
    }

    private var syncedDirectories: [Int: Set<String>] = [:]

    /// One crash state: which pending operations landed.
    public struct Choice: Hashable, Sendable {
        /// The event after which the crash happens.
        public var event: Int
        /// Pending name changes that landed: the first this many, in order.
        public var namePrefix: Int
        /// Pending data operations (indices into `steps`) that landed.
        public var data: Set<Int>
        /// A pending write that landed in part, and the sectors of it that did.
        public var torn: Int?
        public var tornSectors: Set<Int>
        /// Whether the torn write's new size landed, the sectors that did not reading as zeros.
        public var sizeLanded = false
    }

    /// The operations up to `event` not durable at it: data and name changes.
    public func pending(at event: Int) -> (data: [Int], names: [Int]) {
        let count = events[event]
        var data: [Int] = []
        var names: [Int] = []
        for index in 0..<count where !(steps[index].durableAfter.map { $0 <= event } ?? false) {
            if steps[index].operation.inode != nil { data.append(index) } else { names.append(index) }
        }
        return (data, names)
    }

    /// How many operations lead the log durable at `event`: every choice applies them.
    public func durablePrefix(at event: Int) -> Int {
        let count = events[event]
        var index = 0
        while index < count, let after = steps[index].durableAfter, after <= event { index += 1 }
        return index
    }

    /// Applies operations `range` to `tree`, every one of them.
    public func apply(_ range: Range<Int>, to tree: inout FileTree) {
        for index in range { steps[index].operation.apply(to: &tree) }
    }

    /// The tree a choice leaves, from the tree of the first `prefix` operations (by default
    /// built here; ``durablePrefix(at:)`` operations at most).
    public func tree(for choice: Choice, base: (tree: FileTree, prefix: Int)? = nil) -> FileTree {
        var (tree, first) = base ?? (initial, 0)
        let count = events[choice.event]
        var namesLeft = choice.namePrefix
        for index in first..<count {
            let step = steps[index]
            let durable = step.durableAfter.map { $0 <= choice.event } ?? false
            if step.operation.inode == nil {
                if !durable {
                    guard namesLeft > 0 else { continue }
                    namesLeft -= 1
                }
                step.operation.apply(to: &tree)
            } else if durable || choice.data.contains(index) {
                step.operation.apply(to: &tree)
            } else if choice.torn == index {
                step.operation.apply(to: &tree, sectors: choice.tornSectors, sizeLanded: choice.sizeLanded)
            }
        }
        return tree
    }

    /// The sectors a write covers.
    public func sectors(of index: Int) -> [Int] {
        guard case .write(_, let offset, let bytes) = steps[index].operation, !bytes.isEmpty else { return [] }
        return Array(offset / Self.sectorBytes...(offset + bytes.count - 1) / Self.sectorBytes)
    }

    /// The crash states to check at `event`: none of the pending operations, all of them, each
    /// prefix of the name changes, all but each one data operation, each multi-sector write
    /// torn three ways and as a zero-filled extension, then seeded random choices up to
    /// `limit` in all.
    public func choices(at event: Int, limit: Int, generator: inout some RandomNumberGenerator) -> [Choice] {
        let (data, names) = pending(at: event)
        let all = Set(data)
        var result: [Choice] = []
        var seen: Set<Choice> = []
        func add(_ choice: Choice) {
            guard result.count < limit, seen.insert(choice).inserted else { return }
            result.append(choice)
        }
        add(Choice(event: event, namePrefix: names.count, data: all, torn: nil, tornSectors: []))
        add(Choice(event: event, namePrefix: 0, data: [], torn: nil, tornSectors: []))
        add(Choice(event: event, namePrefix: names.count, data: [], torn: nil, tornSectors: []))
        add(Choice(event: event, namePrefix: 0, data: all, torn: nil, tornSectors: []))
        for prefix in 0..<names.count {
            add(Choice(event: event, namePrefix: prefix, data: all, torn: nil, tornSectors: []))
        }
        for index in data {
            add(
                Choice(
                    event: event, namePrefix: names.count, data: all.subtracting([index]), torn: nil, tornSectors: []))
        }
        for index in data {
            let covered = sectors(of: index)
            guard covered.count > 1 else { continue }
            let others = all.subtracting([index])
            let half = covered.count / 2
            add(
                Choice(
                    event: event, namePrefix: names.count, data: others, torn: index, tornSectors: Set(covered[..<half])
                ))
            add(
                Choice(
                    event: event, namePrefix: names.count, data: others, torn: index, tornSectors: Set(covered[half...])
                ))
            add(
                Choice(
                    event: event, namePrefix: names.count, data: others, torn: index,
                    tornSectors: Set(covered.filter { _ in Bool.random(using: &generator) })))
            // The file grew, but none of the write's data landed: a zero-filled tail.
            add(
                Choice(
                    event: event, namePrefix: names.count, data: others, torn: index, tornSectors: [], sizeLanded: true)
            )
        }
        var attempts = 0
        while result.count < limit && attempts < limit * 4 {
            attempts += 1
            let landed = Set(data.filter { _ in Bool.random(using: &generator) })
            var torn: Int?
            var tornSectors: Set<Int> = []
            let unlanded = data.filter { !landed.contains($0) && sectors(of: $0).count > 1 }
            if !unlanded.isEmpty, Bool.random(using: &generator) {
                let index = unlanded.randomElement(using: &generator)!
                torn = index
                tornSectors = Set(sectors(of: index).filter { _ in Bool.random(using: &generator) })
            }
            add(
                Choice(
                    event: event, namePrefix: Int.random(in: 0...names.count, using: &generator), data: landed,
                    torn: torn,
                    tornSectors: tornSectors))
        }
        return result
    }
}
