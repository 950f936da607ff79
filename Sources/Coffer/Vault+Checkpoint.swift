import CofferErrors
import CofferModel
import CofferStorage

extension Vault {
    /// Writes an index checkpoint beside the vault (F-CHECKPOINT): the index as of the
    /// current head, sealed, so that the next open reads it and replays only the records
    /// after it instead of the whole log. It replaces the checkpoint there; a crash leaves the
    /// old one or the new one, each a valid starting point. Commits wait only while the index
    /// and the head are taken together, not while the checkpoint is encoded and written.
    ///
    /// ```swift
    /// let sequence = try vault.checkpoint()     // the next open starts after this record
    /// ```
    ///
    /// - Returns: the sequence number of the last record the checkpoint covers.
    /// In a shared store (FORMAT.md F-SHARED-CHECKPOINT) the checkpoint is kept for the log
    /// generation this instance reads; one that another instance kept covering as much or
    /// more stays, and none is kept when the log was compacted meanwhile.
    ///
    /// - Throws: `.invalidInput` on a read-only vault, or a shared store that keeps no
    ///   checkpoint; `.io`.
    @discardableResult
    public func checkpoint() throws(CofferError) -> UInt64 {
        guard !isReadOnly else {
            throw CofferError(.invalidInput, "The vault was opened read-only; open it for writing to checkpoint it.")
        }
        try ReentryGuard.refuse("checkpoint", on: self)
        // One at a time, and never beside a compaction: a compaction's switch removes the
        // replaced log's checkpoint, which one of that log written after it would bring back.
        checkpointLock.lock()
        defer { checkpointLock.unlock() }
        writerLock.lock()
        // Every durable transaction in the index, so that the index is as of the store's head.
        commits.drain()
        let (store, index) = state.read { ($0.store, $0.index) }
        let taken = store.checkpointState(through: store.head)
        writerLock.unlock()
        guard let taken else {
            throw CofferError(.invalidInput, "The vault's log holds no record to checkpoint after.")
        }
        try store.writeCheckpoint(taken, index: index.checkpointEncoding())
        checkpoints.noteCovered(taken.sequence)
        diagnostics.logger?.info(
            "Wrote an index checkpoint", metadata: ["path": "\(store.path)", "sequence": "\(taken.sequence)"])
        return taken.sequence
    }
}

/// When a writer writes an index checkpoint by itself (F-CHECKPOINT-WRITE): after a commit,
/// once the log has gained enough records since the last checkpoint, on a thread of its own,
/// so that the commit that triggered it returns at once. One runs at a time per vault, and
/// only the writer holding the lock runs any, so one process at a time.
///
/// Both thresholds must hold: `recordsAtLeast` records since the last checkpoint (or since
/// the log started, when there is none), and `growthAtLeast` times the records it covers. The
/// second makes the checkpoints of a growing log geometric: writing them all costs a small
/// multiple of writing the last, however the log grew. By default 10,000 records and half as
/// many again: a vault of a million records replays at most about a third of its log on open.
public struct AutomaticCheckpoint: Sendable {
    /// Records the log must have gained since the last checkpoint; 10,000 by default.
    public var recordsAtLeast: UInt64
    /// And at least this share of the records the last checkpoint covers; 0.5 by default.
    public var growthAtLeast: Double

    public init(recordsAtLeast: UInt64 = 10_000, growthAtLeast: Double = 0.5) {
        self.recordsAtLeast = recordsAtLeast
        self.growthAtLeast = growthAtLeast
    }

    /// Whether a log whose head is `head` is due a checkpoint, the last covering `covered`.
    func isDue(head: UInt64, covered: UInt64) -> Bool {
        guard head > covered else { return false }
        let gained = head - covered
        return gained >= recordsAtLeast && Double(gained) >= growthAtLeast * Double(covered)
    }
}

/// The automatic checkpoints of one vault: the record the last one covers, and the one
/// running, which closing waits for.
final class CheckpointRunner: @unchecked Sendable {
    private let lock = Lock()
    private var covered: UInt64 = 0
    private var running = false
    private var closed = false

    /// The open resumed from a checkpoint covering `sequence`, or a checkpoint was written
    /// (after a compaction, of the new log, whose sequence numbers start again).
    func noteCovered(_ sequence: UInt64) {
        lock.withLock { covered = sequence }
    }

    /// Whether `isDue` says so of the last covered record and none runs; if so, marks one as
    /// running, and the caller must ``start(_:)`` it (until then `close()` would wait). Asked
    /// after every commit, so it takes no closure that escapes, which would be allocated each
    /// time.
    func claimIfDue(_ isDue: (UInt64) -> Bool) -> Bool {
        lock.withLock { () -> Bool in
            guard !running, !closed, isDue(covered) else { return false }
            running = true
            return true
        }
    }

    /// Runs `work` on a thread of its own, after ``claimIfDue(_:)`` answered true; `work`
    /// returns the record it covered, or `nil` when it failed.
    func start(_ work: @escaping @Sendable () -> UInt64?) {
        precondition(lock.withLock { running }, "a checkpoint started without being claimed")
        // Not on Dispatch's global queues: on Linux those threads run Swift's tasks.
        BlockingThreads.shared.run {
            let result = work()
            self.lock.withLock {
                // A failed one is not retried on every commit: the next try waits for as much
                // growth again.
                if let result { self.covered = result }
                self.running = false
                self.lock.broadcast()
            }
        }
    }

    /// Starts no more, and waits for the one running.
    func close() {
        lock.withLock {
            closed = true
            while running { lock.wait() }
        }
    }
}

extension Vault {
    /// Runs the automatic-checkpoint policy after a commit; see ``AutomaticCheckpoint``. Its
    /// failures are not the commit's: they are logged, and the next one is tried after as
    /// much growth again.
    func checkpointIfDue() {
        guard let policy = options.automaticCheckpoint, !isReadOnly else { return }
        let head = store.head.sequence
        guard checkpoints.claimIfDue({ policy.isDue(head: head, covered: $0) }) else { return }
        checkpoints.start { [self] in
            do throws(CofferError) {
                return try checkpoint()
            } catch {
                diagnostics.logger?.warning(
                    "An automatic index checkpoint failed", metadata: ["code": "\(error.code.word)"])
                return head
            }
        }
    }
}
