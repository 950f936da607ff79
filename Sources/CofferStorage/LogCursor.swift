import CofferCrypto
import CofferErrors
import CofferFormat

/// One record as it was sealed and placed: where it is, under which epoch, its type and
/// size, and the chain hash before it (F-CHAIN).
public struct PlacedRecord: Sendable {
    /// Its sequence number.
    public let sequence: UInt64
    /// The offset of its frame in the log.
    public let offset: UInt64
    /// The epoch whose key sealed it; for a key-epoch record, the epoch it introduces.
    public let epoch: UInt32
    /// Its record type.
    public let type: RecordType
    /// The bytes of its whole frame.
    public let frameBytes: Int
    /// The chain hash before it.
    let previousChain: [UInt8]
}

/// The end of a log and how the next record is sealed there (F-APPEND, F-CHAIN): the head,
/// the byte after the last frame, and the epoch new transactions are sealed under with its
/// data key. Sealing a record moves the cursor past it.
///
/// The one place records are sealed and the log position advanced: the writer's appends
/// (``LogWriter``), a compaction's new file (``CompactionTarget``) and a new vault's first
/// key epoch.
struct LogCursor {
    let vaultID: [UInt8]
    /// The head after the last record.
    var head: ChainHead
    /// The byte after the last frame: where the next one goes.
    var end: UInt64
    /// The epoch new transactions are sealed under, and its data key.
    var epoch: UInt32
    var epochKey: SecureBytes

    /// Seals `payload` as the next transaction, under the current epoch.
    ///
    /// - Throws: `.invalidInput` for a payload larger than the format allows; the cursor
    ///   has not moved then.
    mutating func sealTransaction(_ payload: SecureBytes) throws(CofferError) -> (record: PlacedRecord, frame: [UInt8])
    {
        try seal(payload, type: .transaction, epoch: epoch, key: epochKey)
    }

    /// Seals `payload` as the next transaction under `epoch`, whose data key is `key`: a
    /// compaction copies records under the epochs it carries.
    mutating func sealTransaction(_ payload: SecureBytes, epoch: UInt32, key: SecureBytes) throws(CofferError)
        -> (record: PlacedRecord, frame: [UInt8])
    {
        try seal(payload, type: .transaction, epoch: epoch, key: key)
    }

    /// Seals the next record as a key epoch introducing `epoch` with `dataKey`, under the
    /// key-record subkey (F-REC-KEY), and makes it the epoch transactions are sealed under.
    mutating func sealKeyEpoch(
        _ epoch: UInt32, dataKey: SecureBytes, createdMilliseconds: UInt64, keyRecordKey: SecureBytes
    ) throws(CofferError) -> (record: PlacedRecord, frame: [UInt8]) {
        let payload = KeyEpochPayload(epoch: epoch, dataKey: dataKey, createdMilliseconds: createdMilliseconds).encode()
        let sealed = try seal(payload, type: .keyEpoch, epoch: epoch, key: keyRecordKey)
        self.epoch = epoch
        self.epochKey = dataKey
        return sealed
    }

    private mutating func seal(_ payload: SecureBytes, type: RecordType, epoch: UInt32, key: SecureBytes)
        throws(CofferError) -> (record: PlacedRecord, frame: [UInt8])
    {
        let sequence = head.sequence + 1
        let position = RecordPosition(
            vaultID: vaultID, sequence: sequence, type: type, epoch: epoch, previousChain: head.digest)
        guard let frame = payload.withUnsafeBytes({ SealedRecord.seal(payload: $0, at: position, key: key) }) else {
            throw CofferError(
                .invalidInput,
                "A record is larger than the format's maximum of \(FormatConstants.payloadBytesMax) bytes.")
        }
        let placed = PlacedRecord(
            sequence: sequence, offset: end, epoch: epoch, type: type, frameBytes: frame.count,
            previousChain: head.digest)
        head = ChainHead(
            sequence: sequence, digest: frame.withUnsafeBytes { ChainHash.next(previous: head.digest, frame: $0) },
            generation: head.generation)
        end += UInt64(frame.count)
        return (placed, frame)
    }
}
