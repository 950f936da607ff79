import CofferErrors
import CofferFormat

/// A vault's log as the storage layer reads and writes it: the two header copies, then sealed
/// frames one after another (FORMAT.md §5), each at the offset a file would give it.
///
/// Two devices implement it: a file over a ``StorageSystem`` (``PosixStorage``, or the
/// simulated disk of the crash tests), and a log many processes share over a
/// ``SharedLogBackend`` (``SharedLogStorage``). The scanner, the writer, recovery, header
/// rewrites and compaction are the same code over both. Appends and header replacements are
/// conditional: on a shared log another instance may have written first, which is a
/// ``LogWriteOutcome/conflict``, never an error. A file has one writer (its lock holder), so
/// there it never happens.
public protocol LogDevice: AnyObject, Sendable {
    /// Reads up to `buffer.count` bytes at `offset`: header copies before
    /// `FormatConstants.logStartOffset`, frames after. Fewer only at the end of the log.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError>
    /// Where the log ends now, frames other instances appended included; on a file, its
    /// length, free space after the last frame (F-FREE) included.
    ///
    /// Fails with ``SystemError/superseded`` when the log is no longer the vault's (a compaction
    /// replaced it under a reader, or another instance switched a shared log).
    func end() -> Result<UInt64, SystemError>
    /// Writes `frames` at `offset`, the end of the last frame this device knows: volatile on a
    /// file until ``sync()``, durable at once on a shared log (one transaction).
    /// ``LogWriteOutcome/conflict``: another instance appended first; nothing was written.
    func append(_ frames: FrameBatch, at offset: UInt64) -> Result<LogWriteOutcome, SystemError>
    /// Makes every frame appended so far durable (fdatasync); nothing to do on a shared log.
    func sync() -> Result<Void, SystemError>
    /// Replaces header copy `index` (0 or 1) with `bytes` and makes it durable.
    /// ``LogWriteOutcome/conflict``: another instance replaced the header first; nothing was written.
    func replaceHeaderCopy(_ index: Int, with bytes: [UInt8]) -> Result<LogWriteOutcome, SystemError>
    /// Cuts an incomplete final frame (F-TORN) so that the log ends at `end`, durably.
    func cutTornTail(at end: UInt64) -> Result<Void, SystemError>
    /// Closes the device now, releasing a file's lock; later calls fail. Closing twice is harmless.
    func close()
    /// Maps the log's first `count` bytes into memory for reading frames
    /// (``StorageFile/mapReadOnly(_:)``); nil where the log cannot be mapped (a shared log).
    func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError>
}

extension LogDevice {
    /// Maps nothing: frames are read with ``read(into:at:)``.
    public func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError> { .success(nil) }
}

/// How a conditional write to a log went.
public enum LogWriteOutcome: Sendable, Equatable {
    /// Written, and durable when asked to be.
    case written
    /// Another instance sharing the log wrote first; nothing was written: catch up and decide again.
    case conflict
}

/// Sealed frames to append, one after another, with their sequence numbers: a file writes the
/// bytes as they are, a shared log stores each frame as a row.
public struct FrameBatch: Sendable {
    /// The frames' bytes, back to back.
    public private(set) var bytes: [UInt8] = []
    /// Each frame's sequence number and length, in order.
    public private(set) var frames: [(sequence: UInt64, count: Int)] = []

    public init() {}

    public var isEmpty: Bool { frames.isEmpty }

    /// Adds the frame of record `sequence`.
    public mutating func append(sequence: UInt64, frame: [UInt8]) {
        bytes += frame
        frames.append((sequence, frame.count))
    }

    /// Adds every frame of `other`, after these.
    public mutating func append(contentsOf other: FrameBatch) {
        bytes += other.bytes
        frames += other.frames
    }

    /// Forgets every frame, keeping the memory for the next ones.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        frames.removeAll(keepingCapacity: true)
    }

    /// The frames one by one: each sequence number with its bytes.
    public func forEachFrame(_ body: (UInt64, ArraySlice<UInt8>) throws -> Void) rethrows {
        var start = 0
        for frame in frames {
            try body(frame.sequence, bytes[start..<start + frame.count])
            start += frame.count
        }
    }
}

extension LogDevice {
    /// Reads exactly `count` bytes at `offset`, or fewer when the log ends first.
    public func read(count: Int, at offset: UInt64) -> Result<[UInt8], SystemError> {
        readBytes(count: count, at: offset, with: read(into:at:))
    }
}

/// Where vault logs live, and how one is opened, created and replaced by a compaction's new
/// one: files on a ``StorageSystem`` (every storage system is a medium: vault files are files)
/// or one shared store (``SharedLogStorage``).
public protocol LogMedium: Sendable {
    /// Whether other instances append to the same log: then an append may conflict, writers
    /// take turns (``beginWriterTurn()``) and ``follow(interval:_:)`` tells of their commits.
    var isShared: Bool { get }
    /// The path a store keeps for the vault `path` names: a file's real path when `path` is a
    /// symbolic link, so that a compaction's rename replaces the file and keeps the link.
    func resolve(_ path: String) -> Result<String, SystemError>
    /// Opens the log at `path`; a writer's open takes the log's writer lock and is `nil` when
    /// another process holds it. `.notFound` reason (ENOENT) when no vault is there.
    func openLog(_ path: String, readOnly: Bool) -> Result<(any LogDevice)?, SystemError>
    /// Creates the log of vault `vaultID` at `path` with both header copies and its first
    /// frames, durably, locked for writing. It has its name only once published (``NewLog``).
    ///
    /// - Parameters:
    ///   - what: the log, for messages ("the new vault", "the copy").
    ///   - framesFollow: more frames are appended before it is published (a copy): a shared
    ///     store then stages it under no name until then (F-SHARED-COPY); a file is always
    ///     staged under a temporary name.
    /// - Throws: `taken` when a vault exists there (a shared store: one with this id, under any
    ///   name); `.io`.
    func createLog(
        _ path: String, vaultID: [UInt8], header: [UInt8], frames: FrameBatch, _ what: String, taken: CofferError,
        framesFollow: Bool
    ) throws(CofferError) -> any NewLog
    /// Starts the log a compaction writes to replace the one at `path` (F-COMPACT).
    func beginSuccessor(of path: String) throws(CofferError) -> any SuccessorLog
    /// Removes what compactions interrupted by a crash left (only a writer, holding the lock,
    /// knows none runs); returns the names removed.
    func removeLeftoverSuccessors(of path: String) -> [String]
    /// The index checkpoint kept beside the log at `path` (F-CHECKPOINT), unchecked; `nil` when
    /// there is none, or the medium keeps none. `log` is the device the caller reads: a shared
    /// store keeps a checkpoint per log generation, and reads that device's.
    func readCheckpoint(of path: String, for log: any LogDevice) -> Result<[UInt8]?, SystemError>
    /// Makes `bytes` the checkpoint kept beside the log at `path`, replacing the one there:
    /// the old one or the new one, whole, is there at every moment, and the new one is durable
    /// when this returns. Only the writer holding the log's lock calls it (a shared store's
    /// writers: F-SHARED-CHECKPOINT). `log` is the device the checkpoint was taken from.
    ///
    /// - Throws: `.io`; `.invalidInput` from a medium that keeps no checkpoints.
    func writeCheckpoint(_ bytes: [UInt8], of path: String, for log: any LogDevice) throws(CofferError)
    /// Removes the checkpoint kept beside the log at `path`, durably (a compaction, before its
    /// switch); nothing when there is none.
    func removeCheckpoint(of path: String) throws(CofferError)
    /// Waits for the vault's writer turn on a shared log (``SharedLogBackend/beginWriterTurn()``);
    /// nothing on a file, whose lock already makes its holder the only writer.
    func beginWriterTurn() throws(CofferError)
    /// Ends the writer turn ``beginWriterTurn()`` began.
    func endWriterTurn()
    /// On a shared log, calls `onChange` soon after other instances commit
    /// (``SharedLogBackend/follow(interval:_:)``); `nil` on a file.
    func follow(interval: Duration, _ onChange: @escaping @Sendable () -> Void) throws(CofferError)
        -> (any SharedLogFollower)?
}

/// A new vault's log, created whole: a file is written under a temporary name until it is
/// published; a shared log exists as soon as it is created.
public protocol NewLog: AnyObject {
    /// The log, to append more frames to before publishing (a copy) or to keep using after.
    var device: any LogDevice { get }
    /// Gives the log its name, durably. `taken` when something took the name meanwhile.
    func publish(_ what: String, taken: CofferError) throws(CofferError)
    /// Gives up a log never published: removes a file, or a shared log staged under no name.
    func discard()
}

/// The log a compaction writes beside the vault's, which replaces it in one step
/// (F-COMPACT): a file renamed over the vault's, or a shared log's next generation.
public protocol SuccessorLog: AnyObject {
    /// A name for messages and for leftovers: a file's temporary path.
    var name: String { get }
    /// Writes both header copies (again, before the switch, with the final lineage). Not durable yet.
    func writeHeader(_ bytes: [UInt8]) throws(CofferError)
    /// Writes frames after the ones written before. Not durable yet.
    func append(_ frames: FrameBatch) throws(CofferError)
    /// Makes everything written durable and puts this log in the place of the vault's, provided
    /// the vault's log still ends with record `lastSequence`, at `end`.
    /// ``LogWriteOutcome/conflict``: another instance appended meanwhile; nothing changed.
    func switchOver(replacingLogEndingAt end: UInt64, lastSequence: UInt64) throws(CofferError) -> LogWriteOutcome
    /// Makes the switch itself durable (a file's directory sync). Until it returns, nothing on
    /// the new log may be acknowledged.
    func makeSwitchDurable() throws(CofferError)
    /// The new log, to read and write once switched.
    var device: any LogDevice { get }
    /// Gives up before the switch: the vault's log is untouched.
    func abandon()
}
