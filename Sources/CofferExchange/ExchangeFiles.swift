import Coffer
import CofferStorage

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
        switch PosixStorage.readWhole(path, maximum: maximum) {
        case .success(let contents): return contents
        case .failure(.fileTooLarge): throw tooLarge(path, maximum: maximum)
        case .failure(let error): throw error.cofferError("Reading the file \(path)")
        }
    }

    private static func tooLarge(_ path: String, maximum: Int) -> CofferError {
        CofferError(
            .invalidInput,
            "The file \(path) is larger than \(maximum) bytes, more than one import can hold (I-LIMITS); split it, "
                + "one organization at a time.")
    }

    /// Writes `bytes` to `path` with mode 0600, durably: into a temporary file beside it,
    /// synced, then put in place in one step, so `path` never holds a half-written file
    /// (``StagedFile/write(_:to:on:_:replacing:keepingUnsynced:ownerAndModeOf:)``).
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
}
