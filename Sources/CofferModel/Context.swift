/// Where an operation lives in the log: the record and the operation's position in it.
/// The engine supplies it when applying, and reads the record back to reveal secrets.
public struct RecordLocation: Sendable, Hashable, CustomStringConvertible {
    /// Sequence number of the transaction record.
    public var sequence: UInt64
    /// Byte offset of the record's frame in the vault file.
    public var offset: UInt64
    /// Position of the operation within the transaction, from 0.
    public var operationIndex: UInt16

    /// Creates a location.
    public init(sequence: UInt64, offset: UInt64, operationIndex: UInt16) {
        self.sequence = sequence
        self.offset = offset
        self.operationIndex = operationIndex
    }

    /// `sequence@offset#operationIndex`, e.g. `3@9728#0`.
    public var description: String { "\(sequence)@\(offset)#\(operationIndex)" }
}

/// The context of one transaction: its record and who committed it when.
public struct TransactionContext: Sendable, Hashable {
    /// Sequence number of the transaction record.
    public var sequence: UInt64
    /// Byte offset of the record's frame in the vault file.
    public var offset: UInt64
    /// Commit time in milliseconds since the Unix epoch.
    public var timeMilliseconds: UInt64
    /// Who made the change: a user handle or free text such as `cli`. Not a secret.
    public var actor: String

    /// Creates a context.
    public init(sequence: UInt64, offset: UInt64, timeMilliseconds: UInt64, actor: String) {
        self.sequence = sequence
        self.offset = offset
        self.timeMilliseconds = timeMilliseconds
        self.actor = actor
    }

    /// The location of the operation at `index` in this transaction: for the engine and its
    /// fuzzers, which never pass an index beyond a transaction's 65,536 operations (not public,
    /// so that no caller's number can reach the check).
    package func location(ofOperation index: Int) -> RecordLocation {
        precondition(index >= 0 && index <= Int(UInt16.max), "operation index out of range")
        return RecordLocation(sequence: sequence, offset: offset, operationIndex: UInt16(index))
    }
}

/// Who did something and when, as recorded in the index.
public struct ChangeStamp: Sendable, Hashable {
    /// Milliseconds since the Unix epoch.
    public var timeMilliseconds: UInt64
    /// The transaction's actor.
    public var actor: String

    /// Creates a stamp.
    public init(timeMilliseconds: UInt64, actor: String) {
        self.timeMilliseconds = timeMilliseconds
        self.actor = actor
    }
}
