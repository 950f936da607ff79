import CofferCrypto
import CofferErrors

/// The in-memory index of a vault's model, rebuilt by replaying every transaction and kept
/// current by applying each new one. It holds no secret values: only metadata, masked
/// previews, non-secret field values, and for every retained version the location of the
/// operation that holds its secrets.
///
/// It is a value: a copy is a snapshot, and the engine guards the one it mutates with a
/// reader-writer lock. Mutating a copy that shares storage with another copies the tables,
/// so apply to an index nobody else holds a copy of.
///
/// ```swift
/// var index = VaultIndex()
/// for record in log { try index.apply(record.operations, context: record.context) }
/// let resolution = index.resolve(ResolutionRequest(appKey: "exa", context: run))
/// ```
public struct VaultIndex: Sendable {
    /// Versions kept readable per credential unless the vault says otherwise.
    public static let versionRetentionDefault: UInt16 = 10
    /// Largest retention a vault may set.
    public static let versionRetentionMax: UInt16 = 1000
    /// Most operations in one transaction: their positions are `u16`.
    public static let operationsPerTransactionMax = Int(UInt16.max) + 1
    /// Largest sequence number and offset of a ``TransactionContext``: 2⁴⁸ − 1, which no log
    /// reaches (the index keeps 48 bits of each per history entry).
    public static let locationMax = HistoryEntry.locationMax

    var tables = IndexTables()

    /// Creates an empty index, the state before the first transaction.
    public init() {}

    /// Applies one transaction: every operation in order, each checked against the state the
    /// previous ones left (OP-TXN-1).
    ///
    /// - Parameters:
    ///   - operations: the transaction's operations; operation `i` is at
    ///     `context.location(ofOperation: i)`.
    ///   - context: the transaction's record, time and actor.
    /// - Throws: the first rule an operation breaks (`.invalidInput`, `.notFound`,
    ///   `.alreadyExists`). Then nothing is applied: the index is as before the call.
    public mutating func apply(_ operations: [ModelOperation], context: TransactionContext) throws(CofferError) {
        try run(operations, context: context, mode: .apply)
    }

    /// Checks a transaction exactly as ``apply(_:context:)`` would, and leaves the index
    /// unchanged. The engine calls it before sealing and writing a transaction.
    ///
    /// - Throws: what ``apply(_:context:)`` would throw.
    public mutating func validate(_ operations: [ModelOperation], context: TransactionContext) throws(CofferError) {
        try run(operations, context: context, mode: .validate)
    }

    /// Applies a transaction that ``validate(_:context:)`` (or ``apply(_:context:)`` on an
    /// index in the same state) accepted: the engine's apply once the record is durable. The
    /// field values were checked then and no rule can fail now, so neither the field checks
    /// nor an undo journal are repeated; a failure is a broken invariant.
    public mutating func applyValidated(_ operations: [ModelOperation], context: TransactionContext) {
        do {
            try run(operations, context: context, mode: .replay)
        } catch {
            preconditionFailure("a validated transaction failed to apply: \(error.code)")
        }
    }

    /// Applies a transaction read back from an authenticated record of the log, as open does.
    ///
    /// Every rule is enforced as by ``apply(_:context:)`` except the field-value rules
    /// (OPS-FIELD-*): the writer checked those before it sealed the record, and only a holder
    /// of the vault's keys can seal one; `verify` applies with every check. No undo journal
    /// is kept, which is what makes this faster than `apply`.
    ///
    /// - Throws: what ``apply(_:context:)`` would throw; the index is then left part-way
    ///   through the transaction and must be discarded.
    public mutating func replay(_ operations: [ModelOperation], context: TransactionContext) throws(CofferError) {
        try run(operations, context: context, mode: .replay)
    }

    private enum RunMode {
        /// Keep the changes; undo them all if one operation fails.
        case apply
        /// Undo the changes whether or not every operation succeeds.
        case validate
        /// Keep the changes, trust field values, keep no journal (``replay(_:context:)``).
        case replay
    }

    /// Throws unless `actor` may name who made a transaction (OPS-TEXT-ACTOR: at most 200
    /// bytes, no control characters): a caller checks it before a change is planned and sealed.
    public static func checkActor(_ actor: String) throws(CofferError) {
        try Names.checkActor(actor)
    }

    private mutating func run(
        _ operations: [ModelOperation], context: TransactionContext, mode: RunMode
    ) throws(CofferError) {
        // OP-TXN-2
        guard operations.count <= Self.operationsPerTransactionMax else {
            throw CofferError(
                .invalidInput,
                "A transaction holds at most \(Self.operationsPerTransactionMax) operations. Split the change.")
        }
        try Self.checkActor(context.actor)
        guard context.sequence <= Self.locationMax, context.offset <= Self.locationMax else {
            throw CofferError(
                .invalidInput, "A transaction's sequence number and offset are at most 2^48 - 1, which no log reaches.")
        }
        // Move the tables out so the mutation owns their storage uniquely: writes happen in
        // place, and the undo journal restores them on failure.
        var mutation = IndexMutation(
            tables: IndexTables(), journals: mode != .replay, checksFieldValues: mode != .replay)
        swap(&mutation.tables, &tables)
        do throws(CofferError) {
            let actor = mutation.intern(context.actor)
            if context.timeMilliseconds > mutation.tables.newestTransactionTime {
                mutation.set(\.newestTransactionTime, context.timeMilliseconds)
            }
            for (index, operation) in operations.enumerated() {
                try mutation.apply(
                    operation, location: context.location(ofOperation: index), time: context.timeMilliseconds,
                    actor: actor)
            }
        } catch {
            if mode != .replay { mutation.rollBack() }
            swap(&mutation.tables, &tables)
            throw error
        }
        if mode == .validate { mutation.rollBack() }
        swap(&mutation.tables, &tables)
        // Past the undo journal's reach: texts may move now.
        if mode != .validate { tables.reclaimTextWaste() }
    }

    /// How many versions of each credential keep their values readable.
    public var versionRetention: Int { Int(tables.versionRetention) }
}
