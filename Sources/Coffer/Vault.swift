import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage
import Logging
import Metrics
import Synchronization

/// A credential vault: one encrypted file, its in-memory index, and credential resolution.
///
/// `Vault` is safe to share between threads and tasks. Many readers run at once; mutations
/// are serialized and each is one atomic, durable transaction in the log; readers never see a
/// half-applied transaction.
///
/// ```swift
/// let vault = try Vault.open(path: "team.coffer", unlock: .keyFile(key))
/// let created = try vault.mutate(actor: "alice") { planner in
///     try planner.createCredential(in: "acme", draft, scopes: [.organization])
/// }
/// let credential = try vault.resolve(ResolutionRequest(appKey: "exa", context: run))
/// let fields = try vault.reveal(credential.id)          // [name: SecureBytes]
/// ```
public final class Vault: Sendable {
    /// How to open or create a vault.
    public struct Options: Sendable {
        /// Where the log lives: the real disk (``PosixStorage``) unless a test injects another
        /// file system, or a shared log (``SharedLogStorage``).
        public var storage: any LogMedium
        /// When a mutation is acknowledged; `.synchronous` (fdatasync) unless bulk-loading.
        public var durability: Durability
        /// Open without the writer lock, never modifying the file.
        public var readOnly: Bool
        /// Refuse to open unless the log contains this head (detects truncation and rollback).
        public var expectedHead: ChainHead?
        /// Compact by itself when the file is large and mostly dead; off unless set.
        public var automaticCompaction: AutomaticCompaction?
        /// Start the index from the checkpoint beside the vault when one authenticates and
        /// agrees with the log (F-CHECKPOINT-USE), replaying only the records after it; true
        /// unless set otherwise. False replays the whole log.
        public var usesCheckpoint = true
        /// Bytes of sealed records kept from the reveals made lately, so that revealing a
        /// credential again costs no read of the file: 8 MiB by default, 0 keeps none (a
        /// negative size is refused). Only
        /// sealed bytes, as the file holds them: every reveal still authenticates and decrypts
        /// its record, and a plaintext is never kept.
        public var sealedFrameCacheBytes = 8 << 20
        /// Read the records reveals open through a read-only memory mapping of the vault
        /// file, instead of a `pread` each and the cache of sealed frames: faster once the file
        /// outgrows the cache (at 100k credentials here, 1.5× the reveals a second from one
        /// thread, 2× from two; BENCHMARKS.md), with no copy kept in the process (the pages are
        /// the file's, shared with the page cache; they count in its resident memory once
        /// read). Off by default, as SQLite's `mmap_size`: should anything but Coffer shrink
        /// the file under an open vault, or the disk fail to give a page, the process gets
        /// `SIGBUS` where a reveal would have thrown `.io`. Sealed bytes only: each record is
        /// copied out of the mapping, then authenticated and decrypted, as a read would. A
        /// shared store is read as before.
        public var mapsLog = false
        /// How long a mutation whose batch waits behind another batch's sync keeps its
        /// processor, yielding it to any other thread, before it sleeps: that batch is written
        /// the moment the sync ends, and an idle processor can take longer to wake than the
        /// sync takes (a virtual machine's halted vCPU). 300 µs by default: eight threads
        /// committing at once here went 18–38 % faster than sleeping at once (BENCHMARKS.md).
        /// Zero sleeps at once; a lone writer never waits so. From 0 to 10 ms, else
        /// `.invalidInput`.
        public var syncWaitSpin = Duration.microseconds(300)
        /// Write an index checkpoint by itself, in the background, once the log has grown
        /// enough since the last one (``AutomaticCheckpoint``): on by default, for a vault file
        /// and a shared store alike; nil never does (`checkpoint()` and compaction still do).
        public var automaticCheckpoint: AutomaticCheckpoint? = AutomaticCheckpoint()
        /// The keyslot to try first when unlocking. An open spends a bounded amount of
        /// Argon2id work on passphrase slots (`KeyslotUnlock.workMax`); a vault whose slots
        /// together cost more opens when the right one is named. A slot the vault does not
        /// have (removed since, perhaps by another instance) fails the open with
        /// `.invalidInput` rather than being skipped: clear the option then.
        public var preferredKeyslot: UInt16?
        /// Where a writer leaves the head after every acknowledged change, and every open
        /// checks it is held: see ``HeadWitness``. Nil: none.
        public var headWitness: (any HeadWitness)?
        /// How long an open for writing waits for another process to release the writer lock
        /// before failing with `.locked` (polling, see `LockWait`); zero, the default, fails
        /// at once. From 0 to a day, else `.invalidInput`.
        public var lockWait: Duration
        /// Polled while waiting for the writer lock (`lockWait`): when it answers true, the
        /// open stops with `.cancelled` and nothing is opened or changed.
        public var isCancelled: (@Sendable () -> Bool)?
        /// Called once when an open starts to wait for another process's writer lock
        /// (`lockWait`): to tell a person why nothing seems to happen.
        public var onLockWait: (@Sendable () -> Void)?
        /// Where the vault logs opens, recoveries, compactions, conflicts, a stopped writer and
        /// memory that could not be locked (swift-log); nil logs nothing. No line carries a secret.
        public var logger: Logger?
        /// Where its counters and timers go (swift-metrics): commits, failures by code, commit
        /// latency, reveals, resolutions, compaction bytes, conflicts. Nil uses `MetricsSystem`'s
        /// factory as it is when the vault is opened: bootstrap it first (a no-op until then).
        public var metricsFactory: (any MetricsFactory)?
        /// Where the random bytes of new identifiers come from; the system's CSPRNG when nil.
        /// Set only by `CofferTesting`'s in-memory vault, for tests that want the same ids on
        /// every run.
        package var identifierBytes: (@Sendable (Int) -> [UInt8])?
        /// The commit time, milliseconds since the Unix epoch; the wall clock when nil. Set only
        /// by `CofferTesting`'s in-memory vault.
        package var clock: (@Sendable () -> UInt64)?

        /// Options whose parameters set the properties of the same name. The defaults open the real
        /// disk for writing with synchronous durability, no expected head, no automatic compaction, no
        /// preferred keyslot, no head witness, and no wait for another process's writer lock.
        /// `isCancelled`, `onLockWait`, `logger` and `metricsFactory` start nil: set them on the value.
        public init(
            storage: any LogMedium = PosixStorage(), durability: Durability = .synchronous,
            readOnly: Bool = false, expectedHead: ChainHead? = nil, automaticCompaction: AutomaticCompaction? = nil,
            preferredKeyslot: UInt16? = nil, headWitness: (any HeadWitness)? = nil, lockWait: Duration = .zero
        ) {
            self.storage = storage
            self.durability = durability
            self.readOnly = readOnly
            self.expectedHead = expectedHead
            self.automaticCompaction = automaticCompaction
            self.preferredKeyslot = preferredKeyslot
            self.headWitness = headWitness
            self.lockWait = lockWait
        }

        /// Checks the options a caller set: a head witness vouches only for heads on stable
        /// storage, and a size or threshold must be a number that means something (a NaN
        /// threshold would silently turn a policy off).
        ///
        /// - Throws: `.invalidInput` naming the option.
        func check() throws(CofferError) {
            if headWitness != nil && durability != .synchronous {
                throw CofferError(
                    .invalidInput,
                    "A head witness needs synchronous durability: a head left there could name a commit a crash then loses."
                )
            }
            guard sealedFrameCacheBytes >= 0 else {
                throw CofferError(.invalidInput, "Options.sealedFrameCacheBytes is 0 (no cache) or more.")
            }
            if let policy = automaticCheckpoint, !(policy.growthAtLeast >= 0 && policy.growthAtLeast.isFinite) {
                throw CofferError(.invalidInput, "AutomaticCheckpoint.growthAtLeast is a share of 0 or more.")
            }
            if let policy = automaticCompaction, policy.deadShareAtLeast.isNaN {
                throw CofferError(.invalidInput, "AutomaticCompaction.deadShareAtLeast is a share, not NaN.")
            }
        }

        var storeOptions: VaultStore.Options {
            var options = VaultStore.Options(
                storage: storage, durability: durability, readOnly: readOnly, expectedHead: expectedHead,
                preferredKeyslot: preferredKeyslot, lockWait: lockWait)
            options.isCancelled = isCancelled
            options.onLockWait = onLockWait
            options.sealedFrameCacheBytes = sealedFrameCacheBytes
            options.mapsLog = mapsLog
            options.syncWaitSpin = syncWaitSpin
            return options
        }
    }

    /// The secret that unlocks a vault: a passphrase or the 32 bytes of a key file.
    public typealias Unlock = Keyslot.Secret

    /// The file and the index built from it. They change together: a compaction replaces
    /// both at once, so a reader that takes a record location from the index reads it from
    /// the file that location belongs to. Noncopyable, so that a read borrows it in place
    /// (``ReadWriteLocked``) and never copies the index.
    struct State: ~Copyable {
        var store: VaultStore
        var index: VaultIndex
    }

    let state: ReadWriteLocked<State>
    let options: Options
    /// The log size at the last automatic-compaction check.
    let lastPolicyCheck = Locked<UInt64>(0)
    /// Serializes mutations (plan, validate, queue) and the switch of a compaction.
    let writerLock = Lock()
    /// Transactions queued in the log and not yet visible; see ``CommitPipeline``.
    let commits = CommitPipeline()
    /// Mutations waiting to be committed in the next batch.
    let commitQueue = CommitQueue()
    /// One compaction at a time; keyslot changes take it too.
    let compactionLock = Lock()
    /// One index checkpoint at a time, and none beside a compaction (which takes it after
    /// ``compactionLock``): not ``compactionLock`` itself, so that keyslot changes do not wait
    /// while a checkpoint is encoded and written.
    let checkpointLock = Lock()
    /// The automatic checkpoints (``AutomaticCheckpoint``).
    let checkpoints = CheckpointRunner()
    /// Who observes committed changes (``changes(bufferingNewest:pollingEvery:)``).
    let observers = ChangeObservers()
    /// The head last left in the head witness; updates run under its lock, so the last one
    /// leaves the newest head, and commits that shared one sync share one witness update.
    let witnessed = Locked<WitnessedHead?>(nil)

    /// Logger and metrics (``Options/logger``, ``Options/metricsFactory``).
    let diagnostics: Diagnostics
    /// Set by ``close()``: what only reads the index checks it (one load, no lock).
    let isClosed = Atomic<Bool>(false)

    private init(store: VaultStore, index: VaultIndex, options: Options) {
        self.state = ReadWriteLocked(State(store: store, index: index))
        self.options = options
        self.diagnostics = Diagnostics(logger: options.logger, factory: options.metricsFactory)
        lastPolicyCheck.withLock { $0 = store.logEnd }
        if case .resumed(let sequence) = store.recovery.checkpoint { checkpoints.noteCovered(sequence) }
    }

    /// The store in force.
    var store: VaultStore { state.read { (current: borrowing State) in current.store } }

    /// Creates a new vault file with one keyslot. With a head witness, its head is left there.
    ///
    /// - Parameters:
    ///   - path: where the vault file is made; it must not exist.
    ///   - unlock: the passphrase or key file its one keyslot takes.
    ///   - cost: the Argon2id cost of a passphrase slot; libsodium's MODERATE by default.
    ///   - options: storage, durability, head witness, logger and metrics.
    /// - Throws: `.alreadyExists`, `.io`, `.invalidInput`; and the head witness's error, saying
    ///   the vault was made, when its head could not be left there (the next writer leaves it).
    public static func create(
        path: String, unlock: Unlock, cost: Argon2id.Cost = .moderate, options: Options = Options()
    ) throws(CofferError) -> Vault {
        try options.check()
        let store = try VaultStore.create(path: path, secret: unlock, cost: cost, options: options.storeOptions)
        do throws(CofferError) {
            try options.headWitness?.record(store.witnessedHead)
        } catch {
            store.close()
            throw CofferError(
                error.code,
                "The vault was created at \(path), but its head could not be left in the head witness: \(error.message)"
            )
        }
        let vault = Vault(store: store, index: VaultIndex(), options: options)
        if options.headWitness != nil { vault.witnessed.withLock { $0 = store.witnessedHead } }
        return vault
    }

    /// Opens a vault: unlocks it, authenticates every record and rebuilds the index from them.
    /// With a head witness, the vault must hold the head left there; a writer then leaves its
    /// head there at once, so a witness that cannot be written fails the open, not a change.
    ///
    /// - Throws: `.notFound`, `.notAVault`, `.unsupportedVersion`, `.wrongKey`, `.locked`,
    ///   `.corrupted` (with the offset and sequence number of the bad record), `.headMismatch`, `.io`.
    public static func open(path: String, unlock: Unlock, options: Options = Options()) throws(CofferError) -> Vault {
        try options.check()
        var storeOptions = options.storeOptions
        // The store reads the witness once it holds the writer lock, and checks what it saw
        // before a writer repairs anything.
        if let witness = options.headWitness {
            storeOptions.readWitness = { () throws(CofferError) in try witness.read() }
        }
        let store: VaultStore
        let index: VaultIndex
        var first = replay(
            path: path, unlock: unlock, storeOptions: storeOptions, usesCheckpoint: options.usesCheckpoint)
        // On a shared log, a conflict during an open is another instance changing the vault
        // while it was read: a compaction replaced the log (F-SHARED-COMPACT), or a header
        // copy about to be repaired changed. Opened again, it reads the vault as it is then.
        for _ in 0..<Self.conflictedOpenRetries {
            guard case .failure(let failure) = first, failure.error.code == .conflict, options.storage.isShared else {
                break
            }
            first = replay(
                path: path, unlock: unlock, storeOptions: storeOptions, usesCheckpoint: options.usesCheckpoint)
        }
        switch first {
        case .success(let opened): (store, index) = opened
        case .failure(let failure) where failure.afterResuming:
            // F-CHECKPOINT-USE: a checkpoint is never trusted over the log. One that passed its
            // checks but whose index or chain table the later records disagree with is ignored,
            // with the reason, and the whole log is replayed: what that replay finds is the answer.
            storeOptions.ignoredCheckpoint = "the records after it disagree with it (\(failure.error.code.word))"
            storeOptions.earlierRecovery = failure.recovery
            (store, index) = try replay(path: path, unlock: unlock, storeOptions: storeOptions, usesCheckpoint: false)
                .mapError(\.error).get()
        case .failure(let failure): throw failure.error
        }
        do throws(CofferError) {
            if !options.readOnly { try options.headWitness?.record(store.witnessedHead) }
        } catch {
            store.close()
            throw error
        }
        // The cancellation belonged to this open: a later reopen (a replaced shared log) must
        // not be stopped by it.
        var kept = options
        kept.isCancelled = nil
        kept.onLockWait = nil
        let vault = Vault(store: store, index: index, options: kept)
        if !options.readOnly && options.headWitness != nil { vault.witnessed.withLock { $0 = store.witnessedHead } }
        vault.logOpen()
        return vault
    }

    /// How many times an open of a shared vault starts again after a conflict.
    static let conflictedOpenRetries = 4

    /// Why ``replay(path:unlock:storeOptions:usesCheckpoint:)`` failed, and whether it had
    /// resumed from a checkpoint, so that a full replay might not fail.
    private struct ReplayFailure: Error {
        let error: CofferError
        let afterResuming: Bool
        /// What the store's open recovered, when it opened and the replay failed afterwards.
        var recovery: VaultStore.Recovery?
    }

    /// Opens the store and replays its log into an index, from the checkpoint when
    /// `usesCheckpoint` and one passes its checks.
    private static func replay(
        path: String, unlock: Unlock, storeOptions: VaultStore.Options, usesCheckpoint: Bool
    ) -> Result<(VaultStore, VaultIndex), ReplayFailure> {
        var storeOptions = storeOptions
        let pipeline = ReplayPipeline()
        let restored = Locked(false)
        if usesCheckpoint {
            storeOptions.restoreIndex = { encoding, arrival, position in
                let accepted = pipeline.start(fromCheckpointEncoding: encoding, arriving: arrival, at: position)
                restored.withLock { $0 = accepted }
                return accepted
            }
        }
        func failure(_ error: CofferError) -> Result<(VaultStore, VaultIndex), ReplayFailure> {
            // Corruption or a head mismatch may come from the restored index or chain table;
            // anything else (a lock, a cancellation, an I/O error) a full replay meets too.
            let resumed = restored.withLock { $0 } && (error.code == .corrupted || error.code == .headMismatch)
            return .failure(ReplayFailure(error: error, afterResuming: resumed))
        }
        let store: VaultStore
        do throws(CofferError) {
            store = try VaultStore.open(path: path, secret: unlock, options: storeOptions) {
                record throws(CofferError) in try pipeline.submit(record)
            }
        } catch {
            pipeline.abandon()
            return failure(error)
        }
        do throws(CofferError) {
            return .success((store, try pipeline.finish()))
        } catch {
            store.close()
            return failure(error).mapError { failure in
                var failure = failure
                failure.recovery = store.recovery
                return failure
            }
        }
    }

    /// What opening found, for the log: where, how far, what recovery did.
    private func logOpen() {
        guard let logger = diagnostics.logger else { return }
        let recovery = store.recovery
        logger.info(
            "Opened vault",
            metadata: ["path": "\(store.path)", "head": "\(head)", "read_only": "\(isReadOnly)"])
        if let torn = recovery.tornTail {
            logger.notice(
                "Recovery: a torn tail",
                metadata: ["path": "\(store.path)", "problem": "\(torn)", "cut": "\(recovery.truncated)"])
        }
        if recovery.headerRepaired {
            logger.notice("Recovery: a header copy was repaired", metadata: ["path": "\(store.path)"])
        }
        if case .ignored(let reason) = recovery.checkpoint {
            logger.notice(
                "Recovery: the index checkpoint was ignored and the whole log replayed",
                metadata: ["path": "\(store.path)", "reason": "\(reason)"])
        }
        // Secrets are kept in locked memory; the process-wide handler stays the service's own
        // (MemoryLocking.onFirstFailure), so this only reads whether locking has failed.
        if let errno = MemoryLocking.firstFailure {
            logger.warning(
                "Secret memory could not be locked (mlock); secrets may reach swap.", metadata: ["errno": "\(errno)"])
        }
    }

    /// Leaves the head in the head witness after an acknowledged change. A witness that
    /// cannot be written stops the writer: the change stays acknowledged, and no later one is
    /// made that the witness would not vouch for.
    func recordHead() {
        guard let witness = options.headWitness, !isReadOnly else { return }
        witnessed.withLock { last in
            let current = store.witnessedHead
            guard current != last else { return }
            do throws(CofferError) {
                try witness.record(current)
                last = current
            } catch {
                diagnostics.logger?.error(
                    "The head witness could not be updated; the writer stopped",
                    metadata: ["code": "\(error.code.word)"])
                store.stopWriting(
                    CofferError(
                        .writerStopped,
                        "The head witness could not be updated (\(error.message)); the last change is acknowledged, and the "
                            + "vault takes no more until it is opened again."))
            }
        }
    }

    /// The chain head after the last acknowledged transaction: keep it to detect rollback.
    public var head: ChainHead { store.head }

    /// What opening found: a torn tail cut, a header copy repaired.
    public var recovery: VaultStore.Recovery { store.recovery }

    /// Whether the vault was opened read-only.
    public var isReadOnly: Bool { store.isReadOnly }

    /// The file's path.
    public var path: String { store.path }

    /// Closes the vault. Later calls fail with `.closed`, `resolve(_:)` among them; the writer
    /// lock is released. ``read(_:)`` and `resolution(_:)`, which cannot throw, still answer
    /// from the index as it was when the vault closed. Not from a `mutate` plan: it waits for
    /// a background checkpoint, which waits for the writer lock the plan's batch holds.
    public func close() {
        isClosed.store(true, ordering: .relaxed)
        observers.finishAll()
        checkpoints.close()
        store.close()
    }

    /// Runs `body` with read access to the index. Many readers run at once.
    ///
    /// `body` holds the reader lock. This vault's writing calls (`mutate` and the calls made
    /// of it, `sync`, `setDurability`, `rotateDataKey`, a keyslot change, `checkpoint`,
    /// `compact`, `refresh`) wait for every reader to leave, so from `body` they would wait for
    /// it forever: they throw `.invalidInput` instead, and change nothing. Read what is needed,
    /// return, then write. (A writing call on another thread that `body` waits for is not
    /// detected: it waits forever.)
    public func read<Result, Failure: Error>(_ body: (borrowing VaultIndex) throws(Failure) -> Result) throws(Failure)
        -> Result
    {
        try ReentryGuard.marking(self, .read) { () throws(Failure) in
            try state.read { (current: borrowing State) throws(Failure) in try body(current.index) }
        }
    }
}

/// Rebuilding the index from the log on open.
enum Replay {
    /// Applies one scanned record, as the record at `sequence` and `offset` (its own place,
    /// or its place in a compacted file). A transaction that does not decode, or breaks a
    /// rule of the model, is corruption: the writer checked it before writing it.
    ///
    /// - Parameter checksFieldValues: `verify` checks every rule; open and a compaction's
    ///   catch-up trust the field values of authenticated records (``VaultIndex/replay(_:context:)``),
    ///   and throw the index away if a record fails.
    static func apply(
        _ record: ScannedRecord, sequence: UInt64, offset: UInt64, to index: inout VaultIndex,
        checksFieldValues: Bool = false
    ) throws(CofferError) {
        guard let transaction = try decode(record) else { return }
        let context = TransactionContext(
            sequence: sequence, offset: offset, timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor
        )
        do {
            if checksFieldValues {
                try index.apply(transaction.operations, context: context)
            } else {
                try index.replay(transaction.operations, context: context)
            }
        } catch {
            throw breaksModel(error, offset: record.offset, sequence: record.sequence)
        }
    }

    /// A transaction that breaks a rule of the model is corruption: its writer checked it
    /// before sealing it.
    static func breaksModel(_ error: CofferError, offset: UInt64, sequence: UInt64) -> CofferError {
        CofferError(
            .corrupted, "A transaction breaks a rule of the credential model: \(error.message)", offset: offset,
            sequence: sequence)
    }

    /// Decodes a transaction record into model operations; `nil` for a key-epoch record.
    static func decode(
        _ record: ScannedRecord
    ) throws(CofferError) -> (timeMilliseconds: UInt64, actor: String, operations: [ModelOperation])? {
        guard record.type == .transaction, let payload = record.payload else { return nil }
        guard let transaction = TransactionPayload.decode(payload) else {
            throw CofferError(
                .corrupted, "A transaction's payload is malformed.", offset: record.offset, sequence: record.sequence)
        }
        var operations: [ModelOperation] = []
        operations.reserveCapacity(transaction.operations.count)
        for operation in transaction.operations {
            switch ModelOperation.decode(operation) {
            case .success(let decoded): operations.append(decoded)
            case .failure(let error):
                // OPS-DEC-1: an unknown operation code is an operation this reader does not
                // know (`unsupported_version`), not a damaged body (`corrupted`).
                throw CofferError(
                    error.code == .unsupportedVersion ? .unsupportedVersion : .corrupted,
                    "A transaction holds an operation that does not decode: \(error.message)",
                    offset: record.offset, sequence: record.sequence)
            }
        }
        return (transaction.timeMilliseconds, transaction.actor, operations)
    }
}
