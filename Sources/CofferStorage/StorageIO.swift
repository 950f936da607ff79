/// The small I/O surface the storage layer uses, so that tests can replace the disk.
///
/// ``PosixStorage`` is the real implementation; `CofferSimulation.SimulatedDisk` keeps files in
/// memory, tracks which bytes are durable, injects faults and can crash. Every call returns a
/// `Result`; nothing here throws.
///
/// Semantics every implementation follows (they are what POSIX promises, no more):
/// - ``StorageFile/write(_:at:)`` bytes are volatile until ``StorageFile/sync()`` returns
///   success; a crash may lose any subset of unsynced bytes.
/// - A created, renamed or removed directory entry is volatile until
///   ``StorageSystem/syncDirectory(containing:)`` returns success for its directory.
/// - After a failed sync, the state of unsynced bytes is unknown (the kernel may have dropped
///   them), which is why the log writer stops acknowledging after one.
///
/// Every storage system is a ``LogMedium`` whose vault logs are files (``FileLogDevice``).
public protocol StorageSystem: LogMedium {
    /// Opens a file. `.createNew` fails with `EEXIST` when the path exists.
    func open(_ path: String, mode: OpenMode) -> Result<any StorageFile, SystemError>
    /// Atomically replaces `target` with `source` (rename(2)).
    func rename(_ source: String, to target: String) -> Result<Void, SystemError>
    /// Gives the file `source` names the name `target` instead, atomically, and fails with
    /// `EEXIST` when `target` exists: nothing is ever replaced. Volatile until the directory is synced.
    func moveWithoutReplacing(_ source: String, to target: String) -> Result<Void, SystemError>
    /// Removes a file (unlink(2)).
    func remove(_ path: String) -> Result<Void, SystemError>
    /// Makes the directory entries of the directory holding `path` durable (fsync of the directory).
    func syncDirectory(containing path: String) -> Result<Void, SystemError>
    /// The identity of the file a path names now (stat(2)), to detect a path replaced under an open handle.
    func identity(of path: String) -> Result<FileIdentity, SystemError>
    /// The names (not paths) of the entries in the directory holding `path`, in no particular order.
    func siblings(of path: String) -> Result<[String], SystemError>
    /// The path of the file `path` names when its last component is a symbolic link, `path`
    /// itself otherwise: a store works beside the real file, so that a compaction's rename
    /// replaces the file and keeps the link.
    func followingLink(_ path: String) -> Result<String, SystemError>
    /// Whether `path` is a symbolic link to nothing: a path that names no file, yet is taken.
    func isDanglingLink(_ path: String) -> Bool
    /// Whether `path` names, through links, something other than a regular file: a device, a
    /// pipe, a socket or a directory. False when it names nothing.
    func isSpecialFile(_ path: String) -> Bool
}

extension StorageSystem {
    /// No links: the path itself.
    public func followingLink(_ path: String) -> Result<String, SystemError> { .success(path) }

    /// No links, so none dangles.
    public func isDanglingLink(_ path: String) -> Bool { false }

    /// Regular files only.
    public func isSpecialFile(_ path: String) -> Bool { false }

}

/// How to open a file.
public enum OpenMode: Sendable, Equatable {
    case readOnly
    case readWrite
    /// Create a file that must not exist, read-write, with permissions 0600.
    case createNew
}

/// Device and inode: what makes two handles the same file.
public struct FileIdentity: Sendable, Hashable {
    public let device: UInt64
    public let inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

/// An open file. Closed when released; closing releases its lock.
public protocol StorageFile: AnyObject, Sendable {
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError>
    /// Writes all of `bytes` at `offset`, retrying short writes and `EINTR`; an error means an
    /// unknown prefix may have been written.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Result<Void, SystemError>
    /// The file's current size.
    func size() -> Result<UInt64, SystemError>
    /// Cuts or extends the file to `size` bytes.
    func truncate(to size: UInt64) -> Result<Void, SystemError>
    /// Makes written bytes and the size durable (fdatasync(2)).
    func sync() -> Result<Void, SystemError>
    /// Takes the exclusive writer lock without waiting; `false` when another holder has it.
    /// The lock belongs to this open file and disappears when it is closed or its process dies.
    func tryLockExclusive() -> Result<Bool, SystemError>
    /// The identity of the open file (fstat(2)).
    func identity() -> Result<FileIdentity, SystemError>
    /// Closes the file now, releasing its lock; later calls fail with `EBADF`. Closing twice
    /// is harmless. Releasing the last reference closes it too.
    func close()
    /// Maps the file's first `count` bytes into memory, read-only and shared with the file's
    /// pages (mmap(2)); nil where the file system maps nothing, and then every read goes
    /// through ``read(into:at:)``. The mapping outlives ``close()``: it is unmapped when
    /// released. `count` may exceed the file's size — bytes appended later show through —
    /// but reading a mapped byte past the file's end, or one the disk fails to give, raises
    /// `SIGBUS`: read only what the file is known to hold.
    func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError>
    /// Takes, through this open file (never a path another process could swap for a link),
    /// the owner and group of the file at `model` and its owner's and group's permission bits,
    /// as far as this process may: only root gives a file away, and a group it could not give
    /// gets no bits; others get none. Nothing when `model` does not exist. A file that
    /// replaces another (a compaction's vault, a checkpoint, a head file) so stays readable by
    /// who could read that one, never by more. Best effort: a file system without owners keeps
    /// the file as it was made (mode 0600).
    func takeOwnerAndMode(of model: String)
}

extension StorageFile {
    /// Maps nothing: a file system that cannot map leaves every read to ``read(into:at:)``.
    public func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError> { .success(nil) }

    /// No owners or modes.
    public func takeOwnerAndMode(of model: String) {}
}

/// A file's first bytes mapped into memory read-only (``StorageFile/mapReadOnly(_:)``),
/// unmapped when the last reference goes.
public protocol StorageMapping: AnyObject, Sendable {
    /// The mapped bytes, from the file's first; valid while the mapping is held.
    var bytes: UnsafeRawBufferPointer { get }
}

extension StorageSystem {
    /// The whole content of the file at `path`, as its size says when it is opened: for
    /// scratch files (tests, materialized crash states). Inputs that may hold secrets, or be a
    /// pipe, are read with ``PosixStorage/readWhole(_:maximum:)``.
    public func readScratchFile(_ path: String) -> Result<[UInt8], SystemError> {
        open(path, mode: .readOnly).flatMap { file in
            defer { file.close() }
            return file.size().flatMap { size in file.read(count: Int(size), at: 0) }
        }
    }

    /// Makes `bytes` the content of the file at `path` (created when missing, cut and
    /// rewritten in place otherwise, like `O_TRUNC`), with no staging and no sync: for scratch
    /// files only (tests, materialized crash states). What Coffer keeps goes through ``StagedFile``.
    public func overwriteScratchFile(_ path: String, with bytes: [UInt8]) -> Result<Void, SystemError> {
        let opened: Result<any StorageFile, SystemError>
        switch open(path, mode: .readWrite) {
        case .failure(.noSuchFileOrDirectory): opened = open(path, mode: .createNew)
        case let other: opened = other.flatMap { file in file.truncate(to: 0).map { file } }
        }
        return opened.flatMap { file in
            defer { file.close() }
            return file.write(bytes, at: 0)
        }
    }
}

extension StorageFile {
    /// Reads exactly `count` bytes at `offset`, or fewer when the file ends first.
    public func read(count: Int, at offset: UInt64) -> Result<[UInt8], SystemError> {
        readBytes(count: count, at: offset, with: read(into:at:))
    }

    /// Writes all of `bytes` at `offset`; see ``write(_:at:)``.
    public func write(_ bytes: [UInt8], at offset: UInt64) -> Result<Void, SystemError> {
        bytes.withUnsafeBytes { write($0, at: offset) }
    }
}

/// Reads exactly `count` bytes at `offset` with `read` (a file's or a log device's), or fewer
/// when the data ends first.
func readBytes(
    count: Int, at offset: UInt64, with read: (UnsafeMutableRawBufferPointer, UInt64) -> Result<Int, SystemError>
) -> Result<[UInt8], SystemError> {
    // Not zeroed first: the buffer keeps only the bytes read (a checkpoint is hundreds of
    // megabytes at a million credentials, and zeroing it cost as much as reading it).
    var result: Result<Int, SystemError> = .success(0)
    let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        result = read(UnsafeMutableRawBufferPointer(buffer), offset)
        initialized = (try? result.get()) ?? 0
    }
    return result.map { _ in bytes }
}
