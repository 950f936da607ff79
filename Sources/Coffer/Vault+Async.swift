import CofferCrypto
import CofferErrors
import CofferModel
import CofferStorage
import Dispatch
import Synchronization

/// The `async` API: the same operations as the synchronous one, for Swift concurrency.
///
/// Work that can block a thread — reading and decrypting records, waiting for the writer
/// lock, `fdatasync` and the group-commit wait, Argon2id, a compaction — runs on threads of
/// Coffer's own, never on Swift's cooperative pool nor on Dispatch's global queues (which, on
/// Linux, are the same threads), so tasks that only resolve keep running while a commit syncs.
/// A call never waits for a free thread: one is started when none is idle, and ends after ten
/// idle seconds. Resolution reads the in-memory index under a
/// reader lock held for microseconds, so ``resolve(_:)`` stays synchronous in both APIs.
///
/// Cancellation is honoured where stopping is safe, and nowhere else:
/// - `open(path:unlock:options:)` while it waits for the writer lock (`Options.lockWait`);
/// - `refresh(atLeast:timeout:)` between its polls (a single `refresh()` runs to its end);
/// - `compact(_:)` before its switch (after it, the new file is the vault and the report is
///   returned);
/// - `mutate(actor:_:)` before its plan runs. Once the transaction is planned it is written
///   and synced whatever happens to the task: a commit being synced cannot be taken back, and
///   the caller learns its outcome.
///
/// A cancelled call throws `.cancelled` and changes nothing.
///
/// ```swift
/// let vault = try await Vault.open(path: "team.coffer", unlock: key)
/// try await vault.mutate(actor: "deploy") { try $0.createOrganization(slug: "acme", name: "Acme") }
/// let revealed = try await vault.resolveAndReveal(ResolutionRequest(appKey: "exa", context: run))
/// ```
extension Vault {
    /// A concurrent queue the `async` API once ran its blocking work on. On Linux its threads are
    /// those of Swift's cooperative pool, a few per machine: work blocked there stopped tasks.
    /// The `async` API now runs on threads of Coffer's own, and nothing in Coffer uses this queue.
    @available(
        *, deprecated,
        message: "The async API no longer runs here: on Linux this queue's threads are Swift's cooperative pool's."
    )
    public static let blockingQueue = DispatchQueue(label: "coffer.vault.blocking", attributes: .concurrent)

    /// Runs `work` on a thread of Coffer's own (``BlockingThreads``) and resumes with its result.
    static func offload<Value: Sendable>(
        _ work: @escaping @Sendable () throws(CofferError) -> Value
    ) async throws(CofferError) -> Value {
        let result: Result<Value, CofferError> = await withCheckedContinuation { continuation in
            BlockingThreads.shared.run {
                continuation.resume(returning: Result { () throws(CofferError) -> Value in try work() })
            }
        }
        return try result.get()
    }

    /// Runs `work` as ``offload(_:)`` does, with a flag that turns true when the task is
    /// cancelled, for work that polls it where stopping is safe.
    static func offloadCancellable<Value: Sendable>(
        _ work: @escaping @Sendable (_ isCancelled: @escaping @Sendable () -> Bool) throws(CofferError) -> Value
    ) async throws(CofferError) -> Value {
        let cancelled = CancellationFlag()
        if Task.isCancelled { throw Self.cancelled }
        let result: Result<Value, CofferError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                BlockingThreads.shared.run {
                    continuation.resume(
                        returning: Result { () throws(CofferError) -> Value in try work { cancelled.isSet } })
                }
            }
        } onCancel: {
            cancelled.set()
        }
        return try result.get()
    }

    static var cancelled: CofferError {
        CofferError(.cancelled, "The task was cancelled before anything was changed.")
    }

    /// Opens a vault (`open(path:unlock:options:)`) on the vault's own threads: the
    /// unlock's Argon2id work, the reads and the replay do not hold a cooperative thread.
    /// Cancelling the task stops a wait for the writer lock.
    public static func open(path: String, unlock: Unlock, options: Options = Options()) async throws(CofferError)
        -> Vault
    {
        try await offloadCancellable { isCancelled throws(CofferError) in
            var options = options
            options.isCancelled = either(isCancelled, options.isCancelled)
            return try Vault.open(path: path, unlock: unlock, options: options)
        }
    }

    /// Creates a vault (`create(path:unlock:cost:options:)`) on the vault's own threads.
    public static func create(
        path: String, unlock: Unlock, cost: Argon2id.Cost = .moderate, options: Options = Options()
    ) async throws(CofferError) -> Vault {
        if Task.isCancelled { throw cancelled }
        return try await offload { () throws(CofferError) in
            try Vault.create(path: path, unlock: unlock, cost: cost, options: options)
        }
    }

    /// `mutate(actor:_:)` on the vault's own threads: the plan, the write, the sync and the
    /// wait for a shared sync do not hold a cooperative thread. A task cancelled before the
    /// plan runs changes nothing (`.cancelled`); after that, the commit completes.
    ///
    /// - Throws: an error `plan` throws, unchanged (`catch let error as MyPlanError`), and
    ///   otherwise a `CofferError`, as `mutate(actor:_:)` does.
    @discardableResult
    public func mutate<Value: Sendable>(
        actor: String, _ plan: @escaping @Sendable (Planner) throws -> Plan<Value>
    ) async throws -> Value {
        // The synchronous mutate reports a caller's error as `.invalidInput`; this one gives it back.
        let callersError = Locked<(any Error)?>(nil)
        do {
            return try await Self.offloadCancellable { isCancelled throws(CofferError) in
                try self.mutate(actor: actor) { planner in
                    // Planned again (after a conflict): only this plan's error counts.
                    callersError.withLock { $0 = nil }
                    if isCancelled() { throw Self.cancelled }
                    do {
                        return try plan(planner)
                    } catch let error as CofferError {
                        throw error
                    } catch {
                        callersError.withLock { $0 = error }
                        throw error
                    }
                }
            }
        } catch {
            if let own = callersError.withLock({ $0 }) { throw own }
            throw error
        }
    }

    /// `reveal(_:version:)` on the vault's own threads (a read and a decryption).
    public func reveal(_ credential: CredentialID, version: UInt32? = nil) async throws(CofferError) -> FieldValues {
        try await Self.offload { () throws(CofferError) in try self.reveal(credential, version: version) }
    }

    /// `resolveAndReveal(_:)` on the vault's own threads.
    public func resolveAndReveal(_ request: ResolutionRequest) async throws(CofferError) -> RevealedCredential {
        try await Self.offload { () throws(CofferError) in try self.resolveAndReveal(request) }
    }

    /// `reveal(_:)` on the vault's own threads.
    public func reveal(_ resolved: ResolvedCredential) async throws(CofferError) -> FieldValues {
        try await Self.offload { () throws(CofferError) in try self.reveal(resolved) }
    }

    /// `sync()` on the vault's own threads.
    public func sync() async throws(CofferError) {
        try await Self.offload { () throws(CofferError) in try self.sync() }
    }

    /// `setDurability(_:)` on the vault's own threads (switching to synchronous syncs what came before).
    public func setDurability(_ durability: Durability) async throws(CofferError) {
        try await Self.offload { () throws(CofferError) in try self.setDurability(durability) }
    }

    /// `refresh()` on the vault's own threads.
    @discardableResult
    public func refresh() async throws(CofferError) -> ChainHead {
        try await Self.offload { () throws(CofferError) in try self.refresh() }
    }

    /// `refresh(atLeast:timeout:)` without blocking a thread between polls: the task
    /// sleeps, and cancelling it stops the wait (`.cancelled`).
    @discardableResult
    public func refresh(atLeast sequence: UInt64, timeout: Duration = .seconds(5)) async throws(CofferError)
        -> ChainHead
    {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pause = Duration.milliseconds(1)
        while true {
            let head = try await refresh()
            if head.sequence >= sequence { return head }
            guard clock.now < deadline else { throw Self.notReached(sequence, head: head) }
            do {
                try await Task.sleep(for: min(pause, deadline - clock.now))
            } catch {
                throw Self.cancelled
            }
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// `compact(_:)` on the vault's own threads. Cancelling the task stops the compaction
    /// before its switch (`.cancelled`, the vault as it was); after the switch it completes.
    @discardableResult
    public func compact(_ options: CompactionOptions = CompactionOptions()) async throws(CofferError)
        -> CompactionReport
    {
        try await Self.offloadCancellable { isCancelled throws(CofferError) in
            var options = options
            options.isCancelled = either(isCancelled, options.isCancelled)
            return try self.compact(options)
        }
    }
}

/// A cancellation check that answers true when the task's flag or the caller's own does.
private func either(
    _ task: @escaping @Sendable () -> Bool, _ given: (@Sendable () -> Bool)?
) -> @Sendable () -> Bool {
    { task() || given?() == true }
}

/// A flag a cancellation handler sets and blocking work polls.
final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .acquiring) }

    func set() { value.store(true, ordering: .releasing) }
}
