import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

/// One record of a vault's log, decoded: what `coffer log` shows. Holds operations, which may
/// carry secret values in `SecureBytes`; their descriptions never print them.
public struct LoggedRecord: Sendable {
    /// The record's sequence number in the log: 1 for the first frame, one more for each next (F-SEQ).
    public var sequence: UInt64
    /// Byte offset of the record's frame from the start of the file; the first frame is at 8192,
    /// after the two header copies.
    public var offset: UInt64
    /// The key epoch in the frame's header: for a transaction, the epoch whose data key sealed it;
    /// for a key-epoch record, the epoch it introduces (F-REC-KEY).
    public var epoch: UInt32
    /// Whether the record introduces a key epoch or holds a transaction.
    public var type: RecordType
    /// Commit time and actor of a transaction; `nil` for a key-epoch record.
    public var timeMilliseconds: UInt64?
    /// Who made the change, as the transaction records it; `nil` for a key-epoch record.
    public var actor: String?
    /// The transaction's operations, in the order it applies them; empty for a key-epoch record.
    public var operations: [ModelOperation]
}

extension Vault {
    /// Reads the log of the vault at `path` without opening it for writing, handing every
    /// record to `visit`, decoded and authenticated, in order. Never modifies the file; works
    /// beside a writer.
    ///
    /// With `expectedHead` or `headWitness` the log is held to them as an open holds it; records
    /// are handed on as they are read, so a caller keeps them only once this returns.
    ///
    /// - Returns: what the read-only open found (a torn tail, reported, not cut).
    /// - Throws: what opening read-only throws; `.corrupted` for a record that does not decode.
    @discardableResult
    public static func history(
        path: String, unlock: Unlock, storage: any LogMedium = PosixStorage(), expectedHead: ChainHead? = nil,
        headWitness: (any HeadWitness)? = nil, _ visit: (LoggedRecord) throws(CofferError) -> Void
    ) throws(CofferError) -> VaultStore.Recovery {
        let options = VaultStore.Options(
            storage: storage, readOnly: true, expectedHead: expectedHead, witnessedHead: try headWitness?.read())
        let store = try VaultStore.open(path: path, secret: unlock, options: options) {
            record throws(CofferError) in
            if let transaction = try Replay.decode(record) {
                try visit(
                    LoggedRecord(
                        sequence: record.sequence, offset: record.offset, epoch: record.epoch, type: record.type,
                        timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor,
                        operations: transaction.operations))
            } else {
                try visit(
                    LoggedRecord(
                        sequence: record.sequence, offset: record.offset, epoch: record.epoch, type: record.type,
                        timeMilliseconds: nil, actor: nil, operations: []))
            }
        }
        store.close()
        return store.recovery
    }
}

extension Vault {
    /// The members of a `custom` credential's object that a change set, added or removed, as
    /// its version's record lists them (OPS-FIELD-CUSTOM, OP-CRED-VERSION-1); empty when the
    /// change is not a member edit, lists none, or its record is no longer in the log as
    /// written (a compaction keeps the field names only).
    ///
    /// ```swift
    /// for change in vault.read({ $0.history(of: id) }) {
    ///     print(change.version, change.changedFields, vault.changedMembers(of: change))
    /// }
    /// ```
    public func changedMembers(of change: CredentialChange) -> [String] {
        guard change.kind == .fieldsUpdated || change.kind == .rotated,
            let operation = try? readOperation(at: change.location),
            case .success(.setCredentialFields(let fields)) = ModelOperation.decode(operation)
        else { return [] }
        return fields.changedMembers
    }
}
