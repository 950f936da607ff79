import CofferCrypto
import CofferErrors

/// One frame of a shared log: its sequence number and its bytes, exactly as a vault file
/// holds them (FORMAT.md §5).
public struct SharedFrame: Sendable, Equatable, CustomStringConvertible {
    public let sequence: UInt64
    public let bytes: [UInt8]

    public init(sequence: UInt64, bytes: [UInt8]) {
        self.sequence = sequence
        self.bytes = bytes
    }

    public var description: String { "SharedFrame(sequence: \(sequence), \(bytes.count) bytes)" }
}

/// A shared vault's row: the bytes of its two header copies and the generations that order
/// changes to them and to its log (FORMAT.md §13).
public struct SharedLogState: Sendable, Equatable {
    public let vaultID: [UInt8]
    /// Both header copies, `FormatConstants.logStartOffset` bytes: what a file's first bytes are.
    public let header: [UInt8]
    /// Grows by one at every header replacement and log switch.
    public let headerGeneration: UInt64
    /// The log generation frames are appended to; a compaction's switch moves it on.
    public let logGeneration: UInt64

    public init(vaultID: [UInt8], header: [UInt8], headerGeneration: UInt64, logGeneration: UInt64) {
        self.vaultID = vaultID
        self.header = header
        self.headerGeneration = headerGeneration
        self.logGeneration = logGeneration
    }
}

/// How far a log generation reaches past a sequence number, read in one snapshot together
/// with the vault row's generations, and the first of those frames when the backend read
/// them in the same round trip.
public struct SharedLogExtent: Sendable, Equatable {
    public let logGeneration: UInt64
    public let headerGeneration: UInt64
    /// Bytes of the asked generation's frames after the asked sequence number.
    public let frameBytes: UInt64
    /// The first frames after the asked sequence number, in order (possibly none, possibly
    /// all): a writer catching up with a few commits of others reads them with the extent.
    public let frames: [SharedFrame]

    public init(logGeneration: UInt64, headerGeneration: UInt64, frameBytes: UInt64, frames: [SharedFrame] = []) {
        self.logGeneration = logGeneration
        self.headerGeneration = headerGeneration
        self.frameBytes = frameBytes
        self.frames = frames
    }
}

/// One vault's log in a store that many processes share (PostgreSQL, in module
/// `CofferPostgres`). ``SharedLogStorage`` makes it a ``LogMedium`` whose ``LogDevice`` appends
/// frames as rows, so that the frames, the AAD, the chain, the header and every check are the
/// same bytes and the same code as for a file.
///
/// Every call is one database transaction, durable when it returns. `false` from a
/// conditional call means another instance changed the vault first and nothing was written.
/// A call whose outcome is unknown (a connection lost during COMMIT) resolves it by reading
/// back before it returns, or throws `.io`.
public protocol SharedLogBackend: AnyObject, Sendable {
    /// A name for messages: the vault's name and where it lives, without credentials.
    var displayName: String { get }
    /// The vault's row, or `nil` when no vault has this name.
    func state() throws(CofferError) -> SharedLogState?
    /// How many bytes of frames of `logGeneration` follow `sequence`, and the vault's
    /// generations now; with the first of those frames if the backend reads them cheaply.
    func extent(logGeneration: UInt64, after sequence: UInt64) throws(CofferError) -> SharedLogExtent
    /// Creates the vault with `header` and its first frames in log generation 1; `false`
    /// when a vault of this name or id exists.
    func create(vaultID: [UInt8], header: [UInt8], frames: [SharedFrame]) throws(CofferError) -> Bool
    /// Creates the vault as ``create(vaultID:header:frames:)`` does, but under no name yet
    /// (F-SHARED-COPY: a copy, written in many transactions): no one opens it by its name
    /// until ``publishStaged()``, and this backend reads it meanwhile. A vault of this id
    /// staged before and never published (a copy cut short) is dropped first. `false` when a
    /// vault of this id has a name.
    func createStaged(vaultID: [UInt8], header: [UInt8], frames: [SharedFrame]) throws(CofferError) -> Bool
    /// Gives the vault ``createStaged(vaultID:header:frames:)`` made its name, in one
    /// transaction; `false` when a vault took the name meanwhile (nothing changed).
    func publishStaged() throws(CofferError) -> Bool
    /// Drops the vault ``createStaged(vaultID:header:frames:)`` made, with its frames, unless
    /// it was published.
    func dropStaged() throws(CofferError)
    /// Up to `limit` frames of `logGeneration` after `sequence`, in order.
    func frames(logGeneration: UInt64, after sequence: UInt64, limit: Int) throws(CofferError) -> [SharedFrame]
    /// Appends frames that follow the log's last one; `false` when another instance appended
    /// at their sequence numbers first, or the log generation is no longer the vault's.
    func append(logGeneration: UInt64, frames: [SharedFrame]) throws(CofferError) -> Bool
    /// Writes frames of a log generation that is not the vault's yet (a compaction's output);
    /// `false` when another writer holds their sequence numbers in that generation.
    func stage(logGeneration: UInt64, frames: [SharedFrame]) throws(CofferError) -> Bool
    /// Replaces the header bytes if the header generation is still `expectedGeneration`.
    func replaceHeader(expectedGeneration: UInt64, header: [UInt8]) throws(CofferError) -> Bool
    /// In one transaction: makes `to` the vault's log and `header` its header, provided the
    /// log is still `from`, ends at `lastSequence`, and the header generation is still
    /// `expectedHeaderGeneration`; deletes every other generation.
    func switchLog(
        from: UInt64, lastSequence: UInt64, to: UInt64, header: [UInt8], expectedHeaderGeneration: UInt64
    ) throws(CofferError) -> Bool
    /// Deletes the frames of a generation that is not the vault's log (an abandoned compaction).
    func discard(logGeneration: UInt64) throws(CofferError)
    /// The index checkpoint kept for log generation `logGeneration` (FORMAT.md
    /// F-SHARED-CHECKPOINT), unchecked: the reader authenticates it and checks it against the
    /// log. `nil` when none is kept.
    func checkpoint(logGeneration: UInt64) throws(CofferError) -> [UInt8]?
    /// Keeps `bytes` as the index checkpoint of log generation `logGeneration`, covering the
    /// records through `sequence`, in place of the one kept; `false`, with nothing written,
    /// when the generation is no longer the vault's log or the checkpoint kept covers
    /// `sequence` or more (another instance wrote it first).
    func writeCheckpoint(_ bytes: [UInt8], logGeneration: UInt64, sequence: UInt64) throws(CofferError) -> Bool
    /// Orders the vault's writers: waits until no other instance holds the vault's writer turn,
    /// then holds it until ``endWriterTurn()`` (or until the holder's append, which may end it:
    /// PostgreSQL commits the append in the turn's transaction). A writer that takes the turn
    /// before it catches up, plans and appends does not conflict with the others. The store
    /// releases a turn whose holder died, lost its connection or stalled (FORMAT.md §13): its
    /// next append then conflicts if another instance appended meanwhile, as it would without turns.
    ///
    /// - Throws: `.io` when the store cannot be reached, or another instance held the turn for
    ///   longer than a holder that stalled may keep it.
    func beginWriterTurn() throws(CofferError)
    /// Ends the turn ``beginWriterTurn()`` began; nothing to do when none is held, an append
    /// ended it or it was lost.
    func endWriterTurn()
    /// Calls `onChange`, on a thread of its own, soon after every change another instance
    /// commits to the vault (PostgreSQL: on its NOTIFY), and at least every `interval` besides,
    /// so that a notification missed while the connection was down costs at most that, until
    /// the returned follower is stopped. `onChange` is a hint to catch up; it carries nothing.
    ///
    /// - Throws: `.io` when the store cannot be reached, `.notFound` when the vault is gone.
    func follow(interval: Duration, _ onChange: @escaping @Sendable () -> Void) throws(CofferError)
        -> any SharedLogFollower
}

/// What ``SharedLogBackend/follow(interval:_:)`` started: stop it when done.
public protocol SharedLogFollower: AnyObject, Sendable {
    /// Stops the calls and releases what following holds (a connection, a thread); returns once
    /// a call in progress has finished, unless called from within one.
    func stop()
}

extension SharedLogBackend {
    /// A backend that keeps no checkpoint: every open replays the whole log.
    public func checkpoint(logGeneration: UInt64) throws(CofferError) -> [UInt8]? { nil }

    /// A backend that keeps no checkpoint refuses one.
    public func writeCheckpoint(_ bytes: [UInt8], logGeneration: UInt64, sequence: UInt64) throws(CofferError) -> Bool {
        throw CofferError(
            .invalidInput, "The shared store \(displayName) keeps no index checkpoint; its opens replay the log.")
    }
}
