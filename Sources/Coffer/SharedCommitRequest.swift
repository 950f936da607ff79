import CofferCrypto
import CofferErrors
import CofferModel
import CofferStorage

/// A mutation of an instance writing to a shared log, waiting for whichever of the instance's
/// callers leads the next batch to commit it together with its own (group commit on a shared
/// log; ``SharedCommitQueue``).
final class SharedCommitRequest: @unchecked Sendable {
    /// Who makes the change, as history shows it.
    let actor: String
    /// Plans the mutation over a planner: its operations, none when there is nothing to write.
    /// It runs again when its batch is planned again. Dropped when the request is settled: it
    /// captures the caller's closure, which must not outlive the caller's call.
    fileprivate(set) var plan: ((Planner) throws(CofferError) -> [ModelOperation])?
    /// Whether a transaction was written, or why the mutation failed. Set by the leader of the
    /// request's batch; read by the request's caller once ``SharedCommitQueue`` says it is
    /// settled.
    var outcome: Result<Bool, CofferError>?
    /// Guarded by the queue's lock.
    fileprivate var isSettled = false

    init(actor: String, plan: @escaping (Planner) throws(CofferError) -> [ModelOperation]) {
        self.actor = actor
        self.plan = plan
    }
}

/// The mutations of one instance waiting to be committed to a shared log, and who commits
/// them: the first caller to arrive while no batch is being committed leads the next batch,
/// made of every request queued by then; the others wait for their request to be settled, on
/// this queue's condition, not on the writer lock, so a settled caller returns at once.
final class SharedCommitQueue: @unchecked Sendable {
    private let lock = Lock()
    private var queued: [SharedCommitRequest] = []
    private var isLeading = false

    /// Queues `request` and waits until it is settled (`nil`), or until the caller is to lead
    /// the next batch, which it returns (every request queued by then, `request` among them).
    /// A leader commits the batch, then calls ``finish(_:)``.
    func join(_ request: SharedCommitRequest) -> [SharedCommitRequest]? {
        lock.lock()
        defer { lock.unlock() }
        queued.append(request)
        while isLeading && !request.isSettled { lock.wait() }
        if request.isSettled { return nil }
        isLeading = true
        defer { queued = [] }
        return queued
    }

    /// The requests queued since the leader's batch was taken, to commit with it; call as the
    /// leader. Their callers wait until ``finish(_:)`` settles them.
    func takeQueued() -> [SharedCommitRequest] {
        lock.withLock {
            precondition(isLeading, "only the leader takes requests")
            defer { queued = [] }
            return queued
        }
    }

    /// Marks every request of the batch settled (each has its outcome) and lets the next
    /// leader go.
    func finish(_ batch: [SharedCommitRequest]) {
        lock.withLock {
            for request in batch {
                precondition(request.outcome != nil, "a request of the batch was left unsettled")
                request.plan = nil
                request.isSettled = true
            }
            isLeading = false
            lock.broadcast()
        }
    }
}
