import CFileSystem
import CofferCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// The real disk: POSIX calls through Glibc, no Foundation.
public struct PosixStorage: StorageSystem {
    public init() {}

    public func open(_ path: String, mode: OpenMode) -> Result<any StorageFile, SystemError> {
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY | O_CLOEXEC
        case .readWrite: flags = O_RDWR | O_CLOEXEC
        case .createNew: flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC
        }
        let descriptor = retryingInterrupts { Glibc.open(path, flags, 0o600) }
        guard descriptor >= 0 else { return .failure(.current) }
        return .success(PosixFile(descriptor: descriptor))
    }

    public func rename(_ source: String, to target: String) -> Result<Void, SystemError> {
        Glibc.rename(source, target) == 0 ? .success(()) : .failure(.current)
    }

    public func moveWithoutReplacing(_ source: String, to target: String) -> Result<Void, SystemError> {
        Self.moveWithoutReplacing(source, to: target)
    }

    /// renameat2 with RENAME_NOREPLACE; where the file system has no such rename (EINVAL,
    /// ENOSYS), link(2) then unlink(2) of `source`, which never replaces `target` either. For
    /// files outside the storage layer too (exports, key files).
    public static func moveWithoutReplacing(_ source: String, to target: String) -> Result<Void, SystemError> {
        if coffer_rename_noreplace(source, target) == 0 { return .success(()) }
        let number = errno
        guard number == EINVAL || number == ENOSYS else { return .failure(SystemError(number)) }
        guard Glibc.link(source, target) == 0 else { return .failure(.current) }
        _ = unlink(source)
        return .success(())
    }

    /// Reads the whole file at `path` with read(2) into locked memory: a regular file into a
    /// buffer of its size, a pipe or device (`/dev/stdin`) as it comes. A regular file larger
    /// than `maximum` bytes is refused (``SystemError/fileTooLarge``) before any of it is read,
    /// and so is a stream that goes on past it. For inputs outside a vault: key files,
    /// passphrase files, import files.
    public static func readWhole(_ path: String, maximum: Int) -> Result<SecretBuffer, SystemError> {
        let descriptor = retryingInterrupts { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { return .failure(.current) }
        defer { close(descriptor) }
        var information = stat()
        guard fstat(descriptor, &information) == 0 else { return .failure(.current) }
        var expected = 65536
        if information.st_mode & S_IFMT == S_IFREG {
            guard information.st_size <= maximum else { return .failure(.fileTooLarge) }
            // One more byte than the size, so that the read which finds the end needs no growth.
            expected = Int(information.st_size) + 1
        }
        let buffer = SecretBuffer(capacity: expected)
        while true {
            var result = 0
            buffer.appendInPlace(maximum: min(65536, maximum + 1 - buffer.count)) { space in
                result = Glibc.read(descriptor, space.baseAddress, space.count)
                return max(result, 0)
            }
            if result == 0 { return .success(buffer) }
            if result < 0 {
                if errno == EINTR { continue }
                return .failure(.current)
            }
            guard buffer.count <= maximum else { return .failure(.fileTooLarge) }
        }
    }

    public func remove(_ path: String) -> Result<Void, SystemError> {
        unlink(path) == 0 ? .success(()) : .failure(.current)
    }

    public func syncDirectory(containing path: String) -> Result<Void, SystemError> {
        let directory = Self.directory(of: path)
        let descriptor = retryingInterrupts { Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { return .failure(.current) }
        defer { close(descriptor) }
        return fsync(descriptor) == 0 ? .success(()) : .failure(.current)
    }

    public func identity(of path: String) -> Result<FileIdentity, SystemError> {
        var information = stat()
        guard stat(path, &information) == 0 else { return .failure(.current) }
        return .success(FileIdentity(device: UInt64(information.st_dev), inode: UInt64(information.st_ino)))
    }

    public func followingLink(_ path: String) -> Result<String, SystemError> {
        var information = stat()
        guard lstat(path, &information) == 0 else { return .failure(.current) }
        guard (information.st_mode & S_IFMT) == S_IFLNK else { return .success(path) }
        guard let resolved = realpath(path, nil) else { return .failure(.current) }
        defer { free(resolved) }
        return .success(String(cString: resolved))
    }

    public func isDanglingLink(_ path: String) -> Bool {
        var information = stat()
        guard lstat(path, &information) == 0, (information.st_mode & S_IFMT) == S_IFLNK else { return false }
        return stat(path, &information) != 0
    }

    public func isSpecialFile(_ path: String) -> Bool {
        var information = stat()
        return stat(path, &information) == 0 && (information.st_mode & S_IFMT) != S_IFREG
    }

    public func siblings(of path: String) -> Result<[String], SystemError> {
        guard let directory = opendir(Self.directory(of: path)) else { return .failure(.current) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// The directory part of `path` (`.` for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Retries a system call while it fails with `EINTR`.
@inline(__always)
func retryingInterrupts(_ call: () -> Int32) -> Int32 {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

/// An open POSIX file descriptor, closed on release.
final class PosixFile: StorageFile, @unchecked Sendable {
    /// -1 once closed. Guarded so that `close` racing a read cannot close a reused number.
    private let state: Locked<Int32>

    init(descriptor: Int32) { self.state = Locked(descriptor) }

    deinit { close() }

    private var descriptor: Int32 { state.withLock { $0 } }

    func close() {
        state.withLock { descriptor in
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
        // An offset past what off_t holds names no byte of any file (and would trap below).
        guard offset <= UInt64(Int64.max) - UInt64(buffer.count) else { return .failure(.invalidArgument) }
        Self.adviseHugePages(buffer)
        var total = 0
        while total < buffer.count {
            let count = pread(
                descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.current)
            }
            if count == 0 { break }
            total += count
        }
        return .success(total)
    }

    /// Asks for huge pages under a large buffer about to be filled (`madvise(MADV_HUGEPAGE)` on
    /// its 2 MiB-aligned interior): a checkpoint of a million credentials is 287 MB, whose
    /// 70,000 faults of 4 KiB pages were about a tenth of an open. Advice only: where the kernel
    /// takes none (transparent huge pages off), nothing changes. Only buffers of 64 MiB and
    /// more, which glibc always maps apart and unmaps when freed (its mmap threshold stops at
    /// 32 MiB): the advice must not stay on heap memory that later small blocks reuse. Where
    /// the kernel compacts memory for a huge page at the fault (`defrag` of `madvise`), a
    /// fragmented machine may spend some of the gain doing so.
    private static func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
        let hugePage = 2 << 20
        guard buffer.count >= 64 << 20, let base = buffer.baseAddress else { return }
        let start = (Int(bitPattern: base) + hugePage - 1) / hugePage * hugePage
        let end = (Int(bitPattern: base) + buffer.count) / hugePage * hugePage
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, MADV_HUGEPAGE)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Result<Void, SystemError> {
        guard offset <= UInt64(Int64.max) - UInt64(bytes.count) else { return .failure(.fileTooLarge) }
        var total = 0
        while total < bytes.count {
            let count = pwrite(
                descriptor, bytes.baseAddress! + total, bytes.count - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.current)
            }
            // A zero-byte write of a non-empty buffer would loop forever; treat it as no space.
            if count == 0 { return .failure(.noSpace) }
            total += count
        }
        return .success(())
    }

    func size() -> Result<UInt64, SystemError> {
        var information = stat()
        guard fstat(descriptor, &information) == 0 else { return .failure(.current) }
        return .success(UInt64(information.st_size))
    }

    func truncate(to size: UInt64) -> Result<Void, SystemError> {
        guard let length = off_t(exactly: size) else { return .failure(.fileTooLarge) }
        return retryingInterrupts { ftruncate(descriptor, length) } == 0 ? .success(()) : .failure(.current)
    }

    func sync() -> Result<Void, SystemError> {
        // A failed fdatasync is not retried: after one, the kernel may have dropped the dirty
        // pages, and a retry that succeeds would claim durability that does not exist.
        fdatasync(descriptor) == 0 ? .success(()) : .failure(.current)
    }

    func tryLockExclusive() -> Result<Bool, SystemError> {
        if retryingInterrupts({ flock(descriptor, LOCK_EX | LOCK_NB) }) == 0 { return .success(true) }
        return errno == EWOULDBLOCK ? .success(false) : .failure(.current)
    }

    func takeOwnerAndMode(of model: String) {
        var information = stat()
        guard stat(model, &information) == 0 else { return }
        var mode = information.st_mode & 0o770
        if fchown(descriptor, information.st_uid, information.st_gid) != 0 {
            // Not root: the group, if this process belongs to it; else the group's bits would
            // go to the process's own group.
            if fchown(descriptor, uid_t.max, information.st_gid) != 0 { mode &= 0o700 }
        }
        _ = fchmod(descriptor, mode)
    }

    func identity() -> Result<FileIdentity, SystemError> {
        var information = stat()
        guard fstat(descriptor, &information) == 0 else { return .failure(.current) }
        return .success(FileIdentity(device: UInt64(information.st_dev), inode: UInt64(information.st_ino)))
    }

    func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError> {
        guard count > 0 else { return .failure(.invalidArgument) }
        let memory = mmap(nil, count, PROT_READ, MAP_SHARED, descriptor, 0)
        guard let memory, memory != MAP_FAILED else { return .failure(.current) }
        return .success(PosixMapping(base: memory, count: count))
    }
}

/// A read-only shared mapping of a file (mmap(2)), unmapped on release.
final class PosixMapping: StorageMapping, @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    init(base: UnsafeMutableRawPointer, count: Int) {
        bytes = UnsafeRawBufferPointer(start: base, count: count)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
}
