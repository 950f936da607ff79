import CofferCrypto
import CofferErrors
import CofferFormat

/// A new log being written by a compaction, beside the vault's log it will replace
/// (F-COMPACT), through the medium's ``SuccessorLog``.
///
/// For a file it lives at `<vault>.compact-<random>` in the same directory, is created
/// exclusively with mode 0600 and locked at once, so that after the rename the new vault is
/// already held by this writer. Records are appended without syncing;
/// ``VaultStore/completeCompaction(_:)`` syncs the file, renames it over the vault and syncs
/// the directory. Until that rename the old vault is untouched and complete; after it, the new
/// one is. A leftover temporary file from a crash is removed by the next writer that opens the
/// vault. On a shared log it is the next log generation, and the switch is one transaction.
public final class CompactionTarget: @unchecked Sendable {
    /// The new log's name: a file's temporary path.
    public var temporaryPath: String { successor.name }
    let successor: any SuccessorLog
    let vaultPath: String
    let options: VaultStore.Options
    let masterKey: SecureBytes
    let unlockKey: SecureBytes
    /// The new file's header: its lineage is final only at the switch (F-LINEAGE).
    private(set) var header: FileHeader
    let keyRecordKey: SecureBytes
    /// The epochs this file carries, with their data keys.
    private(set) var epochs = KeyEpochs()
    /// The epochs of the old file not carried over: retired, their keys absent from this file.
    public let retiredEpochs: [UInt32]
    /// The old file's keyslots when the compaction began: another instance's keyslot change
    /// since then is detected against them (the new file's may be rewrapped).
    let sourceKeyslots: [Keyslot]
    let chains = ChainTable()
    let counters = LogCounters()
    /// The end of the new log, where the next record is sealed.
    private var cursor: LogCursor
    /// The head after the last record of the new file.
    var head: ChainHead { cursor.head }
    /// The byte after the last frame of the new file.
    var end: UInt64 { cursor.end }
    /// Frames sealed and not written yet.
    private var pending = FrameBatch()
    private var bytesByType: [RecordType: UInt64] = [:]

    /// Flush the pending bytes once they reach this size: large writes, bounded memory.
    private static let flushBytes = 1 << 20

    init(
        successor: any SuccessorLog, vaultPath: String, options: VaultStore.Options,
        masterKey: SecureBytes, unlockKey: SecureBytes, header: FileHeader, epochs: [(UInt32, UInt64, SecureBytes)],
        retiredEpochs: [UInt32], sourceKeyslots: [Keyslot]
    ) throws(CofferError) {
        self.sourceKeyslots = sourceKeyslots
        self.successor = successor
        self.vaultPath = vaultPath
        self.options = options
        self.masterKey = masterKey
        self.unlockKey = unlockKey
        self.header = header
        self.keyRecordKey = MasterKeySubkey.keyRecord.derive(from: masterKey)
        self.retiredEpochs = retiredEpochs
        let bytes = Self.headerCopies(of: header, masterKey: masterKey)
        try successor.writeHeader(bytes)
        // No epoch until the first key-epoch record below introduces one.
        self.cursor = LogCursor(
            vaultID: header.vaultID,
            head: ChainHead(
                sequence: 0, digest: ChainHash.genesis(vaultID: header.vaultID, generation: header.logGeneration),
                generation: header.logGeneration),
            end: UInt64(bytes.count), epoch: 0, epochKey: SecureBytes(copying: [UInt8]()))
        for (epoch, created, key) in epochs {
            try appendKeyEpoch(epoch, createdMilliseconds: created, dataKey: key)
        }
    }

    /// The newest epoch: where records go unless another is named.
    public var newestEpoch: UInt32 { epochs.newest!.number }

    /// How many bytes the new file has so far, its header copies included.
    public var fileBytes: UInt64 { end }

    /// How many records the new file has so far.
    public var recordCount: UInt64 { head.sequence }

    /// The epochs this file carries, in order.
    public var carriedEpochs: [UInt32] { epochs.all.map(\.number) }

    func appendKeyEpoch(_ epoch: UInt32, createdMilliseconds: UInt64, dataKey: SecureBytes) throws(CofferError) {
        let sealed = try cursor.sealKeyEpoch(
            epoch, dataKey: dataKey, createdMilliseconds: createdMilliseconds, keyRecordKey: keyRecordKey)
        try add(sealed)
        epochs.introduce(
            epoch, createdMilliseconds: createdMilliseconds, sequence: sealed.record.sequence,
            offset: sealed.record.offset, dataKey: dataKey)
    }

    /// Seals `payload` as the next transaction record, under `epoch` (one this file carries)
    /// or the newest epoch.
    ///
    /// - Returns: the record's sequence number and offset in the new file.
    public func appendTransaction(_ payload: SecureBytes, epoch: UInt32? = nil) throws(CofferError) -> (
        sequence: UInt64, offset: UInt64
    ) {
        let chosen = epoch.flatMap { epochs.contains($0) ? $0 : nil } ?? newestEpoch
        let sealed = try cursor.sealTransaction(payload, epoch: chosen, key: epochs.dataKey(chosen)!)
        try add(sealed)
        return (sealed.record.sequence, sealed.record.offset)
    }

    /// Counts a sealed record and queues its frame for writing.
    private func add(_ sealed: (record: PlacedRecord, frame: [UInt8])) throws(CofferError) {
        chains.append(sealed.record.previousChain, offset: sealed.record.offset)
        bytesByType[sealed.record.type, default: 0] += UInt64(sealed.frame.count)
        counters.add(type: sealed.record.type, epoch: sealed.record.epoch, frameBytes: sealed.frame.count)
        pending.append(sequence: sealed.record.sequence, frame: sealed.frame)
        if pending.bytes.count >= Self.flushBytes { try flush() }
    }

    /// Both header copies of `header`: generations g and g + 1.
    private static func headerCopies(of header: FileHeader, masterKey: SecureBytes) -> [UInt8] {
        var next = header
        var bytes = next.encode(masterKey: masterKey)
        next.generation += 1
        bytes += next.encode(masterKey: masterKey)
        return bytes
    }

    /// F-LINEAGE: writes both header copies again with the lineage the switch gives: the
    /// replaced log's final head `final`, and this log's head now as the switch head.
    func finishLineage(replacing lineage: LogLineage?, final: ChainHead) throws(CofferError) {
        header.lineage = LogLineage.successor(of: lineage, final: final, switchHead: head)
        try flush()
        try successor.writeHeader(Self.headerCopies(of: header, masterKey: masterKey))
    }

    /// Writes the pending frames (no sync).
    func flush() throws(CofferError) {
        guard !pending.isEmpty else { return }
        try successor.append(pending)
        pending.removeAll()
    }

    /// Whether the new file has been renamed over the vault.
    public internal(set) var isCompleted = false

    /// Whether the compaction was given up and its temporary file removed.
    public private(set) var isAbandoned = false

    /// Gives up: closes and removes the new log. The vault is untouched.
    public func abandon() {
        precondition(!isCompleted, "a completed compaction cannot be abandoned")
        guard !isAbandoned else { return }
        isAbandoned = true
        successor.abandon()
    }

    /// The state a store over the new file starts from.
    var outcome: ScanOutcome {
        ScanOutcome(sealedThrough: cursor, keyEpochs: epochs, bytesByType: bytesByType)
    }
}

extension VaultStore {
    /// The prefix of temporary compaction files of the vault at `path` (their names, not paths).
    static func compactionPrefix(of path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return "\(name).compact-"
    }

    /// Whether `name` is `prefix` and then exactly 16 lowercase hexadecimal digits: the name
    /// of a temporary file a compaction or a checkpoint write makes (F-COMPACT,
    /// F-CHECKPOINT-WRITE), which a writer may remove.
    static func isTemporaryName(_ name: String, prefix: String) -> Bool {
        // Bytes, not characters: a name that is only canonically equivalent is another file.
        guard name.utf8.starts(with: prefix.utf8) else { return false }
        let suffix = name.utf8.dropFirst(prefix.utf8.count)
        return suffix.count == 16 && suffix.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The name of the checkpoint kept beside the vault file `path` (F-CHECKPOINT).
    static func checkpointName(of path: String) -> String {
        (path.split(separator: "/").last.map(String.init) ?? path) + ".checkpoint"
    }

    /// The path of a file named `name` in the directory of `path`.
    static func sibling(_ name: String, of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return name }
        return String(path[...slash]) + name
    }

    /// Starts a compaction into a new file beside this vault (F-COMPACT).
    ///
    /// - Parameters:
    ///   - reencrypt: carry only a new epoch, with a new data key, into the new file; every
    ///     old epoch is retired and its key is not in the new file. Otherwise every epoch is
    ///     carried with its key, and records can stay under their own epoch.
    ///   - newMasterKey: master-key rotation: the new file's key records and header MAC are
    ///     under a new master key, wrapped under the same unlock key, so every keyslot keeps
    ///     working.
    ///   - newUnlockKey: unlock-key rotation (F-UNLOCK-ROTATE), with a new master key: every
    ///     keyslot's new unlock key is sealed to the slot's recipient, so every remaining
    ///     secret keeps working while no header copy made before opens the new file's keys.
    /// - Throws: `.invalidInput` for a read-only store, or for `newUnlockKey` when a keyslot has
    ///   no recipient (its secret is needed: replace the slot first); `.io`.
    public func beginCompaction(reencrypt: Bool, newMasterKey: Bool, newUnlockKey: Bool = false) throws(CofferError)
        -> CompactionTarget
    {
        _ = try requireWriter()
        // One reading of the header for the whole start: on a shared log a catch-up may take
        // in another instance's keyslot change at any moment, and the slots rewrapped must be
        // the slots the switch later compares against.
        let source = self.header
        if newUnlockKey {
            let lacking = source.keyslots.filter { $0.recipient == nil }.map(\.id)
            guard lacking.isEmpty else {
                throw CofferError(
                    .invalidInput,
                    "Keyslot\(lacking.count == 1 ? "" : "s") \(lacking.map(String.init).joined(separator: ", ")) "
                        + "predate\(lacking.count == 1 ? "s" : "") recipients and cannot take a new unlock key without "
                        + "\(lacking.count == 1 ? "its" : "their") secret: replace or remove \(lacking.count == 1 ? "it" : "them") first."
                )
            }
        }
        let successor = try options.storage.beginSuccessor(of: path)
        let masterKey = newMasterKey || newUnlockKey ? SecureBytes(randomCount: 32) : self.masterKey
        var header = source
        // F-LINEAGE: the new log is one generation on, its chain from that generation's
        // genesis; the switch fills in the final heads.
        let genesis = ChainHead(
            sequence: 0, digest: ChainHash.genesis(vaultID: source.vaultID, generation: source.logGeneration + 1),
            generation: source.logGeneration + 1)
        header.lineage = LogLineage.successor(of: source.lineage, final: head, switchHead: genesis)
        let unlockKey = newUnlockKey ? SecureBytes(randomCount: 32) : self.unlockKey
        if newUnlockKey {
            // F-UNLOCK-ROTATE: the new unlock key goes to every slot's recipient, and the
            // API-key hash key (derived from the first unlock key) is carried wrapped, so
            // existing platform API keys keep verifying.
            var rewrapped: [Keyslot] = []
            for slot in header.keyslots {
                guard let next = slot.rewrapped(to: unlockKey, vaultID: header.vaultID) else {
                    successor.abandon()
                    throw CofferError(
                        .corrupted, "Keyslot \(slot.id)'s recipient key is not a usable public key.", offset: 0)
                }
                rewrapped.append(next)
            }
            header.keyslots = rewrapped
            header.apiKeyHashKeyWrap = FileHeader.wrapAPIKeyHashKey(
                apiKeyHashKeyValue, unlockKey: unlockKey, vaultID: header.vaultID)
            // F-HDR-SIGNER: the same signer, its seed under the new unlock key, signs the
            // rewrapped table; the slots believe the new wraps because of that signature.
            guard let signer = header.signer?.rewrapped(from: self.unlockKey, to: unlockKey, vaultID: header.vaultID)
            else {
                successor.abandon()
                throw CofferError(
                    .corrupted, "The header's keyslot signer does not open under the vault's unlock key.", offset: 0)
            }
            header.signer = signer
            header.signKeyslots(unlockKey: unlockKey)
        }
        header.masterWrap = FileHeader.wrapMasterKey(masterKey, unlockKey: unlockKey, vaultID: header.vaultID)
        header.generation = 1
        let (carried, retired): ([(UInt32, UInt64, SecureBytes)], [UInt32]) = headerLock.withLock {
            let all = epochs.all.map { ($0.number, $0.createdMilliseconds, $0.dataKey!) }
            if reencrypt {
                let next = min((epochs.newest?.number ?? 0) + 1, FormatConstants.epochMax)
                return (
                    [(next, WallClock.nowMilliseconds(), SecureBytes(randomCount: XChaCha20Poly1305.keyBytes))],
                    all.map(\.0)
                )
            }
            return (all, [])
        }
        do throws(CofferError) {
            return try CompactionTarget(
                successor: successor, vaultPath: path, options: options, masterKey: masterKey,
                unlockKey: unlockKey, header: header, epochs: carried, retiredEpochs: retired,
                sourceKeyslots: source.keyslots)
        } catch {
            successor.abandon()
            throw error
        }
    }

    /// Finishes a compaction: syncs the new file, renames it over the vault, syncs the
    /// directory, and returns the store over the new file. This store stops accepting
    /// writes; reads through it keep working on the old file until it is released.
    ///
    /// The caller must have stopped its own writers (the engine holds its writer lock) and
    /// copied every record acknowledged on this store into `target` first.
    ///
    /// - Throws: `.io`: before the rename the old vault is intact and the target is removed;
    ///   a failed directory sync after the rename stops both stores (reopen to recover).
    ///   `.conflict` (shared logs only): another instance appended after the last catch-up;
    ///   the target is kept, to be caught up and completed again, or abandoned.
    public func completeCompaction(_ target: CompactionTarget) throws(CofferError) -> VaultStore {
        // The target copied the keyslots at its start. On a shared log another instance may
        // have changed them since (on a file the engine holds such changes off): switching
        // would undo that change.
        guard header.keyslots == target.sourceKeyslots else {
            target.abandon()
            throw CofferError(
                .conflict,
                "Another instance changed the keyslots while the compaction ran; it was dropped. Run it again.")
        }
        let switched: LogWriteOutcome
        do throws(CofferError) {
            // F-CHECKPOINT-WRITE: the replaced log's checkpoint goes first, durably, so that no
            // crash leaves it beside the new log (it would be ignored there, but verify reports it).
            try options.storage.removeCheckpoint(of: path)
            try target.finishLineage(replacing: header.lineage, final: head)
            switched = try target.successor.switchOver(replacingLogEndingAt: logEnd, lastSequence: head.sequence)
        } catch {
            target.abandon()
            throw error
        }
        guard switched == .written else {
            // A shared log took records from another instance since the last catch-up: the
            // caller catches up, copies them into the target and tries again.
            throw CofferError(
                .conflict, "Switching to the compacted log failed: another instance sharing the log wrote first.")
        }
        target.isCompleted = true
        // F-COMPACT: nothing is acknowledged on the new log before the switch is durable.
        writer?.stop(
            CofferError(
                .writerStopped, "The vault was compacted into a new file; reopen it to write through this handle."))
        try target.successor.makeSwitchDurable()
        let outcome = target.outcome
        return VaultStore(
            path: path, options: options, log: target.successor.device, masterKey: target.masterKey,
            unlockKey: target.unlockKey,
            header: {
                var header = target.header
                header.generation += 1
                return header
            }(), copyIndex: 1, outcome: outcome,
            chains: target.chains, counters: target.counters,
            recovery: Recovery(tornTail: nil, truncated: false, headerRepaired: false),
            unlockedSlot: unlockedSlot)
    }

    /// Copies into `target` every record acknowledged on this store after `head` (which ends
    /// at `offset`): the transactions writers committed while a compaction ran. A transaction
    /// keeps its epoch when the target carries it; a key-epoch record is carried unless the
    /// target re-encrypts.
    ///
    /// - Parameter visit: each copied transaction, with its sequence number and offset in the
    ///   new file.
    /// - Returns: the head and end of this store copied through.
    public func copyAcknowledged(
        after head: ChainHead, endingAt offset: UInt64, into target: CompactionTarget,
        visit: (ScannedRecord, _ sequence: UInt64, _ offset: UInt64) throws(CofferError) -> Void
    ) throws(CofferError) -> (head: ChainHead, end: UInt64) {
        let reencrypting = !target.retiredEpochs.isEmpty
        var end = offset
        let copied = try forEachRecord(after: head, endingAt: offset) { record throws(CofferError) in
            end = record.offset + UInt64(record.frameBytes)
            guard let payload = record.payload else { return }
            switch record.type {
            case .keyEpoch:
                // Epochs introduced while the compaction ran are carried; the ones carried at
                // its start are in the target already.
                guard !reencrypting, let epoch = KeyEpochPayload.decode(payload), epoch.epoch > target.newestEpoch
                else { return }
                try target.appendKeyEpoch(
                    epoch.epoch, createdMilliseconds: epoch.createdMilliseconds, dataKey: epoch.dataKey)
            case .transaction:
                let placed = try target.appendTransaction(payload, epoch: record.epoch)
                try visit(record, placed.sequence, placed.offset)
            }
        }
        return (copied, end)
    }
}
