import CofferCrypto
import CofferErrors
import CofferFormat

/// A vault file opened for reading or writing: the header, the keys, and the sealed log.
///
/// This is the storage layer's whole surface: the engine above it (module `Coffer`) knows
/// nothing of frames, headers or syncs. One writer per file across processes (an exclusive
/// `flock` held for the life of the store); any number of read-only stores beside it. The log
/// is a ``LogDevice`` on a ``LogMedium``: a file, or a shared log (``SharedLogStorage``), where
/// there is no lock: writers are ordered by conflicts, and ``catchUp(_:)`` reads what the
/// others appended. Keyslot changes from several threads run one at a time, each on the
/// header the one before it left.
///
/// ```swift
/// let store = try VaultStore.create(path: "team.coffer", secret: .keyFile(key))
/// let receipt = try store.append([payload])
/// try store.forEachRecord { record in print(record.sequence) }
/// store.close()
/// ```
public final class VaultStore: @unchecked Sendable {
    /// How to open a store.
    public struct Options: Sendable {
        /// Where the log lives: a file system (``PosixStorage`` unless a test injects another)
        /// or a shared log (``SharedLogStorage``).
        public var storage: any LogMedium
        /// When commits are acknowledged; see ``Durability``.
        public var durability: Durability
        /// Open without the writer lock, never modifying the file.
        public var readOnly: Bool
        /// Fail to open unless the log contains exactly this head as one of its records
        /// (F-HEAD): detects truncation at a record boundary and rollback to an older copy.
        public var expectedHead: ChainHead?
        /// The keyslot to try first when unlocking (F-SLOT-BUDGET): a vault whose passphrase
        /// slots together cost more Argon2id work than one open spends opens only with it. A
        /// slot in neither header copy fails the open with `.invalidInput`.
        public var preferredKeyslot: UInt16?
        /// How long a writer waits for another process to release the writer lock before
        /// failing with `.locked`; zero (the default) does not wait. See ``LockWait``.
        public var lockWait: Duration
        /// Polled while waiting for the writer lock: when it answers true, the open stops with
        /// `.cancelled`, nothing opened or changed (a CLI's Ctrl-C, a task's cancellation).
        public var isCancelled: (@Sendable () -> Bool)?
        /// Called once when an open starts to wait for another process's writer lock.
        public var onLockWait: (@Sendable () -> Void)?
        /// What a head witness holds (F-HEAD): the vault must be that vault, under that unlock
        /// key, and hold that head, or the open fails with `.headMismatch` before anything is
        /// repaired.
        public var witnessedHead: WitnessedHead?
        /// Reads the head witness, for an open: called once the file is open and, for a writer,
        /// its lock held, so that no writer can commit between the read and the check (a head
        /// read before a wait for the lock could be older than one written meanwhile).
        public var readWitness: (@Sendable () throws(CofferError) -> WitnessedHead?)?
        /// When set, the open looks for the checkpoint beside the log (F-CHECKPOINT-USE) and,
        /// while a second thread opens its contents chunk by chunk, hands this the index
        /// encoding, whose bytes are still arriving, each chunk once it authenticates (read them
        /// with a `ByteReader` given the arrival), and the checkpoint's position. It keeps what
        /// it decoded, and returns true, only when the arrival's `complete()` answers true: the
        /// contents authenticate and agree with the log (the open throws `.invalidInput` when it
        /// returns true otherwise). Then the open visits only the records after the checkpoint.
        /// ``Recovery/checkpoint`` says what happened. Nil: every record is visited.
        public var restoreIndex: (@Sendable (ArraySlice<UInt8>, any ByteArrival, Checkpoint.Position) -> Bool)?
        /// Why the checkpoint is not used this time, when an open that resumed from it failed
        /// on a later record and the caller opens again replaying everything: ``Recovery/checkpoint``
        /// reports it ignored for this reason.
        public var ignoredCheckpoint: String?
        /// What that failed open recovered (a torn tail cut, a header repaired, leftovers
        /// removed) before its replay failed: this open reports it as its own, since it finds
        /// the file already repaired.
        public var earlierRecovery: Recovery?
        /// Bytes of sealed frames kept from the records read lately (``readRecord(sequence:offset:)``,
        /// what a reveal reads), so that reading one again costs no system call; 8 MiB by
        /// default, 0 keeps none. Sealed bytes only: a plaintext is never kept.
        public var sealedFrameCacheBytes = 8 << 20
        /// Read the records ``readRecord(sequence:offset:)`` and a reveal open through a
        /// read-only mapping of the vault file instead of a `pread` each and the cache of sealed
        /// frames: faster once the log outgrows the cache, with no copy kept (the pages are the
        /// file's, shared with the page cache, and count in the process's resident memory once
        /// read). Each frame is copied out of the mapping before it is checked and opened. Off
        /// by default: should anything but Coffer shrink the file under an open vault, or the
        /// disk fail to give a page, the process gets `SIGBUS` where a read would have thrown
        /// `.io`. A shared log is read as before.
        public var mapsLog = false
        /// How long a caller waiting for another caller's write and sync to end (the next
        /// batch's leader, or any append queued behind it) keeps its processor, yielding it to
        /// any other thread, before it sleeps (``SyncWaitSpin``): the next batch is written
        /// the moment the sync ends, and an idle processor can take longer to wake than the
        /// sync takes (a virtual machine's halted vCPU). 300 µs by default; zero sleeps at
        /// once. From 0 to 10 ms, else `.invalidInput`.
        public var syncWaitSpin = Duration.microseconds(300)
        /// The shortest mapping of the log made (``LogMapping``): set only by tests, to cross
        /// mapping ends with a few records.
        package var mappingLengthMin = LogMapping.lengthMinDefault

        public init(
            storage: any LogMedium = PosixStorage(), durability: Durability = .synchronous,
            readOnly: Bool = false, expectedHead: ChainHead? = nil, preferredKeyslot: UInt16? = nil,
            lockWait: Duration = .zero, witnessedHead: WitnessedHead? = nil
        ) {
            self.storage = storage
            self.durability = durability
            self.readOnly = readOnly
            self.expectedHead = expectedHead
            self.preferredKeyslot = preferredKeyslot
            self.lockWait = lockWait
            self.witnessedHead = witnessedHead
        }
    }

    /// What opening found and repaired.
    public struct Recovery: Sendable {
        /// The torn tail found at the end of the log, if any: offset and byte count in its detail.
        public let tornTail: LogProblem?
        /// Whether the torn tail was cut off the file (only a writer cuts).
        public let truncated: Bool
        /// Whether the stale header copy was brought up to date (only a writer repairs).
        public let headerRepaired: Bool
        /// Temporary files of a compaction interrupted by a crash, removed (only a writer removes).
        public var removedTemporaryFiles: [String] = []
        /// Whether the index came from the checkpoint beside the log, and why not when one was
        /// there but could not be used (F-CHECKPOINT-USE).
        public var checkpoint: CheckpointUse = .none
        /// Bytes of zeros after the last record: space a writer preallocated (F-FREE), kept.
        public var freeBytes: UInt64 = 0
        /// Whether the secret opened only a header copy older than the one in force: one an
        /// unlock change removed or replaced (F-HDR-SUPERSEDED), which reads and nothing more
        /// until a writer with a current secret completes the change. Only a read-only open
        /// gets this far with it.
        public var openedAnOlderHeaderCopy = false
    }

    public let path: String
    public let options: Options
    /// What opening found.
    public let recovery: Recovery
    /// The keyslot whose secret opened this store; nil when it was opened with the unlock key
    /// (a reopen after another instance's compaction).
    public let unlockedSlot: UInt16?

    /// The log: the vault file, or a shared log's current generation.
    let log: any LogDevice
    let masterKey: SecureBytes
    /// The key the keyslots wrap: keyslot changes and a new master key need it, and so does
    /// reopening after another instance compacted a shared log or a file was replaced.
    let unlockKey: SecureBytes
    /// The unlock key's tag a head witness keeps (``WitnessedHead/tag(of:)``), computed once.
    let unlockKeyTag: [UInt8]
    /// The key of platform API-key hashes (F-KDF, from the unlock key); readers need it too.
    let apiKeyHashKeyValue: SecureBytes
    let writer: LogWriter?
    /// Guards `headerState`, `keyEpochs` and `closed`.
    let headerLock = Lock()
    var headerState: (header: FileHeader, copyIndex: Int)
    /// The epochs with their data keys; rotation and catching up add to them.
    var epochs: KeyEpochs
    var closed = false
    /// A header rewrite is writing to the log device: ``close()`` waits for it. Guarded by
    /// `headerLock`.
    var rewritingHeader = false
    /// Held for the whole of a header change (read, change, rewrite): two at once on one
    /// store would each build on the header before the other's and one would be lost.
    let headerChangeLock = Lock()
    let chains: ChainTable
    let counters: LogCounters
    /// The sealed frames read lately (``Options/sealedFrameCacheBytes``).
    let frameCache: SealedFrameCache
    /// The log mapped for reading records (``Options/mapsLog``); nil when not asked for.
    let mapping: LogMapping?
    /// Where a read-only store's log ends; catching up moves it on. Guarded by `headerLock`.
    var readOnlyEnd: UInt64
    var readOnlyHead: ChainHead

    init(
        path: String, options: Options, log: any LogDevice, masterKey: SecureBytes, unlockKey: SecureBytes,
        header: FileHeader, copyIndex: Int, outcome: ScanOutcome, chains: ChainTable, counters: LogCounters,
        recovery: Recovery, unlockedSlot: UInt16?
    ) {
        self.path = path
        self.unlockedSlot = unlockedSlot
        // The restorer belongs to this open: a reopen with these options replays on its own.
        var kept = options
        kept.restoreIndex = nil
        kept.ignoredCheckpoint = nil
        kept.earlierRecovery = nil
        self.options = kept
        self.log = log
        self.masterKey = masterKey
        self.unlockKey = unlockKey
        self.unlockKeyTag = WitnessedHead.tag(of: unlockKey)
        // F-HDR-APIKEY: carried in the header after an unlock-key rotation, derived from the
        // unlock key before one (the open path checked that a carried one opens).
        if header.apiKeyHashKeyWrap == nil {
            self.apiKeyHashKeyValue = MasterKeySubkey.apiKeyHash.derive(from: unlockKey)
        } else {
            guard let carried = header.unwrapAPIKeyHashKey(unlockKey: unlockKey) else {
                preconditionFailure("the open path checked that the header's API-key hash key opens")
            }
            self.apiKeyHashKeyValue = carried
        }
        self.headerState = (header, copyIndex)
        self.epochs = outcome.keyEpochs
        self.chains = chains
        self.counters = counters
        self.frameCache = SealedFrameCache(capacity: options.sealedFrameCacheBytes)
        self.mapping = options.mapsLog ? LogMapping(log: log, lengthMin: options.mappingLengthMin) : nil
        self.recovery = recovery
        self.readOnlyEnd = outcome.validEnd
        self.readOnlyHead = outcome.head
        if options.readOnly {
            writer = nil
        } else {
            let newest = outcome.keyEpochs.newest!
            writer = LogWriter(
                log: log, vaultID: header.vaultID, keyRecordKey: MasterKeySubkey.keyRecord.derive(from: masterKey),
                durability: options.durability, chains: chains, counters: counters, end: outcome.validEnd,
                head: outcome.head, epoch: newest.number, epochKey: newest.dataKey!,
                syncWaitSpin: SyncWaitSpin(options.syncWaitSpin))
        }
    }

    // MARK: Creating

    /// Creates a new vault file at `path` with one keyslot for `secret` and a first key epoch.
    ///
    /// The file is created with mode 0600 and must not exist. Its bytes and its directory
    /// entry are synced before this returns (F-CREATE).
    ///
    /// - Parameters:
    ///   - cost: Argon2id cost for a passphrase slot; libsodium's MODERATE by default.
    /// - Throws: `.alreadyExists`, `.io`, `.invalidInput` (a cost outside the format's limits,
    ///   F-SLOT-CAP).
    public static func create(
        path: String, secret: Keyslot.Secret, cost: Argon2id.Cost = .moderate, options: Options = Options()
    ) throws(CofferError) -> VaultStore {
        guard !options.readOnly else { throw CofferError(.invalidInput, "A vault cannot be created read-only.") }
        try secret.check(cost: cost)
        try SyncWaitSpin.check(options.syncWaitSpin)
        let taken = CofferError(
            .alreadyExists,
            "Something exists already at the vault path (in a shared store, a vault of that name); choose another.")
        switch options.storage.openLog(path, readOnly: true) {
        case .success(let existing):
            existing?.close()
            throw taken
        case .failure(.noSuchFileOrDirectory): break
        case .failure(let error): throw error.cofferError("Looking at the vault path")
        }
        // Everything slow (the key derivation) comes first: the file appears only when its
        // bytes are ready, so a process killed meanwhile leaves no file at all.
        let contents = try InitialContents(secret: secret, cost: cost)
        let what = "the new vault \(path)"
        let created = try options.storage.createLog(
            path, vaultID: contents.header.vaultID, header: contents.headerBytes, frames: contents.frames,
            what, taken: taken, framesFollow: false)
        do throws(CofferError) {
            try created.publish(what, taken: taken)
        } catch {
            // Nothing in the vault was acknowledged: leave nothing behind to make a retry fail
            // with `.alreadyExists`.
            created.discard()
            throw error
        }
        return initialize(path: path, log: created.device, contents: contents, options: options)
    }

    /// The keys, header copies and first key-epoch record of a new vault.
    private struct InitialContents {
        let now: UInt64
        let masterKey: SecureBytes
        let unlockKey: SecureBytes
        let header: FileHeader
        /// Both header copies.
        let headerBytes: [UInt8]
        /// The first record's frame.
        let frames: FrameBatch
        let dataKey: SecureBytes
        /// The first record, and the end of the log after it.
        let record: PlacedRecord
        let cursor: LogCursor

        init(secret: Keyslot.Secret, cost: Argon2id.Cost) throws(CofferError) {
            now = WallClock.nowMilliseconds()
            masterKey = SecureBytes(randomCount: 32)
            unlockKey = SecureBytes(randomCount: 32)
            let vaultID = RandomBytes.make(FormatConstants.vaultIDBytes)
            var header = FileHeader(
                vaultID: vaultID, generation: 1, createdMilliseconds: now, keyslots: [],
                masterWrap: FileHeader.wrapMasterKey(masterKey, unlockKey: unlockKey, vaultID: vaultID))
            guard
                let slot = header.makeKeyslot(
                    id: 1, secret: secret, cost: cost, unlockKey: unlockKey, createdMilliseconds: now)
            else { throw CofferError(.invalidInput, "The Argon2id cost is outside what libsodium accepts.") }
            header.keyslots = [slot]
            header.signKeyslots(unlockKey: unlockKey)
            var bytes = header.encode(masterKey: masterKey)
            header.generation = 2
            bytes += header.encode(masterKey: masterKey)
            // The first key epoch, sealed and chained like any append.
            dataKey = SecureBytes(randomCount: XChaCha20Poly1305.keyBytes)
            var cursor = LogCursor(
                vaultID: vaultID, head: ChainHead(sequence: 0, digest: ChainHash.genesis(vaultID: vaultID)),
                end: UInt64(bytes.count), epoch: 0, epochKey: SecureBytes(copying: [UInt8]()))
            let (record, frame) = try cursor.sealKeyEpoch(
                1, dataKey: dataKey, createdMilliseconds: now,
                keyRecordKey: MasterKeySubkey.keyRecord.derive(from: masterKey))
            var frames = FrameBatch()
            frames.append(sequence: record.sequence, frame: frame)
            self.frames = frames
            self.record = record
            self.cursor = cursor
            self.header = header
            self.headerBytes = bytes
        }
    }

    /// The store over a new vault's log, created and named.
    private static func initialize(
        path: String, log: any LogDevice, contents: InitialContents, options: Options
    ) -> VaultStore {
        let record = contents.record
        var epochs = KeyEpochs()
        epochs.introduce(
            1, createdMilliseconds: contents.now, sequence: record.sequence, offset: record.offset,
            dataKey: contents.dataKey)
        let outcome = ScanOutcome(
            sealedThrough: contents.cursor, keyEpochs: epochs, bytesByType: [.keyEpoch: UInt64(record.frameBytes)])
        return VaultStore(
            path: path, options: options, log: log, masterKey: contents.masterKey, unlockKey: contents.unlockKey,
            header: contents.header, copyIndex: 1, outcome: outcome,
            chains: {
                let table = ChainTable()
                table.append(record.previousChain, offset: record.offset)
                return table
            }(),
            counters: {
                let counters = LogCounters()
                counters.add(type: record.type, epoch: record.epoch, frameBytes: record.frameBytes)
                return counters
            }(),
            recovery: Recovery(tornTail: nil, truncated: false, headerRepaired: false),
            unlockedSlot: contents.header.keyslots.first?.id)
    }

    // MARK: Opening

    /// Opens the vault at `path`, authenticating every record before handing it to `visit`.
    ///
    /// Recovery (F-RECOVER): an incomplete final frame is a torn tail; a writer cuts it off
    /// and reports it in ``recovery``. An invalid record followed by valid data is corruption:
    /// open fails naming the offset and sequence number, and the file is not modified.
    ///
    /// - Parameters:
    ///   - visit: called with every record in order (key-epoch records included), or every
    ///     record after the checkpoint the index was restored from (``Options/restoreIndex``).
    /// - Throws: `.notFound`, `.notAVault`, `.unsupportedVersion`, `.wrongKey` (nothing
    ///   modified; also, for a writer, a secret that an interrupted keyslot change removed,
    ///   F-HDR-SUPERSEDED), `.corrupted` (with offset and sequence), `.headMismatch`, `.locked`,
    ///   `.io`, or whatever `visit` throws.
    public static func open(
        path: String, secret: Keyslot.Secret, options: Options = Options(),
        visit: (ScannedRecord) throws(CofferError) -> Void = { _ in }
    ) throws(CofferError) -> VaultStore {
        try secret.check()
        return try open(
            path: path, unlocking: { $0.unlock(with: secret, preferredSlot: options.preferredKeyslot) },
            options: options, visit: visit)
    }

    /// Opens the vault at `path` again with the unlock key of this store: after another
    /// instance compacted a shared log, or a compaction replaced the file under a reader.
    /// The new log's header wraps its master key under the same unlock key.
    public func reopen(
        options: Options, visit: (ScannedRecord) throws(CofferError) -> Void = { _ in }
    ) throws(CofferError) -> VaultStore {
        let unlockKey = self.unlockKey
        return try Self.open(path: path, unlocking: { $0.unlock(unlockKey: unlockKey) }, options: options, visit: visit)
    }

    private static func open(
        path given: String, unlocking: (HeaderStore) -> Result<HeaderStore.Unlocked, CofferError>, options: Options,
        visit: (ScannedRecord) throws(CofferError) -> Void
    ) throws(CofferError) -> VaultStore {
        try SyncWaitSpin.check(options.syncWaitSpin)
        // A vault reached through a symbolic link is kept beside the real file, once for the
        // life of the store: a compaction renames over the file and the link stays.
        let path: String
        switch options.storage.resolve(given) {
        case .success(let resolved): path = resolved
        case .failure(let error): throw error.cofferError("Following the vault path's link")
        }
        // Without the writer lock (a reader, or any instance of a shared log) the witness is read
        // before the log, so that the log read is at least as new as the head found there. Read
        // after, it could hold the head of a commit or compaction that came in between, ahead of
        // the log read, and look like a rollback.
        let readsWitnessUnderLock = !options.readOnly && !options.storage.isShared
        var witnessed = options.witnessedHead
        if witnessed == nil, !readsWitnessUnderLock, let readWitness = options.readWitness {
            witnessed = try readWitness()
        }
        let log = try openLog(path: path, options: options)
        let fileSize: UInt64
        switch log.end() {
        case .failure(let error): throw error.cofferError("Reading the vault's size")
        case .success(let size): fileSize = size
        }
        let unlocked: HeaderStore.Unlocked
        switch HeaderStore.read(from: log).flatMap(unlocking) {
        case .failure(let error): throw error
        case .success(let value): unlocked = value
        }
        if unlocked.standing != .inForce && !options.readOnly {
            // F-HDR-SUPERSEDED: repairing from the older copy would undo the change.
            throw HeaderStore.notInForceError("Opening the vault for writing", unlocked.standing)
        }
        let header = unlocked.header
        if header.apiKeyHashKeyWrap != nil && header.unwrapAPIKeyHashKey(unlockKey: unlocked.unlockKey) == nil {
            throw CofferError(
                .corrupted, "The header's API-key hash key does not open under its unlock key.", offset: 0)
        }
        if let signer = header.signer, signer.seed(unlockKey: unlocked.unlockKey, vaultID: header.vaultID) == nil {
            throw CofferError(.corrupted, "The header's keyslot signer does not open under its unlock key.", offset: 0)
        }
        let chains = ChainTable()
        let counters = LogCounters()
        var scanner = LogScanner(
            log: log, vaultID: header.vaultID,
            keyRecordKey: MasterKeySubkey.keyRecord.derive(from: unlocked.masterKey),
            fileSize: fileSize, generation: header.logGeneration)
        // A file's writer, once it holds the lock (openLog): a head left while it waited is the
        // one checked.
        if witnessed == nil, readsWitnessUnderLock, let readWitness = options.readWitness {
            witnessed = try readWitness()
        }
        let headChecks = HeadChecks(expected: options.expectedHead, witnessed: witnessed, lineage: header.lineage)
        scanner.chainAt = headChecks.sequences
        var checkpointUse = options.ignoredCheckpoint.map(CheckpointUse.ignored) ?? .none
        if let restoreIndex = options.restoreIndex {
            switch startCheckpoint(
                path: path, storage: options.storage, log: log, header: header, masterKey: unlocked.masterKey,
                fileSize: fileSize)
            {
            case nil: break
            // Written by a writer after this open read where the log ends: not this open's.
            case .failure(let problem)? where problem.isNewer: break
            case .failure(let problem)?: checkpointUse = .ignored(problem.reason)
            case .success(let resumption)?:
                // The index is decoded as the contents are opened; `restoreIndex` keeps it only
                // when the opening completes (authenticated, and checked against the log).
                let opening = resumption.opening
                let restored = restoreIndex(resumption.contents.index, opening, resumption.position)
                // What restoreIndex was told when it asked (complete() keeps its first answer).
                let asked = opening.outcome != nil
                if restored && !(asked && opening.complete()) {
                    // Joins the opening thread before its buffer goes (a dropped opening traps).
                    _ = opening.complete()
                    throw CofferError(
                        .invalidInput,
                        "The open's restoreIndex kept an index before the checkpoint's arrival completed, or after it answered false."
                    )
                }
                if restored {
                    let position = resumption.position
                    resumption.contents.chains.withUnsafeBytes {
                        chains.restore($0, lastOffset: position.lastFrameOffset)
                    }
                    var counts = LogCounts()
                    counts.recordsByType = resumption.contents.recordsByType
                    counts.bytesByType = resumption.contents.bytesByType
                    counts.transactionsByEpoch = resumption.contents.transactionsByEpoch
                    counters.restore(counts)
                    scanner.resume = (
                        position.end,
                        ChainHead(
                            sequence: position.sequence, digest: position.chain, generation: header.logGeneration),
                        resumption.epochs
                    )
                    checkpointUse = .resumed(sequence: position.sequence)
                } else {
                    checkpointUse = .ignored(opening.complete() ? "its index is malformed" : opening.problem!.reason)
                }
            }
        }
        var outcome = try scan(scanner, recordingIn: chains, counters, visit)
        if case .resumed(let sequence) = checkpointUse {
            // The chain after records the checkpoint covers is in the restored table (F-HEAD checks).
            for requested in headChecks.sequences where requested > 0 && requested <= sequence {
                outcome.chainAtRequested[requested] =
                    requested == sequence ? scanner.resume!.head.digest : chains.previous(for: requested + 1)
            }
        }
        if let corruption = outcome.corruption {
            // Salvage copies a prefix only when it holds a key epoch to seal the copy's records.
            let advice =
                outcome.keyEpochs.newest == nil
                ? "no valid record precedes it that salvage could keep: restore the vault from a copy."
                : "run salvage to copy the valid prefix."
            throw CofferError(
                .corrupted,
                "The log is corrupted: \(corruption.detail). Valid records follow, so this is not an interrupted write; "
                    + advice,
                offset: corruption.offset, sequence: corruption.sequence)
        }
        // Before a writer cuts or repairs anything: a refused open leaves the file as it was.
        if let mismatch = headChecks.mismatches(
            vaultID: header.vaultID, unlockKey: unlocked.unlockKey, head: outcome.head, chains: outcome.chainAtRequested
        ).first {
            throw CofferError(.headMismatch, mismatch.detail, sequence: mismatch.sequence)
        }
        // F-NO-EPOCH: a log without its first record holds nothing. A reader is refused as a
        // writer is, rather than shown a vault that seems empty.
        guard outcome.keyEpochs.newest != nil else {
            throw CofferError(
                .corrupted,
                "The log has no key epoch: it was cut off before its first record, or its creation never completed. "
                    + "Nothing in it can be read; restore the vault from a copy.",
                offset: FormatConstants.logStartOffset, sequence: 1)
        }
        var truncated = false
        var headerRepaired = false
        // F-COMPACT: holding the lock, a writer knows no compaction is running.
        let removed = options.readOnly ? [] : options.storage.removeLeftoverSuccessors(of: path)
        var headerInForce = header
        var copyIndex = unlocked.copyIndex
        if !options.readOnly {
            if let torn = outcome.tornTail {
                // F-TORN: cut the incomplete frame so the next append starts at a frame boundary.
                if case .failure(let error) = log.cutTornTail(at: outcome.validEnd) {
                    throw error.cofferError("Cutting the torn tail", offset: torn.offset)
                }
                truncated = true
            }
            if unlocked.otherCopyStale {
                // F-HDR-REPAIR: an interrupted rewrite left the copies different; make both current.
                switch HeaderStore.rewrite(
                    header, inForce: unlocked.copyIndex, masterKey: unlocked.masterKey, log: log)
                {
                case .failure(let error): throw error
                case .success(let written):
                    headerInForce = written
                    copyIndex = unlocked.copyIndex
                }
                headerRepaired = true
            }
            // F-RECOVER-SYNC: what this open read may have been written by a writer that died
            // before its sync. Make it durable before anything built on it is served or
            // appended to, so the log never goes backwards after a later power loss.
            if !truncated, case .failure(let error) = log.sync() {
                throw error.cofferError("Syncing the recovered log")
            }
        }
        return VaultStore(
            path: path, options: options, log: log, masterKey: unlocked.masterKey, unlockKey: unlocked.unlockKey,
            header: headerInForce,
            copyIndex: copyIndex, outcome: outcome, chains: chains, counters: counters,
            recovery: Recovery(
                tornTail: outcome.tornTail ?? options.earlierRecovery?.tornTail,
                truncated: truncated || options.earlierRecovery?.truncated == true,
                headerRepaired: headerRepaired || options.earlierRecovery?.headerRepaired == true,
                removedTemporaryFiles: (options.earlierRecovery?.removedTemporaryFiles ?? []) + removed,
                checkpoint: checkpointUse, freeBytes: outcome.freeBytes,
                openedAnOlderHeaderCopy: unlocked.standing != .inForce),
            unlockedSlot: unlocked.slotID == 0 ? nil : unlocked.slotID)
    }

    /// Scans with `scanner`, recording each record's chain hash and size before `visit` sees it.
    static func scan(
        _ scanner: LogScanner, recordingIn chains: ChainTable, _ counters: LogCounters,
        _ visit: (ScannedRecord) throws(CofferError) -> Void
    ) throws(CofferError) -> ScanOutcome {
        switch scanner.scan({ (record: ScannedRecord) throws(CofferError) in
            chains.append(record.previousChain, offset: record.offset)
            counters.add(type: record.type, epoch: record.epoch, frameBytes: record.frameBytes)
            try visit(record)
        }) {
        case .failure(let error): throw error
        case .success(let value): return value
        }
    }

    /// Where the log ends and its two header copies.
    static func endAndHeaders(of log: any LogDevice) throws(CofferError) -> (UInt64, HeaderStore) {
        let end: UInt64
        switch log.end() {
        case .failure(let error): throw error.cofferError("Reading the vault's size")
        case .success(let value): end = value
        }
        switch HeaderStore.read(from: log) {
        case .failure(let error): throw error
        case .success(let headers): return (end, headers)
        }
    }

    /// Opens the log and, for a writer, takes its lock, waiting up to `options.lockWait` for
    /// another process to release it.
    static func openLog(path: String, options: Options) throws(CofferError) -> any LogDevice {
        var wait = try LockWait(options.lockWait)
        var reported = false
        while true {
            switch options.storage.openLog(path, readOnly: options.readOnly) {
            case .success(let log?): return log
            case .success(nil): break
            case .failure(.noSuchFileOrDirectory):
                throw CofferError(.notFound, "No vault file exists at the given path.")
            case .failure(let error): throw error.cofferError("Opening the vault file")
            }
            if options.isCancelled?() == true {
                throw CofferError(
                    .cancelled,
                    "Stopped while waiting for another process to release the writer lock; nothing was changed.")
            }
            if !reported, options.lockWait > .zero {
                reported = true
                options.onLockWait?()
            }
            guard wait.pause() else {
                let waited = options.lockWait > .zero ? " (waited \(LockWait.describe(options.lockWait)))" : ""
                throw CofferError(
                    .locked,
                    "Another writer has the vault open (another process, or another open vault of this file in "
                        + "this process)\(waited); close it, wait longer or open read-only.")
            }
        }
    }
}
