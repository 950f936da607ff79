import Coffer
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Reading an input file and writing an export, with the care secrets need: an input goes
/// from `read(2)` straight into a ``SecretBuffer``; an export is written with mode 0600 into
/// a new file beside its target, synced, renamed over it and the directory synced
/// (``StagedFile``), so that a crash leaves the old file or the new one, whole, and nobody
/// else can read it meanwhile.
public enum ExchangeFiles {
    /// Reads a whole file, at most `maximum` bytes (by default what an import reads,
    /// I-LIMITS). A regular file larger than that is refused before any of it is read, and
    /// one that fits is read into a buffer of its size, not grown by doubling.
    ///
    /// - Throws: `.notFound`, `.io`, `.invalidInput` for a file larger than `maximum`.
    public static func read(_ path: String, maximum: Int = ExchangeLimits.importBytesMax) throws(CofferError)
        -> SecretBuffer
    {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw systemError("The file \(path) could not be opened", path: path) }
        defer { close(descriptor) }
        var status = stat()
        var expected = 65536
        if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG {
            guard status.st_size <= maximum else { throw tooLarge(path, maximum: maximum) }
            expected = Int(status.st_size) + 1
        }
        let buffer = SecretBuffer(capacity: expected)
        while true {
            var result = 0
            buffer.appendInPlace(maximum: 65536) { space in
                result = Glibc.read(descriptor, space.baseAddress, space.count)
                return max(result, 0)
            }
            if result == 0 { break }
            if result < 0 {
                if errno == EINTR { continue }
                throw systemError("The file \(path) could not be read", path: path)
            }
            guard buffer.count <= maximum else { throw tooLarge(path, maximum: maximum) }
        }
        return buffer
    }

    private static func tooLarge(_ path: String, maximum: Int) -> CofferError {
        CofferError(
            .invalidInput,
            "The file \(path) is larger than \(maximum) bytes, more than one import can hold (I-LIMITS); split it, "
                + "one organization at a time.")
    }

    /// Writes `bytes` to `path` with mode 0600, durably: into a temporary file beside it,
    /// synced, then put in place in one step, so `path` never holds a half-written file
    /// (``StagedFile/write(_:to:on:_:replacing:keepingUnsynced:)``).
    ///
    /// - Parameters:
    ///   - replacing: whether a file at `path` may be replaced. When false, the temporary file
    ///     is moved to `path` without replacing, which fails if anything appeared there meanwhile.
    ///   - keepingUnsynced: what happens to a new file (`replacing` false) whose directory
    ///     could not be synced: kept in place (a crash could still lose it), or removed.
    /// - Throws: `.alreadyExists` when `replacing` is false and `path` exists; `.notFound` when
    ///   its directory does not exist; `.io` naming the step that failed. The target is then
    ///   untouched, except when the last step, syncing the directory, failed: the new file is
    ///   in place then (unless `keepingUnsynced` is false), but a crash could lose it.
    public static func write(
        _ bytes: UnsafeRawBufferPointer, to path: String, replacing: Bool, keepingUnsynced: Bool = true
    ) throws(CofferError) {
        try StagedFile.write(
            bytes, to: path, on: PosixStorage(), "the file \(path)", replacing: replacing,
            keepingUnsynced: keepingUnsynced)
    }

    private static func systemError(_ what: String, path: String) -> CofferError {
        let number = errno
        if number == ENOENT { return CofferError(.notFound, "\(what): no such file or directory.") }
        return CofferError(.io(errno: number), "\(what): \(String(cString: strerror(number))).")
    }
}
