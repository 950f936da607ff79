import Coffer
import CofferFormat
import CofferStorage

/// Decodes transaction records and rebuilds the index from them, for the commands that walk
/// the log themselves (`verify` with its progress bar, `inspect`, `log`).
///
/// It mirrors the engine's replay on open (`Replay` in `Vault.swift`): the same decoding and
/// the same error for a record that does not decode or breaks a rule of the model. The engine
/// does not yet hand its scan to a caller (see the engine additions in docs/cli.md); when it
/// does, this goes.
struct LogReplay {
    /// One decoded transaction.
    struct Transaction {
        let sequence: UInt64
        let offset: UInt64
        let epoch: UInt32
        let timeMilliseconds: UInt64
        let actor: String
        let operations: [ModelOperation]
    }

    private(set) var index = VaultIndex()

    /// Decodes a transaction record; `nil` for a key-epoch record.
    ///
    /// - Throws: `.corrupted` naming the record, as the engine does.
    static func decode(_ record: ScannedRecord) throws(CofferError) -> Transaction? {
        guard record.type == .transaction, let payload = record.payload else { return nil }
        guard let transaction = TransactionPayload.decode(payload) else {
            throw CofferError(.corrupted, "A transaction's payload is malformed.", offset: record.offset, sequence: record.sequence)
        }
        var operations: [ModelOperation] = []
        operations.reserveCapacity(transaction.operations.count)
        for operation in transaction.operations {
            switch ModelOperation.decode(operation) {
            case .success(let decoded): operations.append(decoded)
            case .failure(let error):
                throw CofferError(
                    .corrupted, "A transaction holds an operation that does not decode: \(error.message)",
                    offset: record.offset, sequence: record.sequence)
            }
        }
        return Transaction(
            sequence: record.sequence, offset: record.offset, epoch: record.epoch, timeMilliseconds: transaction.timeMilliseconds,
            actor: transaction.actor, operations: operations)
    }

    /// Applies one record to the index.
    ///
    /// - Throws: `.corrupted` when the record does not decode or breaks a rule of the model.
    mutating func apply(_ record: ScannedRecord) throws(CofferError) {
        guard let transaction = try Self.decode(record) else { return }
        try apply(transaction)
    }

    mutating func apply(_ transaction: Transaction) throws(CofferError) {
        let context = TransactionContext(
            sequence: transaction.sequence, offset: transaction.offset, timeMilliseconds: transaction.timeMilliseconds,
            actor: transaction.actor)
        do {
            try index.apply(transaction.operations, context: context)
        } catch {
            throw CofferError(
                .corrupted, "A transaction breaks a rule of the credential model: \(error.message)",
                offset: transaction.offset, sequence: transaction.sequence)
        }
    }
}
