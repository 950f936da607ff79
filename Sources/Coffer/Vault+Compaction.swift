import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

/// What a compaction does beyond reclaiming space.
public struct CompactionOptions: Sendable {
    /// Re-encrypt: seal every record under a new epoch with a new data key and retire every
    /// older epoch (its key is not in the new file). Without it, records are rewritten under
    /// the newest epoch and the older epochs keep their keys in the file.
    public var reencrypt: Bool
    /// Master-key rotation: the new file's key records, header MAC and API-key hashes are
    /// under a new master key, wrapped under the same unlock key, so every passphrase and key
    /// file keeps working. Implies `reencrypt`, since every data key must be resealed anyway.
    public var newMasterKey: Bool
    /// Unlock-key rotation with a new master key (F-UNLOCK-ROTATE): what revokes a removed or
    /// replaced secret for good. Every remaining keyslot gets the new unlock key through its
    /// recipient, so every remaining secret keeps working and none is asked for, while a
    /// header copy from before (a backup, a copy, an old database row) opens nothing written
    /// after. Implies `newMasterKey` and `reencrypt`. Every keyslot needs a recipient
    /// (`Keyslot.recipient`); a slot made before recipients must be replaced first.
    public var newUnlockKey: Bool

    /// Keep the vault as it is when the compacted file would not be smaller: nothing to
    /// reclaim. The report says `skipped`. Off by default: an explicit compaction compacts.
    public var skipsUnlessSmaller: Bool
    /// Called after each compacted record is written, from the compacting thread.
    public var progress: (@Sendable (CompactionProgress) -> Void)?
    /// Asked after each compacted record: true stops the compaction before its switch, removes
    /// the new file and throws `.cancelled`; the vault is as it was.
    public var isCancelled: (@Sendable () -> Bool)?
    /// After the switch, write the new log's index checkpoint (F-CHECKPOINT-WRITE), so that the
    /// next open starts from it; on by default. Its failure is logged, not thrown: the
    /// compaction is complete without it.
    public var writesCheckpoint = true

    /// Options whose parameters set the properties of the same name. A rotation turns on what it
    /// implies, whatever it is given as: `newUnlockKey` sets `newMasterKey` and `reencrypt`, and
    /// `newMasterKey` sets `reencrypt`. The defaults compact only: no re-encryption, no rotation, no
    /// skipping, no callbacks.
    public init(
        reencrypt: Bool = false, newMasterKey: Bool = false, newUnlockKey: Bool = false,
        skipsUnlessSmaller: Bool = false, progress: (@Sendable (CompactionProgress) -> Void)? = nil,
        isCancelled: (@Sendable () -> Bool)? = nil
    ) {
        self.reencrypt = reencrypt || newMasterKey || newUnlockKey
        self.newMasterKey = newMasterKey || newUnlockKey
        self.newUnlockKey = newUnlockKey
        self.skipsUnlessSmaller = skipsUnlessSmaller
        self.progress = progress
        self.isCancelled = isCancelled
    }
}

/// How far a compaction got, for a progress display.
public struct CompactionProgress: Sendable {
    /// Records written to the new file.
    public var records: UInt64
    /// Bytes of the new file's log so far.
    public var bytes: UInt64
    /// Live operations written, and about how many there are in all
    /// (``VaultIndex/compactionEstimate``): the share done is their ratio.
    public var operations: UInt64
    /// About how many live operations there are in all, estimated from the index when the compaction
    /// began (``VaultIndex/compactionEstimate``); at least 1. An estimate: `operations` need not end
    /// equal to it.
    public var operationsTotal: UInt64
}

/// What a compaction did.
public struct CompactionReport: Sendable {
    /// Bytes of the old file, header copies included, when the compaction began; transactions
    /// carried over after that are not in it.
    public var bytesBefore: UInt64
    /// Bytes of the new file, header copies included, after the switch (carried-over transactions
    /// included). When `skipped`: the bytes the compacted file would have had; it was not kept.
    public var bytesAfter: UInt64
    /// Records of the old log when the compaction began, key-epoch and transaction records alike:
    /// the sequence number of its last record (F-SEQ).
    public var recordsBefore: UInt64
    /// Records of the new log after the switch, key-epoch and transaction records alike: the
    /// sequence number of its last record (F-SEQ). When `skipped`: what the compacted log would have
    /// held.
    public var recordsAfter: UInt64
    /// Transactions committed by other threads while the compaction ran, carried over.
    public var transactionsCaughtUp: Int
    /// Epochs whose keys are not in the new file.
    public var retiredEpochs: [UInt32]
    /// The epoch new records are sealed under.
    public var currentEpoch: UInt32
    /// The new file's chain head: a compaction starts a new chain, so a kept head must be
    /// replaced by this one. The old head when `skipped`.
    public var head: ChainHead
    /// Whether the vault was left as it was because the compacted file would not have been
    /// smaller (``CompactionOptions/skipsUnlessSmaller``); `bytesAfter` is then what it would
    /// have been.
    public var skipped = false
}

/// When a vault compacts by itself (off unless ``Vault/Options/automaticCompaction`` is set).
///
/// After a mutation, once the log is at least `fileBytesAtLeast` and has grown by a quarter
/// since the last check, the vault measures its dead share (`statistics()`, a read of
/// the live data) and compacts when it is at least `deadShareAtLeast`. The mutation that
/// triggers it returns after the compaction, so its latency includes it.
public struct AutomaticCompaction: Sendable {
    /// The dead share of the log (``StorageStatistics/deadShare``, from 0 to 1) at which a check
    /// compacts; 0.5 by default. At 0 or below every check compacts; above 1 none does.
    public var deadShareAtLeast: Double
    /// The file size in bytes, header copies included, below which no check is made; 64 MiB by
    /// default.
    public var fileBytesAtLeast: UInt64
    /// What an automatic compaction does; a plain one by default. Its `progress` and `isCancelled`
    /// are called on the thread of the mutation that triggered it; a cancelled or failed automatic
    /// compaction leaves the vault as it was and is tried again at a later check.
    public var options: CompactionOptions

    /// A policy that compacts with `options` when the file is at least `fileBytesAtLeast` bytes and
    /// its log at least `deadShareAtLeast` dead; by default 64 MiB, half dead, a plain compaction.
    public init(
        deadShareAtLeast: Double = 0.5, fileBytesAtLeast: UInt64 = 64 << 20,
        options: CompactionOptions = CompactionOptions()
    ) {
        self.deadShareAtLeast = deadShareAtLeast
        self.fileBytesAtLeast = fileBytesAtLeast
        self.options = options
    }
}

extension Vault {
    /// Runs the automatic-compaction policy after a mutation; see ``AutomaticCompaction``.
    /// Its errors are not the mutation's: the mutation is already durable, so they are dropped
    /// and the next check tries again.
    func compactIfDue() {
        guard let policy = options.automaticCompaction else { return }
        let end = store.logEnd
        let due = lastPolicyCheck.withLock { last -> Bool in
            guard end >= policy.fileBytesAtLeast, end >= last + last / 4 else { return false }
            last = end
            return true
        }
        guard due, let statistics = try? statistics(), statistics.deadShare >= policy.deadShareAtLeast else { return }
        do throws(CofferError) {
            try compact(policy.options)
        } catch {
            // The vault carries on uncompacted; the next check tries again.
            diagnostics.logger?.warning("An automatic compaction failed", metadata: ["code": "\(error.code.word)"])
        }
        lastPolicyCheck.withLock { $0 = store.logEnd }
    }

    /// Compaction (F-COMPACT): rewrites the live state into a new file — the latest version
    /// of every live credential and the retained history versions, no deleted objects, no
    /// superseded versions — in large records, so the next open decrypts only live data. The
    /// file is written beside the vault, synced, renamed over it and the directory synced: a
    /// crash at any point leaves exactly one complete vault, old or new.
    ///
    /// Readers are never blocked; writers are blocked only for the final catch-up and the
    /// switch; transactions committed while it runs are carried into the new file. Memory
    /// stays within a small multiple of the index: the live state is streamed.
    ///
    /// ```swift
    /// let report = try vault.compact(CompactionOptions(reencrypt: true))
    /// print(report.retiredEpochs, report.head)
    /// ```
    ///
    /// - Throws: `.invalidInput` read-only; `.io`, `.corrupted` (a record of the old file does
    ///   not authenticate). On an error before the switch the vault carries on unchanged.
    @discardableResult
    public func compact(_ options: CompactionOptions = CompactionOptions()) throws(CofferError) -> CompactionReport {
        let report = try compactUnobserved(options)
        // The new log's records count from 1: the automatic policy starts over, whether or not
        // a checkpoint is written now.
        if !report.skipped { checkpoints.noteCovered(0) }
        if !report.skipped && options.writesCheckpoint {
            // The next open starts from the compacted index instead of replaying the new log
            // (F-CHECKPOINT-WRITE). The compaction is done either way.
            do throws(CofferError) {
                try checkpoint()
            } catch {
                diagnostics.logger?.warning(
                    "The index checkpoint after a compaction could not be written",
                    metadata: ["code": "\(error.code.word)"])
            }
        }
        diagnostics.compactionBytesWritten.increment(by: Int64(clamping: report.skipped ? 0 : report.bytesAfter))
        diagnostics.compactionBytesReclaimed.increment(
            by: Int64(clamping: report.bytesBefore > report.bytesAfter ? report.bytesBefore - report.bytesAfter : 0))
        diagnostics.logger?.info(
            report.skipped ? "Compaction skipped: nothing to reclaim" : "Compacted",
            metadata: [
                "path": "\(store.path)", "bytes_before": "\(report.bytesBefore)", "bytes_after": "\(report.bytesAfter)",
                "head": "\(report.head)",
            ])
        return report
    }

    private func compactUnobserved(_ options: CompactionOptions) throws(CofferError) -> CompactionReport {
        guard !isReadOnly else {
            throw CofferError(.invalidInput, "The vault was opened read-only; open it for writing to compact it.")
        }
        try ReentryGuard.refuse("compact", on: self)
        compactionLock.lock()
        defer { compactionLock.unlock() }
        // No checkpoint of the log being replaced is written while it is replaced: its switch
        // removes that log's checkpoint, which one written afterwards would bring back.
        checkpointLock.lock()
        defer { checkpointLock.unlock() }

        // 1. A consistent snapshot: the index as of a head, and the new file begun.
        writerLock.lock()
        // Every durable transaction in the index, so that the index is as of the store's head.
        commits.drain()
        let (oldStore, snapshot) = state.read { ($0.store, $0.index) }
        var copiedHead = oldStore.head
        var copiedEnd = oldStore.logEnd
        let bytesBefore = copiedEnd
        let recordsBefore = copiedHead.sequence
        let target: CompactionTarget
        do {
            target = try oldStore.beginCompaction(
                reencrypt: options.reencrypt, newMasterKey: options.newMasterKey, newUnlockKey: options.newUnlockKey)
        } catch {
            writerLock.unlock()
            throw error
        }
        writerLock.unlock()

        do throws(CofferError) {
            // 2. Stream the live state into the new file, building its index alongside.
            var rebuilt = VaultIndex()
            let cache = RecordCache(store: oldStore)
            var progress = CompactionProgress(
                records: 0, bytes: 0, operations: 0,
                operationsTotal: UInt64(snapshot.compactionEstimate.liveOperations))
            let reader: OperationReader = { location throws(CofferError) in try cache.operation(at: location) }
            try snapshot.compactionTransactions(reader: reader) { transaction throws(CofferError) in
                if options.isCancelled?() == true {
                    throw CofferError(.cancelled, "The compaction was cancelled; the vault is as it was.")
                }
                guard
                    let payload = TransactionPayload(
                        timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor,
                        operations: transaction.operations.map { $0.encode() }
                    ).encode()
                else { throw CofferError(.invalidInput, "A compacted transaction is too large.") }
                let placed = try target.appendTransaction(payload)
                try rebuilt.apply(
                    transaction.operations,
                    context: TransactionContext(
                        sequence: placed.sequence, offset: placed.offset,
                        timeMilliseconds: transaction.timeMilliseconds,
                        actor: transaction.actor))
                if let report = options.progress {
                    progress.records += 1
                    progress.operations += UInt64(transaction.operations.count)
                    progress.bytes = target.fileBytes
                    report(progress)
                }
            }
            if options.isCancelled?() == true {
                throw CofferError(.cancelled, "The compaction was cancelled; the vault is as it was.")
            }
            // Nothing to reclaim: the live state takes as much room as the log it is in.
            if options.skipsUnlessSmaller && !options.reencrypt && target.fileBytes >= bytesBefore {
                let wouldBe = target.fileBytes
                target.abandon()
                return CompactionReport(
                    bytesBefore: bytesBefore, bytesAfter: wouldBe, recordsBefore: recordsBefore,
                    recordsAfter: target.recordCount, transactionsCaughtUp: 0, retiredEpochs: [],
                    currentEpoch: oldStore.currentEpoch, head: copiedHead, skipped: true)
            }

            // 3. Carry what writers committed meanwhile: first without blocking them, then
            // under the writer lock for the last few and the switch.
            var caughtUp = 0
            func catchUp() throws(CofferError) {
                (copiedHead, copiedEnd) = try oldStore.copyAcknowledged(
                    after: copiedHead, endingAt: copiedEnd, into: target
                ) {
                    record, sequence, offset throws(CofferError) in
                    try Replay.apply(record, sequence: sequence, offset: offset, to: &rebuilt)
                    caughtUp += 1
                }
            }
            try catchUp()
            writerLock.lock()
            defer { writerLock.unlock() }
            for attempt in 0..<Self.conflictAttempts {
                if attempt > 0 { Self.backOff(attempt: attempt) }
                // On a shared log, in the writer turn (after a random wait when the last switch lost): other instances may have
                // committed since; read their records into this vault first (a no-op on a file, which has one writer).
                let switched = try oldStore.withWriterTurn { () throws(CofferError) -> VaultStore? in
                    try catchUpLocked()
                    guard self.store === oldStore else {
                        throw CofferError(
                            .conflict, "Another instance compacted the vault meanwhile; this compaction was dropped.")
                    }
                    try catchUp()
                    do throws(CofferError) {
                        return try oldStore.completeCompaction(target)
                    } catch  where error.code == .conflict && !target.isAbandoned {
                        return nil
                    }
                }
                guard let newStore = switched else { continue }
                // The new file's writer starts with the durability the vault was opened with;
                // keep the one setDurability chose. (A failed sync here stops that writer.)
                if newStore.durability != oldStore.durability { try? newStore.setDurability(oldStore.durability) }
                state.write { $0 = State(store: newStore, index: rebuilt) }
                commits.reset()
                recordHead()
                return CompactionReport(
                    bytesBefore: bytesBefore, bytesAfter: newStore.logEnd, recordsBefore: recordsBefore,
                    recordsAfter: newStore.head.sequence, transactionsCaughtUp: caughtUp,
                    retiredEpochs: target.retiredEpochs,
                    currentEpoch: newStore.currentEpoch, head: newStore.head)
            }
            throw CofferError(
                .conflict,
                "Other instances sharing the vault's log kept writing during the switch; the compaction was dropped. Try again."
            )
        } catch {
            if !target.isCompleted { target.abandon() }
            throw error
        }
    }
}
