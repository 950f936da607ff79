import CofferErrors
import CofferModel
import CofferStorage

/// Group commit in the engine: transactions that are in the log's queue but not yet durable,
/// and the writers' view of the index that includes them.
///
/// The leader of a batch of mutations (``CommitQueue``) plans and validates each under the
/// writer lock against every transaction queued before it, queues its record
/// (``VaultStore/enqueue(_:)``) and releases the lock; it then waits for the sync the batch
/// shares with others and publishes. Readers see a transaction only once it is durable, and in
/// log order: whichever leader is acknowledged first applies every durable transaction before
/// its own to the readers' index.
///
/// While nothing is queued the writers' view is the readers' index. The first mutation that
/// finds another one queued copies the readers' index and applies the queued transactions to
/// the copy; from then on every queued transaction is applied to both, and the copy is kept
/// until a compaction replaces the index. A vault that never has two mutations in flight
/// never makes it.
final class CommitPipeline: @unchecked Sendable {
    /// A transaction in the log's queue, not yet in the readers' index.
    struct Entry {
        let operations: [ModelOperation]
        let context: TransactionContext
    }

    /// Guards `queued` and `broken`; taken inside the state lock, never around it.
    private let lock = Lock()
    /// In log order.
    private var queued: [Entry] = []
    /// A queued transaction failed: the writers' view is ahead of what the log will hold.
    private var broken = false
    /// The newest sequence number applied to the readers' index by ``publish(through:to:)``
    /// since the index was last replaced.
    private var publishedSequence: UInt64 = 0
    /// The writers' view, when it is not the readers' index. Guarded by the vault's writer lock.
    private var writersIndex: VaultIndex?

    /// Whether the next transaction is planned and validated against the writers' view
    /// rather than the readers' index. Call under the writer lock: makes the view when a
    /// transaction is queued and there is none yet, and drops it after a failure.
    ///
    /// - Parameter readersIndex: the readers' index and ``queuedEntries()``, read together
    ///   inside the state lock.
    func prepare(readersIndex: () -> (VaultIndex, [Entry])) -> Bool {
        if lock.withLock({ broken }) {
            writersIndex = nil
            drain()
            lock.withLock { broken = false }
            return false
        }
        if writersIndex == nil, lock.withLock({ !queued.isEmpty }) {
            var (index, entries) = readersIndex()
            for entry in entries { Self.apply(entry, to: &index) }
            writersIndex = index
        }
        return writersIndex != nil
    }

    /// Runs `body` over the writers' view. Call under the writer lock, after
    /// ``prepare(readersIndex:)`` returned `true`; keep no copy of the index past `body`.
    func read<Result, Failure: Error>(_ body: (borrowing VaultIndex) throws(Failure) -> Result) throws(Failure)
        -> Result
    {
        try body(writersIndex!)
    }

    /// The readers' index with the queued transactions it does not have yet, consistently:
    /// call inside the state lock, which publishing holds.
    func queuedEntries() -> [Entry] { lock.withLock { queued } }

    /// Applies a transaction to the writers' view, which validates it: a transaction that
    /// does not apply changes nothing and throws. Call under the writer lock, after
    /// ``prepare(readersIndex:)`` returned `true`; then ``add(_:)`` it once its record is
    /// queued, or ``abandonView()`` if it is not.
    func applyToView(_ operations: [ModelOperation], context: TransactionContext) throws(CofferError) {
        try writersIndex!.apply(operations, context: context)
    }

    /// Applies to the writers' view, if there is one, a transaction another instance
    /// committed, which the readers' index has just applied: with nothing queued the view is
    /// the readers' index, and stays so. Call under the writer lock, drained.
    func applyCaughtUp(_ operations: [ModelOperation], context: TransactionContext) {
        guard writersIndex != nil else { return }
        // After a failed append the view still holds what never landed: drop it (the next
        // mutation makes it again) rather than apply another writer's transaction on top.
        guard !lock.withLock({ broken }) else {
            writersIndex = nil
            return
        }
        precondition(lock.withLock { queued.isEmpty }, "caught up with other writers while transactions were queued")
        writersIndex!.applyValidated(operations, context: context)
    }

    /// Drops the writers' view after a transaction applied to it did not reach the log's
    /// queue; the next mutation builds it again from the readers' index and the queue.
    func abandonView() {
        writersIndex = nil
    }

    /// Adds a transaction whose record is queued: validated against the readers' index, or
    /// applied to the writers' view already. Call under the writer lock.
    func add(_ entry: Entry) {
        lock.withLock { queued.append(entry) }
    }

    /// Applies to `index` every queued transaction up to and including `sequence`, which is
    /// durable, in order. Call inside the state lock, for writing.
    func publish(through sequence: UInt64, to index: inout VaultIndex, published: (Entry) -> Void = { _ in }) {
        lock.withLock {
            var count = 0
            while count < queued.count, queued[count].context.sequence <= sequence {
                Self.apply(queued[count], to: &index)
                published(queued[count])
                count += 1
            }
            if count > 0 { publishedSequence = queued[count - 1].context.sequence }
            queued.removeFirst(count)
            if queued.isEmpty { lock.broadcast() }
        }
    }

    /// Whether the transaction at `sequence` is in the readers' index already: the writer
    /// acknowledged first publishes every one durable with it, so the others need not take
    /// the state lock.
    func isPublished(_ sequence: UInt64) -> Bool {
        lock.withLock { publishedSequence >= sequence }
    }

    /// Forgets the transaction at `sequence`, whose record failed to reach the log, and
    /// marks the writers' view as ahead of the log.
    func fail(sequence: UInt64) {
        lock.withLock {
            queued.removeAll { $0.context.sequence == sequence }
            broken = true
            if queued.isEmpty { lock.broadcast() }
        }
    }

    /// Waits until every queued transaction is published or failed. Call under the writer
    /// lock, so that nothing more is queued meanwhile.
    func drain() {
        lock.withLock {
            while !queued.isEmpty { lock.wait() }
        }
    }

    /// Drops the writers' view, for a new index (a compaction's switch). Call under the
    /// writer lock, drained.
    func reset() {
        writersIndex = nil
        lock.withLock {
            broken = false
            publishedSequence = 0
        }
    }

    /// Every queued transaction was validated against the state before it.
    private static func apply(_ entry: Entry, to index: inout VaultIndex) {
        index.applyValidated(entry.operations, context: entry.context)
    }
}
