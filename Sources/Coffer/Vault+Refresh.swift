import CofferCrypto
import CofferErrors
import CofferModel
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

extension Vault {
    /// How often a mutation is planned again after other instances sharing the log wrote
    /// first, before it fails with `.conflict`.
    static let conflictAttempts = 64

    /// Waits a random while after conflict number `attempt` (from 1), before catching up:
    /// writers that keep colliding spread out, as with Ethernet's backoff. Up to 0.2 ms after
    /// the first, growing to at most 6.4 ms.
    static func backOff(attempt: Int) {
        let ceiling = 100_000 << min(attempt, 6)
        sleep(nanoseconds: Int.random(in: ceiling / 2...ceiling))
    }

    static func sleep(nanoseconds: Int) {
        var interval = timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        _ = nanosleep(&interval, nil)
    }

    /// Brings the index up to date with the log: what other instances sharing a PostgreSQL
    /// log committed, or, for a read-only vault on a file, what its writer appended. Every
    /// record read is authenticated and applied in order, as open applies them; a log that
    /// another instance's compaction replaced is opened again.
    ///
    /// A writer on a shared log does this by itself when an append finds it behind; call it
    /// (or keep a follower calling it) so that reads see other instances' commits.
    ///
    /// - Returns: the head after the last record applied.
    /// - Throws: `.corrupted`, `.io`, `.closed`; `.wrongKey` when a replaced log no longer
    ///   opens with this vault's unlock key.
    @discardableResult
    public func refresh() throws(CofferError) -> ChainHead {
        try ReentryGuard.refuse("refresh", on: self)
        writerLock.lock()
        defer { writerLock.unlock() }
        try catchUpLocked()
        return store.head
    }

    /// Refreshes until the index has applied the record with sequence number `sequence`
    /// (from a ``ChainHead`` another instance acknowledged), waiting up to `timeout`: a read
    /// after it is at least as fresh as that commit.
    ///
    /// - Throws: `.conflict` when the log does not reach `sequence` in time (it was never
    ///   committed, or belongs to a log a compaction replaced); whatever `refresh()` throws.
    @discardableResult
    public func refresh(atLeast sequence: UInt64, timeout: Duration = .seconds(5)) throws(CofferError) -> ChainHead {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pause = Duration.milliseconds(1)
        while true {
            let head = try refresh()
            if head.sequence >= sequence { return head }
            guard clock.now < deadline else { throw Self.notReached(sequence, head: head) }
            let (seconds, attoseconds) = pause.components
            Self.sleep(nanoseconds: Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    static func notReached(_ sequence: UInt64, head: ChainHead) -> CofferError {
        CofferError(
            .conflict,
            "The vault's log reaches sequence \(head.sequence), not \(sequence), after waiting; that commit is not in this log.",
            sequence: sequence)
    }

    /// Applies what the log holds past this vault's head. Holds `writerLock`.
    func catchUpLocked() throws(CofferError) {
        // What this vault queued is not another writer's: let it land first.
        commits.drain()
        let store = self.store
        var transactions:
            [(
                sequence: UInt64, offset: UInt64,
                transaction: (timeMilliseconds: UInt64, actor: String, operations: [ModelOperation])
            )] = []
        do {
            try store.catchUp { record throws(CofferError) in
                if let transaction = try Replay.decode(record) {
                    transactions.append((record.sequence, record.offset, transaction))
                }
            }
        } catch  where error.code == .conflict {
            try reloadLocked()
            return
        }
        guard !transactions.isEmpty else { return }
        try state.write { (current: inout State) throws(CofferError) in
            for (sequence, offset, transaction) in transactions {
                let context = TransactionContext(
                    sequence: sequence, offset: offset, timeMilliseconds: transaction.timeMilliseconds,
                    actor: transaction.actor)
                do throws(CofferError) {
                    // With the undo journal: a transaction that fails leaves the index as it was.
                    try current.index.apply(transaction.operations, context: context)
                } catch {
                    throw Replay.breaksModel(error, offset: offset, sequence: sequence)
                }
                // The writers' view (group commit; nothing is queued now) must not lag behind.
                commits.applyCaughtUp(transaction.operations, context: context)
                observers.notify(
                    generation: current.store.head.generation, sequence: sequence,
                    timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor,
                    operations: transaction.operations)
            }
        }
    }

    /// Opens the log again after it was replaced and swaps in the new store and index.
    /// Holds `writerLock`.
    private func reloadLocked() throws(CofferError) {
        let old = store
        let pipeline = ReplayPipeline()
        let reopened: VaultStore
        do throws(CofferError) {
            reopened = try old.reopen(options: options.storeOptions) { record throws(CofferError) in
                try pipeline.submit(record)
            }
        } catch {
            pipeline.abandon()
            throw error
        }
        let index: VaultIndex
        do throws(CofferError) {
            index = try pipeline.finish()
        } catch {
            reopened.close()
            throw error
        }
        state.write { $0 = State(store: reopened, index: index) }
        commits.reset()
        old.close()
    }
}
