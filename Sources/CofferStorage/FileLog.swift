import CofferCrypto
import CofferErrors
import CofferFormat

/// A vault file as a ``LogDevice``: reads and writes at the offsets of FORMAT.md §5 through
/// its ``StorageSystem``, under the durability contract of ``StorageIO``. One writer holds the
/// file's lock, so nothing else appends: a write never conflicts.
///
/// An append that reaches past the file's end also writes zeros after its frames, in the same
/// write, up to the next multiple of ``preallocationBytes`` (F-PREALLOCATE): the appends after
/// it overwrite bytes the file already has, so their `fdatasync` writes data only. One that
/// grows the file must also commit the new size to the file system's journal — on ext4 a
/// second write and flush, which made a 512-byte append and sync 1.5× slower here (`pwrite` +
/// `fdatasync` 5.5–5.9k/s at the end of a file, 8.3–8.5k/s over zeros written before;
/// BENCHMARKS.md, "Single commits over preallocated space"). One write, so
/// that its failure is the append's, as any (F-APPEND-STOP).
final class FileLogDevice: LogDevice, @unchecked Sendable {
    let file: any StorageFile
    private let storage: any StorageSystem
    private let path: String
    /// Whether ``end()`` checks that the path still names this file: a reader's file may be
    /// replaced by a writer's compaction; a writer's only by its own.
    private let checksReplacement: Bool
    /// Where the file ends, frames and free space, when known: only the writer appends and
    /// cuts, one call at a time, but the lock keeps the field whole whoever asks.
    private let allocated = Locked<UInt64?>(nil)

    /// The free space an append that grows the file leaves after its frames, at most: the
    /// file's length is then a multiple of it, as F-FREE asks.
    static let preallocationBytes = UInt64(FormatConstants.freeSpaceAlignment)

    init(file: any StorageFile, storage: any StorageSystem, path: String, checksReplacement: Bool) {
        self.file = file
        self.storage = storage
        self.path = path
        self.checksReplacement = checksReplacement
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
        file.read(into: buffer, at: offset)
    }

    func end() -> Result<UInt64, SystemError> {
        if checksReplacement, case .success(let held) = file.identity(),
            case .success(let named) = storage.identity(of: path), held != named
        {
            return .failure(.superseded)
        }
        return file.size()
    }

    func append(_ frames: FrameBatch, at offset: UInt64) -> Result<LogWriteOutcome, SystemError> {
        let end = offset + UInt64(frames.bytes.count)
        // The file's end before these frames: past it, the same write preallocates.
        let known = allocated.withLock { $0 } ?? (try? file.size().get())
        let grows = known.map { end > $0 } ?? false
        let written: Result<Void, SystemError>
        var preallocated = end
        if grows {
            preallocated = (end / Self.preallocationBytes + 1) * Self.preallocationBytes
            written = file.write(frames.bytes + [UInt8](repeating: 0, count: Int(preallocated - end)), at: offset)
        } else {
            written = file.write(frames.bytes, at: offset)
        }
        allocated.withLock { allocated in
            switch written {
            case .success: if grows { allocated = preallocated }
            case .failure: allocated = nil
            }
        }
        return written.map { .written }
    }

    func sync() -> Result<Void, SystemError> { file.sync() }

    func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError> { file.mapReadOnly(count) }

    func replaceHeaderCopy(_ index: Int, with bytes: [UInt8]) -> Result<LogWriteOutcome, SystemError> {
        file.write(bytes, at: UInt64(index * FormatConstants.headerCopyBytes)).flatMap { file.sync() }.map { .written }
    }

    func cutTornTail(at end: UInt64) -> Result<Void, SystemError> {
        allocated.withLock { $0 = nil }
        return file.truncate(to: end).flatMap { file.sync() }
    }

    func close() { file.close() }
}

/// Every storage system holds vault logs as files.
extension StorageSystem {
    public var isShared: Bool { false }

    public func resolve(_ path: String) -> Result<String, SystemError> {
        switch followingLink(path) {
        case .failure(.noSuchFileOrDirectory): .success(path)
        case let other: other
        }
    }

    /// Opens the file; a writer takes the lock on the file the path names now. A compaction
    /// may rename a new file over the path between the open and the lock: then it tries again
    /// until the locked file is the one the path names.
    public func openLog(_ path: String, readOnly: Bool) -> Result<(any LogDevice)?, SystemError> {
        for _ in 0..<8 {
            let file: any StorageFile
            switch open(path, mode: readOnly ? .readOnly : .readWrite) {
            case .failure(let error): return .failure(error)
            case .success(let opened): file = opened
            }
            let device = FileLogDevice(file: file, storage: self, path: path, checksReplacement: readOnly)
            if readOnly { return .success(device) }
            switch file.tryLockExclusive() {
            case .failure(let error):
                file.close()
                return .failure(error)
            case .success(false):
                file.close()
                return .success(nil)
            case .success(true): break
            }
            if case .success(let held) = file.identity(), case .success(let named) = identity(of: path), held == named {
                return .success(device)
            }
            file.close()
        }
        return .success(nil)
    }

    public func createLog(
        _ path: String, vaultID: [UInt8], header: [UInt8], frames: FrameBatch, _ what: String, taken: CofferError,
        framesFollow: Bool
    ) throws(CofferError) -> any NewLog {
        // Written whole under a temporary name, then moved to `path` without replacing: a
        // crash never leaves a half-made vault under its name.
        let staged = try StagedFile.create(path, on: self, what, taken: taken)
        let file = staged.file
        do throws(CofferError) {
            switch file.tryLockExclusive() {
            case .failure(let error): throw error.cofferError("Locking \(what)")
            case .success(false): throw CofferError(.locked, "Another process opened \(what) first.")
            case .success(true): break
            }
            if case .failure(let error) = file.write(header + frames.bytes, at: 0) {
                throw error.cofferError("Writing \(what)")
            }
            if case .failure(let error) = file.sync() { throw error.cofferError("Syncing \(what)") }
        } catch {
            file.close()
            staged.discard()
            throw error
        }
        return StagedFileLog(
            staged: staged, device: FileLogDevice(file: file, storage: self, path: path, checksReplacement: false))
    }

    public func beginSuccessor(of path: String) throws(CofferError) -> any SuccessorLog {
        let temporaryPath = VaultStore.sibling(
            VaultStore.compactionPrefix(of: path) + Hex.encode(RandomBytes.make(8)), of: path)
        let file: any StorageFile
        switch open(temporaryPath, mode: .createNew) {
        case .failure(let error): throw error.cofferError("Creating the compacted vault file")
        case .success(let opened): file = opened
        }
        // Locked at once, so that after the rename the new vault is already held by this writer.
        switch file.tryLockExclusive() {
        case .success(true):
            // Locked first, then given the vault's owner: it keeps them across the rename, so a
            // service user that opened the vault still opens it.
            file.takeOwnerAndMode(of: path)
            return SuccessorFile(file: file, storage: self, temporaryPath: temporaryPath, vaultPath: path)
        case .success(false):
            file.close()
            _ = remove(temporaryPath)
            throw CofferError(.locked, "Another process locked the compacted vault file.")
        case .failure(let error):
            file.close()
            _ = remove(temporaryPath)
            throw error.cofferError("Locking the compacted vault file")
        }
    }

    public func removeLeftoverSuccessors(of path: String) -> [String] {
        guard case .success(let names) = siblings(of: path) else { return [] }
        let prefixes = [VaultStore.compactionPrefix(of: path), VaultStore.checkpointName(of: path) + ".partial-"]
        var removed: [String] = []
        // Only the names this library gives them: a file that merely starts alike is someone's.
        for name in names where prefixes.contains(where: { VaultStore.isTemporaryName(name, prefix: $0) }) {
            if case .success = remove(VaultStore.sibling(name, of: path)) { removed.append(name) }
        }
        return removed
    }

    /// The checkpoint is the file `<vault name>.checkpoint` beside the vault.
    public func readCheckpoint(of path: String, for log: any LogDevice) -> Result<[UInt8]?, SystemError> {
        switch readScratchFile(VaultStore.sibling(VaultStore.checkpointName(of: path), of: path)) {
        case .success(let bytes): .success(bytes)
        case .failure(.noSuchFileOrDirectory): .success(nil)
        case .failure(let error): .failure(error)
        }
    }

    /// Replaces the checkpoint, but never a file of another kind that has its name.
    public func writeCheckpoint(_ bytes: [UInt8], of path: String, for log: any LogDevice) throws(CofferError) {
        let target = VaultStore.sibling(VaultStore.checkpointName(of: path), of: path)
        if try isOtherFile(at: target) {
            throw CofferError(
                .alreadyExists,
                "\(target) exists and is not an index checkpoint; move it away to let the vault keep its checkpoint there."
            )
        }
        try StagedFile.write(bytes, to: target, on: self, "the checkpoint", replacing: true, ownerAndModeOf: path)
    }

    /// Removes the checkpoint; a file of another kind that has its name is left alone (it is
    /// no checkpoint an open could use).
    public func removeCheckpoint(of path: String) throws(CofferError) {
        let target = VaultStore.sibling(VaultStore.checkpointName(of: path), of: path)
        guard try !isOtherFile(at: target) else { return }
        switch remove(target) {
        case .failure(.noSuchFileOrDirectory): return
        case .failure(let error): throw error.cofferError("Removing the index checkpoint")
        case .success: break
        }
        if case .failure(let error) = syncDirectory(containing: path) {
            throw error.cofferError("Syncing the directory after removing the index checkpoint")
        }
    }

    /// Whether `path` names a file that does not start as a checkpoint does (F-CHECKPOINT):
    /// one Coffer did not write, which it must not replace or remove. An empty file holds
    /// nothing to lose.
    private func isOtherFile(at path: String) throws(CofferError) -> Bool {
        let file: any StorageFile
        switch open(path, mode: .readOnly) {
        case .failure(.noSuchFileOrDirectory): return false
        case .failure(let error): throw error.cofferError("Opening \(path) to check it is an index checkpoint")
        case .success(let opened): file = opened
        }
        defer { file.close() }
        switch file.read(count: Checkpoint.magic.count, at: 0) {
        case .failure(let error): throw error.cofferError("Reading \(path) to check it is an index checkpoint")
        case .success(let start): return !start.isEmpty && start != Checkpoint.magic
        }
    }

    public func beginWriterTurn() throws(CofferError) {}

    public func endWriterTurn() {}

    public func follow(interval: Duration, _ onChange: @escaping @Sendable () -> Void) throws(CofferError)
        -> (any SharedLogFollower)?
    {
        nil
    }
}

/// A new vault file, written and synced under a temporary name until it is published.
private final class StagedFileLog: NewLog {
    let staged: StagedFile
    let device: any LogDevice

    init(staged: StagedFile, device: any LogDevice) {
        self.staged = staged
        self.device = device
    }

    func publish(_ what: String, taken: CofferError) throws(CofferError) {
        try staged.publish(what, taken: taken)
    }

    func discard() {
        device.close()
        staged.discard()
    }
}

/// A compaction's new vault file, `<vault>.compact-<random>` beside the vault, renamed over
/// it at the switch. Frames are written without syncing until then.
private final class SuccessorFile: SuccessorLog {
    let file: any StorageFile
    let storage: any StorageSystem
    let temporaryPath: String
    let vaultPath: String
    /// Where the next frames go.
    private var end = FormatConstants.logStartOffset

    init(file: any StorageFile, storage: any StorageSystem, temporaryPath: String, vaultPath: String) {
        self.file = file
        self.storage = storage
        self.temporaryPath = temporaryPath
        self.vaultPath = vaultPath
    }

    var name: String { temporaryPath }

    func writeHeader(_ bytes: [UInt8]) throws(CofferError) {
        if case .failure(let error) = file.write(bytes, at: 0) {
            throw error.cofferError("Writing the compacted vault's header")
        }
    }

    func append(_ frames: FrameBatch) throws(CofferError) {
        if case .failure(let error) = file.write(frames.bytes, at: end) {
            throw error.cofferError("Writing the compacted vault", offset: end)
        }
        end += UInt64(frames.bytes.count)
    }

    /// Syncs the new file and renames it over the vault: the vault's writer is this process,
    /// so its log ends where the compaction copied it to.
    func switchOver(replacingLogEndingAt end: UInt64, lastSequence: UInt64) throws(CofferError) -> LogWriteOutcome {
        if case .failure(let error) = file.sync() { throw error.cofferError("Syncing the compacted vault") }
        if case .failure(let error) = storage.rename(temporaryPath, to: vaultPath) {
            throw error.cofferError("Renaming the compacted vault over the old one")
        }
        return .written
    }

    func makeSwitchDurable() throws(CofferError) {
        if case .failure(let error) = storage.syncDirectory(containing: vaultPath) {
            // After the rename: the vault is the compacted file now, only not known durable.
            throw error.cofferError("Syncing the directory after compaction").adding(
                "The compacted vault replaced the old one, but not durably: after a crash the vault may be the old "
                    + "file again, which holds the same credentials under the keys it had then (a key rotation or "
                    + "revocation undone): run the command again.")
        }
    }

    var device: any LogDevice {
        FileLogDevice(file: file, storage: storage, path: vaultPath, checksReplacement: false)
    }

    func abandon() {
        file.close()
        _ = storage.remove(temporaryPath)
    }
}
