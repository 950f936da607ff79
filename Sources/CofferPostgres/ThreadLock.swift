#if canImport(Glibc)
    import Glibc
#endif

/// A mutual-exclusion lock over `pthread_mutex_t`, with a condition variable on the monotonic
/// clock.
///
/// Chosen over `Synchronization.Mutex` because ThreadSanitizer cannot see that type's futex
/// and reports false races. A small copy of CofferStorage's lock, which this module may not
/// import: it adds a timed wait.
final class ThreadLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        // The monotonic clock, so that a wall-clock step neither shortens nor stretches a timeout.
        var attributes = pthread_condattr_t()
        precondition(pthread_condattr_init(&attributes) == 0)
        precondition(pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0)
        precondition(pthread_cond_init(condition, &attributes) == 0)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` while holding the lock.
    @inline(__always)
    func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits on the condition until woken or until `deadline` (a `CLOCK_MONOTONIC` time) passes.
    /// Must be called while holding the lock; spurious wake-ups happen, so callers loop.
    func wait(until deadline: timespec) {
        var deadline = deadline
        _ = pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// Wakes every waiter.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

/// The monotonic clock, for deadlines that ``ThreadLock/wait(until:)`` understands.
enum MonotonicClock {
    /// Now, as a `CLOCK_MONOTONIC` time.
    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time
    }

    /// The time `nanoseconds` after `start`.
    static func adding(_ nanoseconds: Int64, to start: timespec) -> timespec {
        let nanosecondsPerSecond: Int64 = 1_000_000_000
        let total = Int64(start.tv_nsec) + nanoseconds % nanosecondsPerSecond
        var result = timespec()
        result.tv_sec = start.tv_sec + Int(nanoseconds / nanosecondsPerSecond + total / nanosecondsPerSecond)
        result.tv_nsec = Int(total % nanosecondsPerSecond)
        return result
    }

    /// Whether `time` is not after now.
    static func hasPassed(_ time: timespec) -> Bool {
        let current = now()
        return (current.tv_sec, current.tv_nsec) >= (time.tv_sec, time.tv_nsec)
    }

    /// Nanoseconds from now until `time`, or 0 when it has passed.
    static func nanoseconds(until time: timespec) -> Int64 {
        let current = now()
        let difference = Int64(time.tv_sec - current.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec - current.tv_nsec)
        return max(0, difference)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, 0 for a negative one, saturating at `Int64.max`.
    var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return Int64.max }
        let (sum, overflowSum) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? Int64.max : sum
    }
}
