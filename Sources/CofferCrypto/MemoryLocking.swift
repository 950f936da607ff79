import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Whether the memory that holds secrets is locked out of swap, and a report the first time
/// the operating system refuses to lock it (usually `RLIMIT_MEMLOCK`, `ulimit -l`).
///
/// Secrets stay usable when locking fails, and are still zeroed when released and kept out of
/// core dumps; only swap can then see them. A process that must not go on in that case (as
/// HashiCorp Vault refuses to without `disable_mlock`) calls ``requireLocked()`` first.
///
/// ```swift
/// MemoryLocking.onFirstFailure { errno in logger.warning("secrets are not locked in memory") }
/// ```
public enum MemoryLocking {
    private static let state = LockingState()

    /// Whether every region of secret memory so far was locked.
    public static var isIntact: Bool { state.withLock { $0.failure == nil } }

    /// The errno of the first refusal, if any.
    public static var firstFailure: Int32? { state.withLock { $0.failure } }

    /// Calls `handler` once, with the errno, the first time locking fails (at once when it has
    /// failed already). A later call replaces an earlier handler that has not run.
    public static func onFirstFailure(_ handler: @escaping @Sendable (Int32) -> Void) {
        let failed = state.withLock { current -> Int32? in
            if let failure = current.failure { return failure }
            current.handler = handler
            return nil
        }
        if let failed { handler(failed) }
    }

    /// Locks a region of secret memory now and reports whether the operating system agreed:
    /// for a process that must not run with secrets in swappable memory.
    ///
    /// - Throws: `CofferError(.io)` with the errno when it refuses.
    public static func requireLocked() throws(CofferError) {
        // Reserving a slot maps (and locks) a region when none is mapped yet.
        let probe = SecureBytes(count: 1) { _ in }
        _ = probe
        if let failure = firstFailure {
            throw CofferError(
                .io(errno: failure),
                "Memory for secrets cannot be locked (\(String(cString: strerror(failure)))): raise the locked-memory "
                    + "limit (ulimit -l) or give the process CAP_IPC_LOCK.")
        }
    }

    static func recordFailure(errno: Int32) {
        let handler = state.withLock { current -> ((Int32) -> Void)? in
            guard current.failure == nil else { return nil }
            current.failure = errno
            defer { current.handler = nil }
            return current.handler
        }
        handler?(errno)
    }
}

/// The state behind ``MemoryLocking``, behind a mutex (never held while a handler runs).
private final class LockingState: @unchecked Sendable {
    struct Values {
        var failure: Int32?
        var handler: (@Sendable (Int32) -> Void)?
    }

    private var values = Values()
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    func withLock<Result>(_ body: (inout Values) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&values)
    }
}
