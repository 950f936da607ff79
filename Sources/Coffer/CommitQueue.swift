import CofferCrypto
import CofferErrors
import CofferModel
import CofferStorage

/// A mutation waiting for whichever of the vault's callers leads the next batch to plan and
/// queue it together with its own (``CommitQueue``).
final class CommitRequest: @unchecked Sendable {
    /// Who makes the change, as history shows it.
    let actor: String
    /// Plans the mutation over a planner: its operations, none when there is nothing to write.
    /// It runs again when its batch is planned again (a shared log's conflict). Dropped when
    /// the request is settled: it captures the caller's closure, which must not outlive the
    /// caller's call.
    fileprivate(set) var plan: ((Planner) throws(CofferError) -> [ModelOperation])?
    /// Whether a transaction was written, or why the mutation failed. Set by the leader of the
    /// request's batch; read by the request's caller once ``CommitQueue`` says it is settled.
    var outcome: Result<Bool, CofferError>?
    /// Guarded by the queue's lock: a leader has taken the request into its batch.
    fileprivate var isTaken = false
    /// Guarded by the queue's lock.
    fileprivate var isSettled = false
    /// The caller waits on it, on the queue's lock, to be settled or to lead; made the first
    /// time the caller must wait (a lone caller leads at once and never does). Guarded by the
    /// queue's lock.
    fileprivate var wakeUp: LockCondition?

    init(actor: String, plan: @escaping (Planner) throws(CofferError) -> [ModelOperation]) {
        self.actor = actor
        self.plan = plan
    }
}

/// The mutations of one vault waiting to be committed, and who commits them (group commit).
///
/// The first caller to arrive while no batch is being planned leads the next batch, made of
/// every request queued by then; the others sleep until their request is settled, each on a
/// condition of its own, so that a commit costs its caller one sleep and one wake-up. A
/// leader plans and queues its batch, then may hand the lead over (``handOver()``) while its
/// batch waits for its sync, so that the next batch is planned meanwhile; it settles its
/// batch (``settle(_:)``) once every request has its outcome.
final class CommitQueue: @unchecked Sendable {
    private let lock = Lock()
    /// Requests not yet taken into a batch, in arrival order.
    private var queued: [CommitRequest] = []
    private var isLeading = false

    /// How many requests wait to be taken into a batch.
    var queuedCount: Int { lock.withLock { queued.count } }

    /// Queues `request` and waits until it is settled (`nil`), or until the caller is to lead
    /// the next batch, which it returns (every request queued by then, `request` among them).
    /// A leader commits the batch, then calls ``finish(_:)``, or ``handOver()`` and later
    /// ``settle(_:)``.
    func join(_ request: CommitRequest) -> [CommitRequest]? {
        lock.lock()
        defer { lock.unlock() }
        queued.append(request)
        while !request.isSettled && (isLeading || request.isTaken) {
            let wakeUp = request.wakeUp ?? LockCondition()
            request.wakeUp = wakeUp
            wakeUp.wait(on: lock)
        }
        if request.isSettled { return nil }
        isLeading = true
        defer { queued = [] }
        for taken in queued { taken.isTaken = true }
        return queued
    }

    /// The requests queued since the leader's batch was taken, to commit with it; call as the
    /// leader. Their callers wait until they are settled.
    func takeQueued() -> [CommitRequest] {
        lock.withLock {
            precondition(isLeading, "only the leader takes requests")
            defer { queued = [] }
            for taken in queued { taken.isTaken = true }
            return queued
        }
    }

    /// Gives up the lead, whose batch is planned and queued, so that the next caller leads the
    /// next batch: the first request queued meanwhile is woken to lead it.
    func handOver() {
        lock.withLock { handOverLocked() }
    }

    /// Marks every request of a batch settled (each has its outcome) and wakes their callers.
    func settle(_ batch: [CommitRequest]) {
        lock.withLock { settleLocked(batch) }
    }

    /// Settles the batch and gives up the lead: ``settle(_:)`` and ``handOver()`` at once.
    func finish(_ batch: [CommitRequest]) {
        lock.withLock {
            settleLocked(batch)
            handOverLocked()
        }
    }

    private func handOverLocked() {
        precondition(isLeading, "only the leader hands over")
        isLeading = false
        queued.first?.wakeUp?.signal()
    }

    private func settleLocked(_ batch: [CommitRequest]) {
        for request in batch {
            precondition(request.outcome != nil, "a request of the batch was left unsettled")
            request.plan = nil
            request.isSettled = true
            request.wakeUp?.signal()
        }
    }
}
