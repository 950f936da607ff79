import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

/// The state of one key epoch.
public enum EpochState: String, Sendable {
    /// New records are sealed under it.
    case current
    /// Its key is in the file; records sealed under it are readable.
    case active
    /// A re-encrypting compaction removed its key from the file; no record is under it.
    case retired
}

/// Facts about a vault's file and keys, never a secret (`coffer inspect`).
public struct StorageStatistics: Sendable {
    /// One key epoch: its number, its state, and the records sealed under it.
    public struct Epoch: Sendable {
        /// The epoch's number, from 1 up (F-REC-KEY).
        public var id: UInt32
        /// Whether new records are sealed under it, its key is in the file, or it was retired.
        public var state: EpochState
        /// Records of the file holding a retained credential version sealed under this epoch.
        public var liveRecords: Int
        /// Transaction records of the file sealed under this epoch.
        public var records: Int
    }

    /// Bytes of the file through its last record, header copies included (free space after
    /// it, F-FREE, not counted), when the measure began.
    public var fileBytes: UInt64
    /// Bytes of the log (the file less its two header copies).
    public var logBytes: UInt64
    /// What a compaction would write now for the log: the live state, sealed and padded.
    public var liveBytes: UInt64
    /// Bytes of the log a compaction would reclaim now: `logBytes` less `liveBytes`, or 0 when the
    /// live state would take as much room or more.
    public var deadBytes: UInt64 { logBytes > liveBytes ? logBytes - liveBytes : 0 }
    /// Dead bytes as a share of the log, 0 to 1.
    public var deadShare: Double { logBytes == 0 ? 0 : Double(deadBytes) / Double(logBytes) }
    /// How many records of each type the log holds; a type it holds none of may be missing.
    public var recordsByType: [RecordType: UInt64]
    /// Bytes of the log's records by type, whole frames (header, sealed and padded body); a type the
    /// log holds none of may be missing.
    public var bytesByType: [RecordType: UInt64]
    /// Every key epoch in increasing order: the retired ones (numbered below the file's first
    /// epoch), then those whose keys are in the file.
    public var epochs: [Epoch]
    /// The header's keyslots, one per passphrase or key file that unlocks the vault; they hold
    /// wrapped keys and salts, no secret.
    public var keyslots: [Keyslot]
    /// The chain head when the measure began: the sizes and record counts are as of it, without the
    /// transactions committed while it ran.
    public var head: ChainHead
}

extension Vault {
    /// Measures the vault: sizes, live and dead bytes, records by type, epochs with their
    /// live records and states, keyslots, head. Live bytes come from a dry run of compaction
    /// (every retained version is read and authenticated, nothing is written), so this costs
    /// about as much as reading the live data once.
    ///
    /// - Parameter progress: called after each record of the dry run with the live operations
    ///   measured so far and about how many there are.
    public func statistics(progress: ((_ operations: UInt64, _ total: UInt64) -> Void)? = nil) throws(CofferError)
        -> StorageStatistics
    {
        let (store, snapshot) = state.read { ($0.store, $0.index) }
        // Taken first, together: writers that commit during the dry run are not counted.
        let head = store.head
        let counts = store.logCounts
        let fileBytes = store.logEnd
        let carriedEpochs = store.keyEpochs.count
        var liveBytes: UInt64 = 0
        var liveRecordEpochs: [UInt64: UInt32] = [:]
        let cache = RecordCache(store: store)
        let total = UInt64(snapshot.compactionEstimate.liveOperations)
        var measured: UInt64 = 0
        let reader: OperationReader = { location throws(CofferError) in
            let operation = try cache.operation(at: location)
            liveRecordEpochs[location.sequence] = cache.epoch
            return operation
        }
        try snapshot.compactionTransactions(reader: reader) { transaction throws(CofferError) in
            guard
                let payload = TransactionPayload(
                    timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor,
                    operations: transaction.operations.map { $0.encode() }
                ).encode(), let frameBytes = SealedRecord.frameBytes(storedPayloadBytes: payload.count)
            else { return }
            liveBytes += UInt64(frameBytes)
            measured += UInt64(transaction.operations.count)
            progress?(measured, max(total, measured))
        }
        // A compaction also writes one key-epoch record per epoch it carries.
        let keyRecordBytes = SealedRecord.frameBytes(storedPayloadBytes: KeyEpochPayload.encodedBytes)!
        liveBytes += UInt64(carriedEpochs * keyRecordBytes)
        let carried = store.keyEpochs.map(\.epoch)
        let current = store.currentEpoch
        // Epochs below the first one the file carries were retired by a re-encrypting
        // compaction (F-COMPACT): their numbers are known, their keys are gone.
        let retired: [UInt32] = carried.first.map { first in first > 1 ? Array(1..<first) : [] } ?? []
        var liveByEpoch: [UInt32: Int] = [:]
        for epoch in liveRecordEpochs.values { liveByEpoch[epoch, default: 0] += 1 }
        let epochs =
            retired.map { StorageStatistics.Epoch(id: $0, state: .retired, liveRecords: 0, records: 0) }
            + carried.map { epoch in
                StorageStatistics.Epoch(
                    id: epoch, state: epoch == current ? .current : .active,
                    liveRecords: liveByEpoch[epoch, default: 0],
                    records: Int(counts.transactionsByEpoch[epoch, default: 0]))
            }
        return StorageStatistics(
            fileBytes: fileBytes, logBytes: fileBytes - FormatConstants.logStartOffset, liveBytes: liveBytes,
            recordsByType: counts.recordsByType, bytesByType: counts.bytesByType, epochs: epochs,
            keyslots: store.keyslots,
            head: head)
    }
}
