#if canImport(Glibc)
    import Glibc
#endif

/// A mutual-exclusion lock over `pthread_mutex_t`, with a condition variable on the monotonic
/// clock (so that a wall-clock step neither shortens nor stretches a timed wait).
///
/// Chosen over `Synchronization.Mutex` because ThreadSanitizer cannot see that type's futex
/// and reports false races; this one it understands.
public final class Lock: @unchecked Sendable {
    fileprivate let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0)
        condition = makeMonotonicCondition()
    }

    deinit {
        destroyCondition(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` while holding the lock.
    @inline(__always)
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Acquires the lock; pair with ``unlock()``. Prefer ``withLock(_:)``.
    public func lock() { pthread_mutex_lock(mutex) }

    /// Releases the lock taken by ``lock()``.
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits on the condition; must be called while holding the lock.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Waits on the condition until woken or until `deadline` (a `CLOCK_MONOTONIC` time)
    /// passes; must be called while holding the lock. Wake-ups can be spurious: loop.
    public func wait(until deadline: timespec) {
        var deadline = deadline
        _ = pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// Wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

/// A condition variable of its own on a ``Lock``: for waking one chosen waiter rather than
/// every waiter on the lock's condition.
public final class LockCondition: @unchecked Sendable {
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() { condition = makeMonotonicCondition() }

    deinit { destroyCondition(condition) }

    /// Waits until signalled; must be called while holding `lock`. Wake-ups can be spurious: loop.
    public func wait(on lock: Lock) {
        pthread_cond_wait(condition, lock.mutex)
    }

    /// Wakes the waiter, if any (call holding the lock it waits on).
    public func signal() {
        pthread_cond_signal(condition)
    }
}

private func makeMonotonicCondition() -> UnsafeMutablePointer<pthread_cond_t> {
    let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    condition.initialize(to: pthread_cond_t())
    var attributes = pthread_condattr_t()
    precondition(pthread_condattr_init(&attributes) == 0)
    precondition(pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0)
    precondition(pthread_cond_init(condition, &attributes) == 0)
    pthread_condattr_destroy(&attributes)
    return condition
}

private func destroyCondition(_ condition: UnsafeMutablePointer<pthread_cond_t>) {
    pthread_cond_destroy(condition)
    condition.deallocate()
}

/// A value guarded by a ``Lock``.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = Lock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try lock.withLock { try body(&value) }
    }
}
