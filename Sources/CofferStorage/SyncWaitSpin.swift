import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// How long a caller waiting for another caller's write and sync to end keeps its processor
/// before it sleeps (``VaultStore/Options/syncWaitSpin``): it yields the processor to any
/// thread that can run, and checks between yields whether the sync has ended.
///
/// Through a vault, the caller that waits is most often the leader of the next batch, which
/// writes that batch the moment the sync ends; through `VaultStore.append` from many threads,
/// every caller whose append is queued waits so. Asleep, a waiter leaves its processor idle,
/// and an idle processor can take longer to wake than the sync takes: on a virtual machine the
/// idle vCPU halts, and waking it takes an interrupt through the host. On this project's 2-vCPU
/// machine a waiter that slept at once left half a sync at the median, and a whole one at the
/// 90th percentile, between one sync's end and the next batch's write; yielding halved that
/// and made eight committing threads 18–38 % faster (BENCHMARKS.md, "Group commit: the next
/// batch's leader keeps its processor").
/// Yielding costs processor time only when no other thread wants it, and never longer than
/// the spin.
struct SyncWaitSpin: Sendable {
    /// The longest spin a caller can ask for: longer ones would only burn a processor.
    static let maximum = Duration.milliseconds(10)

    private let limit: Duration

    /// Throws unless `limit` is a spin a caller may ask for.
    ///
    /// - Throws: `.invalidInput` when `limit` is negative or over ``maximum``.
    static func check(_ limit: Duration) throws(CofferError) {
        guard limit >= .zero, limit <= maximum else {
            throw CofferError(.invalidInput, "The sync wait spin (Options.syncWaitSpin) is from 0 to 10 ms.")
        }
    }

    /// A spin of `limit` (``check(_:)`` it first), held within 0 and ``maximum``.
    init(_ limit: Duration) {
        self.limit = min(max(limit, .zero), Self.maximum)
    }

    /// Yields the processor until `isDone` answers true or the spin has passed; whether it
    /// answered true. Asks `isDone` first: a zero spin asks only once and never yields; any
    /// other asks again after each yield, the first yield's whatever the time.
    func yield(until isDone: () -> Bool) -> Bool {
        if isDone() { return true }
        guard limit > .zero else { return false }
        let deadline = ContinuousClock.now + limit
        repeat {
            sched_yield()
            if isDone() { return true }
        } while ContinuousClock.now < deadline
        return false
    }
}
