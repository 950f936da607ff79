#if canImport(Glibc)
    import Glibc
#endif

/// A value many threads read at once and one writes, over `pthread_rwlock_t` (which
/// ThreadSanitizer understands, unlike `Synchronization.Mutex`'s futex).
///
/// The value lives behind a pointer of its own, and a reader borrows it in place. For a
/// copyable value that is not enough: the optimizer cannot prove memory behind a pointer
/// unchanged while `body` runs, so it hands `body` a copy (a retain and a release of each of
/// the index's tables, a quarter of a resolution). A noncopyable value (`Vault.State`) can
/// only be borrowed.
final class ReadWriteLocked<Value: ~Copyable>: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    private let value: UnsafeMutablePointer<Value>

    init(_ value: consuming Value) {
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        precondition(pthread_rwlock_init(lock, nil) == 0)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with shared access; other readers run beside it, writers wait.
    func read<Result, Failure: Error>(_ body: (borrowing Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value.pointee)
    }

    /// Runs `body` with exclusive access.
    func write<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value.pointee)
    }
}
