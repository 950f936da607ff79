import CofferCrypto
import CofferErrors
import CofferFormat
import Synchronization

/// How a commit reaches the disk.
public enum Durability: Sendable, Equatable {
    /// A commit returns only after its bytes are on stable storage (fdatasync). The default.
    case synchronous
    /// UNSAFE: no sync at all; a crash may lose any number of recent commits. For bulk loads
    /// that are redone from scratch after a crash, never for data that matters.
    case unsafeNoSync
}

/// A record waiting to be sealed and appended.
public enum PendingRecord: Sendable {
    /// A transaction payload, sealed under the current epoch's data key.
    case transaction(SecureBytes)
    /// A new key epoch with this data key; later transactions are sealed under it.
    case keyEpoch(dataKey: SecureBytes)

    var type: RecordType {
        switch self {
        case .transaction: .transaction
        case .keyEpoch: .keyEpoch
        }
    }
}

/// What an append produced: where each record landed and the head after it.
public struct AppendReceipt: Sendable {
    /// Its records, in order.
    public let records: [PlacedRecord]
    /// The chain head after the last record of this append.
    public let head: ChainHead
}

/// An append that is sealed and placed but not yet acknowledged: wait for it with
/// ``LogWriter/wait(for:)`` (``VaultStore/waitUntilDurable(_:)``).
public struct QueuedAppend: Sendable {
    let ticket: UInt64
    /// Where its records will be once durable.
    public let receipt: AppendReceipt
}

/// Appends sealed records to the log with group commit (F-APPEND).
///
/// An append is sealed and placed at once, in the order of the calls, at the position after
/// every earlier append (``enqueue(_:)``), so its caller knows where it will be before it is
/// durable. Waiting for it (``wait(for:)``), the first waiter becomes the leader: it writes
/// every queued frame with one write and one fdatasync and wakes the others; appends queued
/// while it syncs go with the next leader. ``append(_:)`` is the two in one.
///
/// A failed write or sync stops the writer: nothing further is acknowledged, the error is
/// surfaced to every waiting and later caller, and the file is left for recovery to judge
/// (what was written may or may not be durable; the next open decides from the bytes). On a
/// shared log, a conflict fails every queued append (their sequence numbers are another
/// instance's now) and the queue starts again from the last acknowledged position.
final class LogWriter: @unchecked Sendable {
    private struct Queued {
        let ticket: UInt64
        let receipt: AppendReceipt
        let frames: FrameBatch
        /// The end of the log after it.
        let after: LogCursor
    }

    private struct State {
        /// Sealed and placed, not yet taken by a leader.
        var queue: [Queued] = []
        var leaderActive = false
        var nextTicket: UInt64 = 0
        /// Tickets at or below this one are settled: acknowledged, or failed in `failures`.
        var settledThrough: UInt64 = 0
        var failures: [UInt64: CofferError] = [:]
        var stopped: CofferError?
        /// After the last acknowledged append.
        var durable: LogCursor
        /// After the last queued append: where the next one goes.
        var tail: LogCursor
    }

    private let log: any LogDevice
    private let keyRecordKey: SecureBytes
    /// Whether each write is synced (`Durability.synchronous`); changed by ``setDurability(_:)``.
    private let syncsWrites: Atomic<Bool>
    private let chains: ChainTable
    private let counters: LogCounters
    private let lock = Lock()
    private var state: State
    /// How a caller waits for the active leader's write and sync to end.
    private let syncWaitSpin: SyncWaitSpin
    /// How many leads have ended: read without the lock by a caller that spins while one is
    /// active, which `lock` alone would make it sleep for.
    private let leadsEnded = Atomic<UInt64>(0)

    init(
        log: any LogDevice, vaultID: [UInt8], keyRecordKey: SecureBytes, durability: Durability,
        chains: ChainTable, counters: LogCounters, end: UInt64, head: ChainHead, epoch: UInt32, epochKey: SecureBytes,
        syncWaitSpin: SyncWaitSpin
    ) {
        self.log = log
        self.syncWaitSpin = syncWaitSpin
        self.chains = chains
        self.counters = counters
        self.keyRecordKey = keyRecordKey
        self.syncsWrites = Atomic(durability == .synchronous)
        let cursor = LogCursor(vaultID: vaultID, head: head, end: end, epoch: epoch, epochKey: epochKey)
        self.state = State(durable: cursor, tail: cursor)
    }

    /// The head after the last acknowledged append.
    var head: ChainHead { lock.withLock { state.durable.head } }
    /// The end of the log after the last acknowledged append.
    var end: UInt64 { lock.withLock { state.durable.end } }
    /// The head after the last queued append: the next record's sequence number follows it.
    var queuedHead: ChainHead { lock.withLock { state.tail.head } }
    /// The end of the log after the last queued append: where the next record goes.
    var queuedEnd: UInt64 { lock.withLock { state.tail.end } }
    /// The epoch new transactions are sealed under.
    var currentEpoch: UInt32 { lock.withLock { state.tail.epoch } }
    /// Why the writer stopped, if it did.
    var stoppedError: CofferError? { lock.withLock { state.stopped } }

    /// Moves the log position past records another instance appended to a shared log, which
    /// this writer has just read and authenticated. The caller holds off every append while
    /// it catches up (the engine's writer lock).
    func advance(end: UInt64, head: ChainHead, epoch: UInt32, epochKey: SecureBytes) {
        lock.withLock {
            precondition(!state.leaderActive && state.queue.isEmpty, "catching up while an append is in flight")
            precondition(
                head.sequence >= state.durable.head.sequence && end >= state.durable.end,
                "a catch-up never goes backwards")
            state.durable.head = head
            state.durable.end = end
            state.durable.epoch = epoch
            state.durable.epochKey = epochKey
            state.tail = state.durable
        }
    }

    /// Stops the writer, e.g. because the vault is closing.
    func stop(_ error: CofferError) {
        lock.withLock {
            if state.stopped == nil { state.stopped = error }
        }
    }

    /// Stops the writer and waits until its write and sync in flight, if any, has ended: from
    /// then on it does not touch the log device, which may then be closed (a descriptor closed
    /// under a write could be reused by another file before the write reaches it).
    func stopAndDrain(_ error: CofferError) {
        lock.lock()
        defer { lock.unlock() }
        if state.stopped == nil { state.stopped = error }
        while state.leaderActive { lock.wait() }
    }

    /// Seals and durably appends `records` as consecutive frames. Returns once they are
    /// durable (or written, under `.unsafeNoSync`).
    ///
    /// - Throws: `.writerStopped` after an earlier failure, `.io` for this batch's failure,
    ///   `.invalidInput` for a payload larger than the format allows, `.conflict` on a
    ///   shared log another instance wrote first.
    func append(_ records: [PendingRecord]) throws(CofferError) -> AppendReceipt {
        try wait(for: enqueue(records))
    }

    /// Seals `records` and places them after every append queued before, without writing
    /// them: the receipt says where they will be. Calls are placed in the order they are made.
    ///
    /// - Throws: `.writerStopped` after an earlier failure; `.invalidInput` for a payload
    ///   larger than the format allows (nothing is queued).
    func enqueue(_ records: [PendingRecord]) throws(CofferError) -> QueuedAppend {
        precondition(!records.isEmpty, "append of no records")
        lock.lock()
        defer { lock.unlock() }
        if let stopped = state.stopped { throw stopped }
        var cursor = state.tail
        let (receipt, frames) = try seal(records, at: &cursor)
        state.nextTicket += 1
        state.queue.append(Queued(ticket: state.nextTicket, receipt: receipt, frames: frames, after: cursor))
        state.tail = cursor
        return QueuedAppend(ticket: state.nextTicket, receipt: receipt)
    }

    /// Waits until the queued append is durable (or written, under `.unsafeNoSync`), writing
    /// and syncing everything queued so far when no other caller is.
    ///
    /// - Throws: `.io` when its batch's write or sync failed, `.writerStopped` when an earlier
    ///   one did, `.conflict` on a shared log another instance wrote first. Then none of it is
    ///   acknowledged.
    func wait(for queued: QueuedAppend) throws(CofferError) -> AppendReceipt {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if queued.ticket <= state.settledThrough {
                if let failure = state.failures.removeValue(forKey: queued.ticket) { throw failure }
                return queued.receipt
            }
            if state.leaderActive {
                awaitLeader()
                continue
            }
            lead()
        }
    }

    /// Waits until record `sequence`, which this writer queued, is durable, writing and
    /// syncing what is queued when no other caller is: for a planner that reads a version a
    /// queued transaction made (group commit plans on top of queued transactions).
    ///
    /// - Throws: why it never will be: the failure that stopped the writer, or `.notFound`
    ///   when it is no longer queued (a shared log's conflict set the tail back).
    func waitUntilDurable(sequence: UInt64) throws(CofferError) {
        lock.lock()
        defer { lock.unlock() }
        while state.durable.head.sequence < sequence {
            if let stopped = state.stopped { throw stopped }
            guard state.tail.head.sequence >= sequence, !state.queue.isEmpty || state.leaderActive else {
                throw CofferError(
                    .notFound, "No record with sequence number \(sequence) is in the log.", sequence: sequence)
            }
            if state.leaderActive {
                awaitLeader()
                continue
            }
            lead()
        }
    }

    /// Waits until the active leader's lead has ended: spinning first (``SyncWaitSpin``), then
    /// asleep on `lock`'s condition. Holds `lock` on entry and exit, not while it spins.
    private func awaitLeader() {
        let seen = leadsEnded.load(ordering: .acquiring)
        lock.unlock()
        let ended = syncWaitSpin.yield { leadsEnded.load(ordering: .acquiring) != seen }
        lock.lock()
        // The lead that ends next broadcasts holding `lock`: checked under it, it cannot be missed.
        if !ended && leadsEnded.load(ordering: .acquiring) == seen { lock.wait() }
    }

    /// Writes and syncs every queued append as one batch, then settles them. Holds `lock`
    /// on entry and exit, not while writing.
    private func lead() {
        let batch = state.queue
        state.queue = []
        if let stopped = state.stopped {
            // Stopped (closed, or an earlier failure): what is queued is not written; its
            // callers learn why. The log device may be closed already.
            for queued in batch { state.failures[queued.ticket] = stopped }
            state.settledThrough = batch.last?.ticket ?? state.settledThrough
            lock.broadcast()
            return
        }
        state.leaderActive = true
        let start = state.durable.end
        var frames = batch[0].frames
        for queued in batch.dropFirst() { frames.append(contentsOf: queued.frames) }
        lock.unlock()
        let outcome = write(frames, at: start)
        lock.lock()
        let last = batch.last!.ticket
        switch outcome {
        case .success:
            state.durable = batch.last!.after
            for queued in batch {
                for record in queued.receipt.records {
                    chains.append(record.previousChain, offset: record.offset)
                    counters.add(type: record.type, epoch: record.epoch, frameBytes: record.frameBytes)
                }
            }
            state.settledThrough = last
        case .failure(let error) where error.code == .conflict:
            // A shared log took another instance's records at these sequence numbers; none
            // of this batch landed, and what was queued after it was placed behind it. The
            // writer carries on from the last acknowledged position once it has caught up
            // (`advance`).
            for queued in batch + state.queue { state.failures[queued.ticket] = error }
            state.settledThrough = state.queue.last?.ticket ?? last
            state.queue = []
            state.tail = state.durable
        case .failure(let error):
            // F-APPEND-STOP: after a failed write or sync nothing more is acknowledged.
            if state.stopped == nil {
                state.stopped = CofferError(
                    .writerStopped,
                    "An earlier write or sync failed (\(error.message)); reopen the vault to recover it.")
            }
            for queued in batch { state.failures[queued.ticket] = error }
            for queued in state.queue { state.failures[queued.ticket] = state.stopped! }
            state.settledThrough = state.queue.last?.ticket ?? last
            state.queue = []
        }
        state.leaderActive = false
        leadsEnded.add(1, ordering: .releasing)
        lock.broadcast()
    }

    /// Makes every byte written so far durable: what `.unsafeNoSync` left unsynced. A failed
    /// sync stops the writer (F-APPEND-STOP): after it, nothing written before can be said to
    /// be on disk, so nothing more is acknowledged.
    func sync() -> Result<Void, CofferError> {
        // It takes the lead for its sync, as an append's write does, so that a close
        // (``stopAndDrain(_:)``) waits for it rather than closing the device under it.
        lock.lock()
        while state.leaderActive { lock.wait() }
        if let stopped = state.stopped {
            lock.unlock()
            return .failure(stopped)
        }
        state.leaderActive = true
        lock.unlock()
        let synced = log.sync()
        lock.withLock {
            state.leaderActive = false
            leadsEnded.add(1, ordering: .releasing)
            lock.broadcast()
        }
        switch synced {
        case .success: return .success(())
        case .failure(let error):
            let failure = error.cofferError("Syncing the log", offset: nil)
            stop(
                CofferError(
                    .writerStopped, "An earlier sync failed (\(failure.message)); reopen the vault to recover it."))
            return .failure(failure)
        }
    }

    /// Switches durability for the appends from now on. Switching to `.synchronous` syncs what
    /// was written before first, so nothing acknowledged later rests on an unsynced earlier
    /// record; if that sync fails, the writer stops and durability stays as it was.
    func setDurability(_ durability: Durability) -> Result<Void, CofferError> {
        if durability == .synchronous, case .failure(let error) = sync() { return .failure(error) }
        syncsWrites.store(durability == .synchronous, ordering: .releasing)
        return .success(())
    }

    /// The durability in force.
    var durability: Durability { syncsWrites.load(ordering: .acquiring) ? .synchronous : .unsafeNoSync }

    private func write(_ frames: FrameBatch, at start: UInt64) -> Result<Void, CofferError> {
        switch log.append(frames, at: start) {
        case .failure(let error): return .failure(error.cofferError("Appending to the log", offset: start))
        case .success(.conflict):
            return .failure(
                CofferError(
                    .conflict, "Appending to the log failed: another instance sharing the log wrote first.",
                    offset: start))
        case .success(.written): break
        }
        if syncsWrites.load(ordering: .acquiring), case .failure(let error) = log.sync() {
            // Written, not known durable: the file may hold the records when it is next
            // opened, or not (a crash, or the kernel dropping the pages). The caller must not
            // take the failure for a change that was not made.
            return .failure(
                error.cofferError("Syncing the log", offset: start).adding(
                    "The change was written but not made durable: reopened, the vault may hold it or not. "
                        + "Check before making it again."))
        }
        return .success(())
    }

    /// Seals `records` in order at `cursor`, moving it past them.
    private func seal(_ records: [PendingRecord], at cursor: inout LogCursor) throws(CofferError)
        -> (AppendReceipt, FrameBatch)
    {
        var local = cursor
        var frames = FrameBatch()
        var placed: [PlacedRecord] = []
        placed.reserveCapacity(records.count)
        for record in records {
            let (record, frame) =
                switch record {
                case .transaction(let payload): try local.sealTransaction(payload)
                case .keyEpoch(let dataKey):
                    try local.sealKeyEpoch(
                        local.epoch + 1, dataKey: dataKey, createdMilliseconds: WallClock.nowMilliseconds(),
                        keyRecordKey: keyRecordKey)
                }
            placed.append(record)
            frames.append(sequence: record.sequence, frame: frame)
        }
        cursor = local
        return (AppendReceipt(records: placed, head: local.head), frames)
    }
}
