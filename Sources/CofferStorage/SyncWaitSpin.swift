import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// How long a caller whose append waits behind another caller's write and sync keeps its
/// processor before it sleeps (``VaultStore/Options/syncWaitSpin``): it yields the processor
/// to any thread that can run, and checks between yields whether the sync has ended.
///
/// The caller that waits is the leader of the next batch, and that batch is written the
/// moment the sync ends, by that caller. Asleep, it leaves its processor idle, and an idle
/// processor can take longer to wake than the sync takes: on a virtual machine the idle vCPU
/// halts, and waking it takes an interrupt through the host. Measured on this project's
/// 2-vCPU machine (BENCHMARKS.md), a waiter that slept at once left 50–200 µs between one
/// sync's end and the next batch's write, as long as the sync itself; yielding instead made
/// eight committing threads 10–25 % faster. Yielding costs processor time only when no other
/// thread wants it, and never more than the spin.
struct SyncWaitSpin: Sendable {
    /// The longest spin a caller can ask for: longer ones would only burn a processor.
    static let maximum = Duration.milliseconds(10)

    private let nanoseconds: UInt64

    /// - Throws: `.invalidInput` when `limit` is negative or over ``maximum``.
    init(_ limit: Duration) throws(CofferError) {
        guard limit >= .zero, limit <= Self.maximum else {
            throw CofferError(.invalidInput, "A sync wait spin is from 0 to 10 ms.")
        }
        let (seconds, attoseconds) = limit.components
        nanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Yields the processor until `isDone` answers true or the spin has passed; whether it
    /// answered true. Asks `isDone` first: a zero spin asks only once and never yields.
    func yield(until isDone: () -> Bool) -> Bool {
        if isDone() { return true }
        guard nanoseconds > 0 else { return false }
        let deadline = Self.monotonicNanoseconds() + nanoseconds
        repeat {
            sched_yield()
            if isDone() { return true }
        } while Self.monotonicNanoseconds() < deadline
        return false
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
