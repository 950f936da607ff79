import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Open's two halves on two threads: the scanning thread reads, checks, authenticates and
/// decodes record after record, and a second thread applies the decoded transactions to
/// the index in the same order.
///
/// Decoding and applying each take about half of an open; overlapping them is what a second
/// core gives. Transactions cross in batches of about ``batchOperations`` operations, so the
/// threads meet once per batch rather than once per record (a compacted vault's records hold
/// many operations each, a fresh one's mostly one), and at most ``batchesQueuedMax`` batches
/// wait, so the decoded field values held in memory stay bounded whatever the vault's size.
///
/// ```swift
/// let pipeline = ReplayPipeline()
/// try store.scan { record in try pipeline.submit(record) }    // the scanning thread
/// let index = try pipeline.finish()                          // joins; the first failure, if any
/// ```
final class ReplayPipeline: @unchecked Sendable {
    static let batchOperations = 64
    static let batchesQueuedMax = 16

    private struct Decoded {
        let operations: [ModelOperation]
        let context: TransactionContext
        let offset: UInt64
        let sequence: UInt64
    }

    // Touched by the scanning thread only.
    private var batch: [Decoded] = []
    private var batchOperationCount = 0
    private var thread: pthread_t?

    // Guarded by `lock`.
    private let lock = Lock()
    private var queued: [[Decoded]] = []
    private var finished = false
    private var failure: CofferError?

    /// Owned by the applying thread until it is joined.
    private var index = VaultIndex()

    init() {
        batch.reserveCapacity(Self.batchOperations)
        let box = Unmanaged.passRetained(self).toOpaque()
        var created = pthread_t()
        let status = pthread_create(
            &created, nil,
            { argument in
                let pipeline = Unmanaged<ReplayPipeline>.fromOpaque(argument!).takeRetainedValue()
                pipeline.applyUntilFinished()
                return nil
            }, box)
        if status == 0 {
            thread = created
        } else {
            // No second thread to be had: apply on the scanning thread instead.
            Unmanaged<ReplayPipeline>.fromOpaque(box).release()
        }
    }

    deinit {
        precondition(thread == nil, "a replay pipeline was dropped without finish() or abandon()")
    }

    /// Starts from the index a checkpoint at `position` encodes instead of an empty one; call
    /// before the first ``submit(_:)``. The encoding's bytes are still arriving: it is decoded
    /// as they arrive and kept only when `arrival` completes. False, and the index stays
    /// empty, when the encoding is malformed, cannot be trusted or names a record the
    /// checkpoint does not cover.
    func start(
        fromCheckpointEncoding bytes: ArraySlice<UInt8>, arriving arrival: any ByteArrival,
        at position: Checkpoint.Position
    ) -> Bool {
        guard let restored = try? VaultIndex(checkpointEncoding: bytes, arrival: arrival),
            restored.historyLies(atOrBefore: position.sequence, lastFrameOffset: position.lastFrameOffset)
        else { return false }
        // Nothing is queued yet, so the applying thread has not touched the index; the lock
        // hands it over with the first batch.
        lock.withLock { index = restored }
        return true
    }

    /// Decodes `record` on the calling thread and queues its transaction to be applied.
    ///
    /// - Throws: `.corrupted` for a record that does not decode, or the failure the applying
    ///   thread met with an earlier record.
    func submit(_ record: ScannedRecord) throws(CofferError) {
        guard let transaction = try Replay.decode(record) else { return }
        let context = TransactionContext(
            sequence: record.sequence, offset: record.offset, timeMilliseconds: transaction.timeMilliseconds,
            actor: transaction.actor)
        batch.append(
            Decoded(
                operations: transaction.operations, context: context, offset: record.offset, sequence: record.sequence))
        batchOperationCount += transaction.operations.count
        if batchOperationCount >= Self.batchOperations { try flush() }
    }

    /// Applies what is queued, stops the applying thread and returns the index.
    ///
    /// - Throws: the first failure of any record.
    func finish() throws(CofferError) -> VaultIndex {
        // The applying thread stops whatever the last flush found: a failure of an earlier
        // batch leaves it waiting otherwise, holding the index.
        defer { stop() }
        try flush()
        stop()
        if let failure { throw failure }
        return index
    }

    /// Stops the applying thread after a failure elsewhere; the index is discarded.
    func abandon() {
        lock.withLock { failure = failure ?? CofferError(.closed, "The open was abandoned.") }
        batch = []
        stop()
    }

    private func flush() throws(CofferError) {
        batchOperationCount = 0
        guard thread != nil else {
            // No second thread: apply here.
            let pending = batch
            batch.removeAll(keepingCapacity: true)
            try apply(pending)
            return
        }
        if batch.isEmpty { return }
        let pending = batch
        batch = []
        batch.reserveCapacity(Self.batchOperations)
        lock.lock()
        while queued.count >= Self.batchesQueuedMax && failure == nil { lock.wait() }
        if let failure {
            lock.unlock()
            throw failure
        }
        queued.append(pending)
        lock.broadcast()
        lock.unlock()
    }

    private func stop() {
        guard let thread else { return }
        lock.withLock {
            finished = true
            lock.broadcast()
        }
        pthread_join(thread, nil)
        self.thread = nil
    }

    /// The applying thread's loop.
    private func applyUntilFinished() {
        while true {
            lock.lock()
            while queued.isEmpty && !finished { lock.wait() }
            let work = queued
            queued = []
            let failed = failure != nil
            lock.broadcast()
            lock.unlock()
            if work.isEmpty { return }
            // After a failure the rest is drained unapplied, so the scanner never waits on it.
            if failed { continue }
            for batch in work {
                do throws(CofferError) {
                    try apply(batch)
                } catch {
                    lock.withLock {
                        failure = failure ?? error
                        lock.broadcast()
                    }
                    break
                }
            }
        }
    }

    private func apply(_ batch: [Decoded]) throws(CofferError) {
        for decoded in batch {
            do {
                try index.replay(decoded.operations, context: decoded.context)
            } catch {
                throw Replay.breaksModel(error, offset: decoded.offset, sequence: decoded.sequence)
            }
        }
    }
}
