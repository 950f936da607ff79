import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// How ``SimulatedDisk/crash(mode:using:)`` treats what was not made durable.
///
/// Synced bytes of a reachable file always survive, in every mode, unless a pending write or
/// truncation covered them. Pending directory operations (creations, renames, removals not yet
/// made durable by `syncDirectory`) are all lost in ``loseAllUnsynced``; in the other modes each
/// directory keeps a random prefix of its pending operations, in order.
///
/// After a crash a file's size is its durable size, changed by each kept truncation and extended
/// to the end of each kept write (or kept sector piece of a write); bytes in a gap that no kept
/// write covers read as zeros. A lost append therefore leaves no tail of zeros, unless a later
/// piece of the same append was kept.
public enum CrashMode: Sendable, Hashable, CaseIterable {
    /// Every file reverts to its last synced bytes, and every pending directory operation is lost.
    case loseAllUnsynced
    /// Each file keeps a random prefix of its writes and truncations since its last sync.
    case keepRandomPrefixOfWrites
    /// Each pending write is split at 512-byte sector boundaries and each piece is kept or lost
    /// at random, independently; a truncation or extension is kept or lost as a unit.
    case keepRandomSectors
    /// Like ``keepRandomSectors``, but a piece may also become random bytes (lost, kept and
    /// garbled have equal odds). Only bytes a pending write covered are garbled: bytes of the
    /// same sector that were synced and not rewritten are left intact.
    case garbleUnsyncedSectors
}

/// Failures to inject into a ``SimulatedDisk``, each at one numbered call.
///
/// Calls are numbered from 0 per ``SimulatedDisk/Operation``, across all files, for the whole
/// life of the disk; ``SimulatedDisk/callCounts()`` after a clean run tells how many there are:
///
/// ```swift
/// disk.faultPlan = FaultPlan([.fail(operation: .sync, atCall: 3, error: .ioError)])
/// ```
public struct FaultPlan: Sendable {
    /// One injected failure. The first rule matching a call applies.
    public enum Rule: Sendable, Hashable {
        /// The call fails with `error` and has no effect.
        case fail(operation: SimulatedDisk.Operation, atCall: Int, error: SystemError)
        /// The write writes its first `keepBytes` bytes (clamped to its size), then fails with `error`.
        case shortWrite(atCall: Int, keepBytes: Int, error: SystemError)
    }

    /// The rules, checked in order.
    public var rules: [Rule]

    /// Creates a plan from its rules; the default plan injects nothing.
    public init(_ rules: [Rule] = []) {
        self.rules = rules
    }

    /// The rule that applies to call number `index` of `operation`, if any.
    func rule(for operation: SimulatedDisk.Operation, atCall index: Int) -> Rule? {
        rules.first { rule in
            switch rule {
            case .fail(let failing, let call, _): return failing == operation && call == index
            case .shortWrite(let call, _, _): return operation == .write && call == index
            }
        }
    }
}

/// An in-memory ``StorageSystem`` that knows which bytes and directory entries are durable,
/// injects faults and can lose power.
///
/// Paths form one flat namespace. The directory of a path is the text before its last `/`
/// (`/` for `/name`, `.` for a bare name); directories exist implicitly and
/// ``syncDirectory(containing:)`` applies to the entries of that directory.
///
/// Each file is an inode (device 1, a number never reused) holding its durable bytes, its
/// current bytes (what reads see) and the writes and truncations since its last successful
/// sync. Creations, renames and removals change the current entries at once and become durable
/// only when their directory is synced; a rename between two directories is recorded in each
/// directory separately. Handles keep working on their inode after its path is renamed over or
/// removed, as in POSIX; an inode reachable from no durable entry is gone after a crash.
///
/// A test typically runs a workload, counts its calls, then replays it failing or crashing at
/// each call:
///
/// ```swift
/// let disk = SimulatedDisk()
/// disk.armCrash(after: .sync, atCall: index)
/// runWorkload(on: disk)  // calls after the crash point fail with EIO
/// var generator = SeededGenerator(seed: seed)
/// disk.crash(mode: .keepRandomSectors, using: &generator)
/// checkRecovery(on: disk)
/// ```
///
/// Thread-safe: every call runs under one ``Lock``.
public final class SimulatedDisk: StorageSystem, @unchecked Sendable {
    /// The kinds of call the disk counts, fails on request and can crash after.
    public enum Operation: Sendable, Hashable, CaseIterable {
        /// ``SimulatedDisk/open(_:mode:)``.
        case open
        /// ``SimulatedFile/read(into:at:)``.
        case read
        /// ``SimulatedFile/write(_:at:)``.
        case write
        /// ``SimulatedFile/sync()``.
        case sync
        /// ``SimulatedFile/truncate(to:)``.
        case truncate
        /// ``SimulatedDisk/rename(_:to:)``.
        case rename
        /// ``SimulatedDisk/moveWithoutReplacing(_:to:)``.
        case moveWithoutReplacing
        /// ``SimulatedDisk/remove(_:)``.
        case remove
        /// ``SimulatedDisk/syncDirectory(containing:)``.
        case syncDirectory
        /// ``SimulatedFile/tryLockExclusive()``.
        case lock
    }

    /// The device number of every file, as ``FileIdentity/device``.
    public static let device: UInt64 = 1
    /// The unit ``CrashMode/keepRandomSectors`` splits writes into.
    public static let sectorSize = 512
    /// Writes and truncations past this size fail with `EFBIG`, so that a bad offset fails
    /// instead of exhausting memory.
    public static let fileSizeMax = 1 << 30

    private let state = Locked(State())

    /// Creates an empty disk.
    public init(faultPlan: FaultPlan = FaultPlan()) {
        state.withLock { $0.faultPlan = faultPlan }
    }

    /// The failures to inject; may be replaced at any time.
    public var faultPlan: FaultPlan {
        get { state.withLock { $0.faultPlan } }
        set { state.withLock { $0.faultPlan = newValue } }
    }

    /// Called with the operation and its call number after each counted call completes, outside
    /// the disk's lock, so it may call back into the disk (to crash it, for example).
    public var onCall: (@Sendable (Operation, Int) -> Void)? {
        get { state.withLock { $0.onCall } }
        set { state.withLock { $0.onCall = newValue } }
    }

    /// How many calls of each kind the disk has seen (kinds never called are absent).
    ///
    /// Calls refused because the disk has crashed or the handle is invalid are not counted.
    public func callCounts() -> [Operation: Int] {
        state.withLock { $0.callCounts }
    }

    // MARK: - Crashes

    /// Makes the disk stop right after call number `atCall` of `operation` completes, as if the
    /// process died there.
    ///
    /// The call itself completes and returns its result; from then on every call, on the disk
    /// or any handle, fails with `EIO` and changes nothing, until ``crash(mode:using:)``
    /// materialises the power loss. Replaces any earlier armed crash.
    public func armCrash(after operation: Operation, atCall index: Int) {
        state.withLock { $0.armedCrash = ArmedCrash(operation: operation, index: index) }
    }

    /// Whether an armed crash has fired and is waiting for ``crash(mode:using:)``.
    public var isCrashPending: Bool {
        state.withLock { $0.isCrashPending }
    }

    /// Simulates a power loss, then makes the disk usable again.
    ///
    /// What survives follows `mode` (see ``CrashMode``), with the random choices drawn from
    /// `generator`. Afterwards everything left is durable, every existing handle fails with
    /// `EBADF`, every lock is released and any armed crash is cleared. Call counts and the
    /// fault plan are kept.
    public func crash(mode: CrashMode, using generator: inout SeededGenerator) {
        state.withLock { $0.crash(mode: mode, using: &generator) }
    }

    // MARK: - StorageSystem

    /// Opens a file: `.createNew` fails with `EEXIST` when the path exists, `.readOnly` and
    /// `.readWrite` with `ENOENT` when it does not. A created file is empty and its entry
    /// volatile until its directory is synced.
    public func open(_ path: String, mode: OpenMode) -> Result<any StorageFile, SystemError> {
        let opened: Result<(handle: UInt64, inode: UInt64), SystemError> = perform(.open) { state, _ in
            let inode: UInt64
            switch (mode, state.currentEntries[path]) {
            case (.createNew, .some): return .failure(.fileExists)
            case (.createNew, .none):
                guard !path.isEmpty else { return .failure(.noSuchFileOrDirectory) }
                inode = state.createFile(at: path)
            case (_, .some(let existing)): inode = existing
            case (_, .none): return .failure(.noSuchFileOrDirectory)
            }
            return .success((state.openHandle(on: inode), inode))
        }
        return opened.map {
            SimulatedFile(disk: self, handle: $0.handle, inode: $0.inode, isWritable: mode != .readOnly)
        }
    }

    /// Moves the entry `source` to `target`, replacing any entry there; volatile until the
    /// directories are synced. Fails with `ENOENT` when `source` does not exist.
    public func rename(_ source: String, to target: String) -> Result<Void, SystemError> {
        perform(.rename) { state, _ in
            guard let inode = state.currentEntries[source], !target.isEmpty else {
                return .failure(.noSuchFileOrDirectory)
            }
            if source != target {
                state.changeEntries([EntryChange(path: target, inode: inode), EntryChange(path: source, inode: nil)])
            }
            return .success(())
        }
    }

    /// Renames `source` to `target`, which must not exist (`EEXIST`); `ENOENT` when `source`
    /// does not. Atomic, and volatile until the directory is synced.
    public func moveWithoutReplacing(_ source: String, to target: String) -> Result<Void, SystemError> {
        perform(.moveWithoutReplacing) { state, _ in
            guard let inode = state.currentEntries[source], !target.isEmpty else {
                return .failure(.noSuchFileOrDirectory)
            }
            guard state.currentEntries[target] == nil else { return .failure(.fileExists) }
            state.changeEntries([EntryChange(path: target, inode: inode), EntryChange(path: source, inode: nil)])
            return .success(())
        }
    }

    /// Removes the entry `path`; open handles keep the file. Volatile until its directory is
    /// synced. Fails with `ENOENT` when `path` does not exist.
    public func remove(_ path: String) -> Result<Void, SystemError> {
        perform(.remove) { state, _ in
            guard state.currentEntries[path] != nil else { return .failure(.noSuchFileOrDirectory) }
            state.changeEntries([EntryChange(path: path, inode: nil)])
            return .success(())
        }
    }

    /// Makes every pending creation, rename and removal in the directory holding `path` durable.
    public func syncDirectory(containing path: String) -> Result<Void, SystemError> {
        perform(.syncDirectory) { state, _ in
            state.syncDirectory(Self.directory(of: path))
            return .success(())
        }
    }

    /// The identity of the file `path` names now; `ENOENT` when it names none. Not counted.
    public func identity(of path: String) -> Result<FileIdentity, SystemError> {
        perform(nil) { state, _ in
            guard let inode = state.currentEntries[path] else { return .failure(.noSuchFileOrDirectory) }
            return .success(FileIdentity(device: Self.device, inode: inode))
        }
    }

    /// The names of the current entries in the directory holding `path`, sorted; empty when
    /// there are none (directories exist implicitly). Not counted.
    public func siblings(of path: String) -> Result<[String], SystemError> {
        perform(nil) { state, _ in
            let directory = Self.directory(of: path)
            let names = state.currentEntries.keys.filter { Self.directory(of: $0) == directory }.map(Self.name(of:))
            return .success(names.sorted())
        }
    }

    // MARK: - Inspection for tests

    /// The bytes reads of `path` see now, or `nil` when it does not exist.
    public func contents(of path: String) -> [UInt8]? {
        state.withLock { state in state.currentEntries[path].flatMap { state.inodes[$0]?.current } }
    }

    /// The bytes of `path` that survive any crash for sure: its durable entry's synced bytes,
    /// or `nil` when its entry is not durable.
    public func durableContents(of path: String) -> [UInt8]? {
        state.withLock { state in state.durableEntries[path].flatMap { state.inodes[$0]?.durable } }
    }

    /// Whether `path` exists now.
    public func exists(_ path: String) -> Bool {
        state.withLock { $0.currentEntries[path] != nil }
    }

    /// Every current path, sorted.
    public func paths() -> [String] {
        state.withLock { $0.currentEntries.keys.sorted() }
    }

    /// Plants a file with `bytes`, creating it or replacing its contents, without counting a
    /// call or injecting a fault.
    ///
    /// With `durable`, the bytes are synced and the file's directory is synced too, which,
    /// as a directory fsync would, also makes the directory's other pending entries durable.
    public func write(path: String, bytes: [UInt8], durable: Bool) {
        precondition(bytes.count <= Self.fileSizeMax, "planted file larger than fileSizeMax")
        state.withLock { state in
            let inode = state.currentEntries[path] ?? state.createFile(at: path)
            state.inodes[inode]?.record(.resize(0))
            state.inodes[inode]?.record(.write(offset: 0, bytes: bytes))
            if durable {
                state.inodes[inode]?.sync()
                state.syncDirectory(Self.directory(of: path))
            }
        }
    }

    // MARK: - Handles

    /// Runs one call of `file` on its inode; see ``perform(_:handle:_:)``.
    func perform<Success>(
        _ operation: Operation?,
        on file: SimulatedFile,
        _ body: (inout Inode, FaultPlan.Rule?) -> Result<Success, SystemError>
    ) -> Result<Success, SystemError> {
        perform(operation, handle: file.handle) { state, rule in
            // Moved out and back, not copied, so that a write does not copy the whole file.
            guard var inode = state.inodes.removeValue(forKey: file.inode) else { return .failure(.badFileDescriptor) }
            defer { state.inodes[file.inode] = inode }
            return body(&inode, rule)
        }
    }

    /// Takes the exclusive lock of the inode for `file`; `false` when another handle holds it.
    func tryLock(_ file: SimulatedFile) -> Result<Bool, SystemError> {
        perform(.lock, handle: file.handle) { state, _ in
            if let holder = state.lockHolders[file.inode], holder != file.handle { return .success(false) }
            state.lockHolders[file.inode] = file.handle
            return .success(true)
        }
    }

    /// Closes a handle: later calls on it fail with `EBADF` and its lock is released.
    func release(handle: UInt64) {
        state.withLock { state in
            guard let inode = state.openHandles.removeValue(forKey: handle) else { return }
            if state.lockHolders[inode] == handle { state.lockHolders[inode] = nil }
        }
    }

    // MARK: - Internals

    /// Runs one call: refuses it when crashed or when `handle` is closed, counts it, injects
    /// its fault, runs `body`, fires an armed crash, then reports it to ``onCall``.
    ///
    /// An `operation` of `nil` is a call that is neither counted nor faulted.
    private func perform<Success>(
        _ operation: Operation?,
        handle: UInt64? = nil,
        _ body: (inout State, FaultPlan.Rule?) -> Result<Success, SystemError>
    ) -> Result<Success, SystemError> {
        let (result, report) = state.withLock { state -> (Result<Success, SystemError>, (@Sendable () -> Void)?) in
            if state.isCrashPending { return (.failure(.ioError), nil) }
            if let handle, state.openHandles[handle] == nil { return (.failure(.badFileDescriptor), nil) }
            guard let operation else { return (body(&state, nil), nil) }
            let index = state.callCounts[operation, default: 0]
            state.callCounts[operation] = index + 1
            let rule = state.faultPlan.rule(for: operation, atCall: index)
            let result: Result<Success, SystemError>
            if case .fail(_, _, let error)? = rule {
                result = .failure(error)
            } else {
                result = body(&state, rule)
            }
            if state.armedCrash == ArmedCrash(operation: operation, index: index) {
                state.armedCrash = nil
                state.isCrashPending = true
            }
            guard let onCall = state.onCall else { return (result, nil) }
            return (result, { onCall(operation, index) })
        }
        report?()
        return result
    }

    /// The directory part of `path`, as PosixStorage computes it.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The name part of `path`, after its last `/`.
    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// A write or truncation not yet made durable by a sync.
enum PendingChange {
    case write(offset: Int, bytes: [UInt8])
    case resize(Int)

    /// Applies the change to `bytes`, zero-filling any gap a write past the end leaves.
    func apply(to bytes: inout [UInt8]) {
        switch self {
        case .write(let offset, let data):
            let end = offset + data.count
            if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
            // A raw copy: `replaceSubrange` goes element by element in debug builds, and tests
            // plant and rewrite whole vaults thousands of times.
            if !data.isEmpty {
                bytes.withUnsafeMutableBytes { target in
                    data.withUnsafeBytes { source in
                        (target.baseAddress! + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    }
                }
            }
        case .resize(let size):
            if size < bytes.count {
                bytes.removeSubrange(size...)
            } else {
                bytes += [UInt8](repeating: 0, count: size - bytes.count)
            }
        }
    }
}

/// A file's bytes: those that survive a crash for sure, those reads see, and the changes between.
struct Inode {
    var durable: [UInt8] = []
    var current: [UInt8] = []
    var pending: [PendingChange] = []

    mutating func record(_ change: PendingChange) {
        change.apply(to: &current)
        pending.append(change)
    }

    mutating func sync() {
        durable = current
        pending = []
    }

    /// The bytes left after a power loss in `mode`; see ``CrashMode`` for the rules.
    func bytesAfterCrash(mode: CrashMode, using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = durable
        switch mode {
        case .loseAllUnsynced:
            break
        case .keepRandomPrefixOfWrites:
            let kept = Int.random(in: 0...pending.count, using: &generator)
            for change in pending.prefix(kept) { change.apply(to: &bytes) }
        case .keepRandomSectors, .garbleUnsyncedSectors:
            let outcomes = mode == .garbleUnsyncedSectors ? 3 : 2
            for change in pending {
                guard case .write(let offset, let data) = change else {
                    if Bool.random(using: &generator) { change.apply(to: &bytes) }
                    continue
                }
                let sectorSize = SimulatedDisk.sectorSize
                var start = offset
                while start < offset + data.count {
                    let end = min(offset + data.count, (start / sectorSize + 1) * sectorSize)
                    switch Int.random(in: 0..<outcomes, using: &generator) {
                    case 0:
                        break
                    case 1:
                        let piece = Array(data[(start - offset)..<(end - offset)])
                        PendingChange.write(offset: start, bytes: piece).apply(to: &bytes)
                    default:
                        let garbage = (start..<end).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                        PendingChange.write(offset: start, bytes: garbage).apply(to: &bytes)
                    }
                    start = end
                }
            }
        }
        return bytes
    }
}

/// One change to a directory entry: `path` now names `inode`, or nothing when it is `nil`.
struct EntryChange {
    let path: String
    let inode: UInt64?
}

/// The call after which the disk stops.
struct ArmedCrash: Equatable {
    let operation: SimulatedDisk.Operation
    let index: Int
}

/// Everything a ``SimulatedDisk`` knows, guarded by its lock.
struct State {
    var inodes: [UInt64: Inode] = [:]
    var inodeNext: UInt64 = 1
    var currentEntries: [String: UInt64] = [:]
    var durableEntries: [String: UInt64] = [:]
    /// Per directory, its operations not yet synced, in order; each operation is applied whole.
    var pendingDirectoryOperations: [String: [[EntryChange]]] = [:]
    /// Open handle → its inode.
    var openHandles: [UInt64: UInt64] = [:]
    var handleNext: UInt64 = 1
    /// Inode → the handle holding its exclusive lock.
    var lockHolders: [UInt64: UInt64] = [:]
    var callCounts: [SimulatedDisk.Operation: Int] = [:]
    var faultPlan = FaultPlan()
    var onCall: (@Sendable (SimulatedDisk.Operation, Int) -> Void)?
    var armedCrash: ArmedCrash?
    var isCrashPending = false

    mutating func createFile(at path: String) -> UInt64 {
        let inode = inodeNext
        inodeNext += 1
        inodes[inode] = Inode()
        changeEntries([EntryChange(path: path, inode: inode)])
        return inode
    }

    mutating func openHandle(on inode: UInt64) -> UInt64 {
        let handle = handleNext
        handleNext += 1
        openHandles[handle] = inode
        return handle
    }

    /// Applies one operation to the current entries and records it, split by directory, as pending.
    mutating func changeEntries(_ changes: [EntryChange]) {
        var byDirectory: [String: [EntryChange]] = [:]
        for change in changes {
            currentEntries[change.path] = change.inode
            byDirectory[SimulatedDisk.directory(of: change.path), default: []].append(change)
        }
        for (directory, directoryChanges) in byDirectory {
            pendingDirectoryOperations[directory, default: []].append(directoryChanges)
        }
    }

    mutating func syncDirectory(_ directory: String) {
        guard let operations = pendingDirectoryOperations.removeValue(forKey: directory) else { return }
        for operation in operations {
            for change in operation { durableEntries[change.path] = change.inode }
        }
    }

    mutating func crash(mode: CrashMode, using generator: inout SeededGenerator) {
        // Sorted iteration keeps the random draws, and so the outcome, a function of the seed.
        for (_, operations) in pendingDirectoryOperations.sorted(by: { $0.key < $1.key }) {
            let kept = mode == .loseAllUnsynced ? 0 : Int.random(in: 0...operations.count, using: &generator)
            for operation in operations.prefix(kept) {
                for change in operation { durableEntries[change.path] = change.inode }
            }
        }
        let reachable = Set(durableEntries.values)
        var survivors: [UInt64: Inode] = [:]
        for (number, inode) in inodes.sorted(by: { $0.key < $1.key }) where reachable.contains(number) {
            let bytes = inode.bytesAfterCrash(mode: mode, using: &generator)
            survivors[number] = Inode(durable: bytes, current: bytes, pending: [])
        }
        inodes = survivors
        currentEntries = durableEntries
        pendingDirectoryOperations = [:]
        openHandles = [:]
        lockHolders = [:]
        armedCrash = nil
        isCrashPending = false
    }
}

/// An open file on a ``SimulatedDisk``: a handle on one inode, with POSIX-like semantics.
///
/// Reading past the end returns fewer bytes; writing past the end zero-fills the gap. The
/// handle keeps its inode when the path is renamed over or removed. Its lock is released by
/// ``close()``, by release of the handle, or by a crash, after which every call fails with `EBADF`.
public final class SimulatedFile: StorageFile {
    let disk: SimulatedDisk
    let handle: UInt64
    let inode: UInt64
    let isWritable: Bool

    init(disk: SimulatedDisk, handle: UInt64, inode: UInt64, isWritable: Bool) {
        self.disk = disk
        self.handle = handle
        self.inode = inode
        self.isWritable = isWritable
    }

    deinit {
        disk.release(handle: handle)
    }

    /// Closes the handle now: its lock is released and later calls fail with `EBADF`.
    public func close() {
        disk.release(handle: handle)
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
        disk.perform(.read, on: self) { inode, _ in
            guard offset < UInt64(inode.current.count) else { return .success(0) }
            let start = Int(offset)
            let end = min(inode.current.count, start + buffer.count)
            buffer.copyBytes(from: inode.current[start..<end])
            return .success(end - start)
        }
    }

    /// Writes all of `bytes` at `offset`, zero-filling any gap past the end; volatile until ``sync()``.
    /// `EBADF` on a read-only handle, `EFBIG` past ``SimulatedDisk/fileSizeMax``.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Result<Void, SystemError> {
        disk.perform(.write, on: self) { inode, rule in
            guard isWritable else { return .failure(.badFileDescriptor) }
            guard Self.fits(offset, plus: bytes.count) else { return .failure(SystemError(EFBIG)) }
            var data = [UInt8](bytes)
            var failure: SystemError?
            if case .shortWrite(_, let keepBytes, let error)? = rule {
                data.removeSubrange(max(0, min(keepBytes, data.count))...)
                failure = error
            }
            if !data.isEmpty { inode.record(.write(offset: Int(offset), bytes: data)) }
            return failure.map { .failure($0) } ?? .success(())
        }
    }

    /// The file's current size. Not counted.
    public func size() -> Result<UInt64, SystemError> {
        disk.perform(nil, on: self) { inode, _ in .success(UInt64(inode.current.count)) }
    }

    /// Cuts or zero-extends the file to `size` bytes; volatile until ``sync()``.
    public func truncate(to size: UInt64) -> Result<Void, SystemError> {
        disk.perform(.truncate, on: self) { inode, _ in
            guard isWritable else { return .failure(.invalidArgument) }
            guard Self.fits(size, plus: 0) else { return .failure(SystemError(EFBIG)) }
            inode.record(.resize(Int(size)))
            return .success(())
        }
    }

    /// Makes the file's bytes and size durable (not its directory entry).
    public func sync() -> Result<Void, SystemError> {
        disk.perform(.sync, on: self) { inode, _ in
            inode.sync()
            return .success(())
        }
    }

    /// Takes the inode's exclusive lock for this handle; `false` when another handle holds it.
    public func tryLockExclusive() -> Result<Bool, SystemError> {
        disk.tryLock(self)
    }

    /// Device 1 and this file's inode number. Not counted.
    public func identity() -> Result<FileIdentity, SystemError> {
        disk.perform(nil, on: self) { _, _ in .success(FileIdentity(device: SimulatedDisk.device, inode: inode)) }
    }

    /// Whether a file of `offset + count` bytes stays within ``SimulatedDisk/fileSizeMax``.
    private static func fits(_ offset: UInt64, plus count: Int) -> Bool {
        offset <= UInt64(SimulatedDisk.fileSizeMax) && UInt64(count) <= UInt64(SimulatedDisk.fileSizeMax) - offset
    }
}
