import CofferErrors
import CofferModel
import CofferStorage
import Synchronization

/// One committed transaction, as an observer of the vault sees it: when, by whom, and what it
/// changed. Never a value: what changed is named by ids.
public struct VaultChange: Sendable {
    /// The generation of the log the transaction is in (F-LINEAGE): one more after each
    /// compaction, whose new log numbers its records from 1 again.
    public var generation: UInt32
    /// The sequence number of the transaction's record in its generation: changes arrive in
    /// (generation, sequence) order, and a jump tells an observer that fell behind that
    /// changes were dropped (see ``Vault/changes(bufferingNewest:pollingEvery:)``).
    public var sequence: UInt64
    /// The commit time, milliseconds since the Unix epoch.
    public var timeMilliseconds: UInt64
    /// Who made the change, as history shows it.
    public var actor: String
    /// Credentials created, edited, rotated, relabeled, renamed, revoked, reinstated or
    /// deleted, in the order the transaction names them, each once.
    public var credentials: [CredentialID]
    /// Credentials whose default mark was set or cleared.
    public var defaults: [CredentialID]
    /// Assignments set or removed.
    public var assignments: [ChangedAssignment]
    /// The kind of each operation, in order: organizations, projects, users, memberships and
    /// API keys show here.
    public var operations: [OperationCode]

    init(generation: UInt32, sequence: UInt64, timeMilliseconds: UInt64, actor: String, operations: [ModelOperation]) {
        self.generation = generation
        self.sequence = sequence
        self.timeMilliseconds = timeMilliseconds
        self.actor = actor
        self.operations = operations.map(\.code)
        var credentials: [CredentialID] = []
        var defaults: [CredentialID] = []
        var assignments: [ChangedAssignment] = []
        func touch(_ id: CredentialID) { if !credentials.contains(id) { credentials.append(id) } }
        for operation in operations {
            switch operation {
            case .createCredential(let new): touch(new.id)
            case .setCredentialFields(let change): touch(change.id)
            case .relabelCredential(let id, _), .revokeCredential(let id), .deleteCredential(let id),
                .reinstateCredential(let id), .changeCredentialSlug(let id, _):
                touch(id)
            case .setDefault(let id), .clearDefault(let id):
                if !defaults.contains(id) { defaults.append(id) }
            case .assign(let organization, let target, let appKey, _),
                .unassign(let organization, let target, let appKey),
                .restoreAssignment(let organization, let target, let appKey, _):
                assignments.append(ChangedAssignment(organization: organization, target: target, appKey: appKey))
            case .restoreCredential(let restored): touch(restored.id)
            case .restoreCredentialHistory(let id, _), .restoreVersion(let id, _, _): touch(id)
            default: break
            }
        }
        self.credentials = credentials
        self.defaults = defaults
        self.assignments = assignments
    }
}

/// An assignment a change set or removed: its organization, target and app.
public struct ChangedAssignment: Sendable, Hashable {
    /// The organization the assignment belongs to.
    public var organization: OrganizationID
    /// The consumer it is for: one step, tool or action of a workflow, agent or poll, or all of them (`*`).
    public var target: AssignmentTarget
    /// The app key it is for, as code looks credentials up, e.g. `exa`.
    public var appKey: String
}

/// The vault's observers: continuations fed in log order, under the state's write lock, as
/// transactions become visible to readers.
final class ChangeObservers: Sendable {
    private let continuations = Locked<[Int: AsyncThrowingStream<VaultChange, any Error>.Continuation]?>([:])
    private let nextKey = Atomic<Int>(0)
    private let count = Atomic<Int>(0)

    /// Whether anyone observes: checked before building a change, so commits pay nothing
    /// without observers.
    var isEmpty: Bool { observerCount == 0 }

    /// How many observe now.
    var observerCount: Int { count.load(ordering: .relaxed) }

    /// Adds an observer; nil when the vault is closed (the caller finishes the stream).
    func add(_ continuation: AsyncThrowingStream<VaultChange, any Error>.Continuation) -> Int? {
        let key = nextKey.wrappingAdd(1, ordering: .relaxed).oldValue
        let added = continuations.withLock { all -> Bool in
            guard all != nil else { return false }
            all?[key] = continuation
            return true
        }
        guard added else { return nil }
        count.add(1, ordering: .relaxed)
        return key
    }

    func remove(_ key: Int) {
        if continuations.withLock({ $0?.removeValue(forKey: key) }) != nil { count.subtract(1, ordering: .relaxed) }
    }

    /// Hands a transaction that just became visible to every observer.
    func notify(
        generation: @autoclosure () -> UInt32, sequence: UInt64, timeMilliseconds: UInt64, actor: String,
        operations: [ModelOperation]
    ) {
        guard !isEmpty else { return }
        let change = VaultChange(
            generation: generation(), sequence: sequence, timeMilliseconds: timeMilliseconds, actor: actor,
            operations: operations)
        continuations.withLock { for continuation in $0?.values ?? [:].values { continuation.yield(change) } }
    }

    /// Ends every observation, for good: the vault was closed.
    func finishAll() {
        let ended = continuations.withLock { all in
            defer { all = nil }
            return Array(all?.values ?? [:].values)
        }
        count.store(0, ordering: .relaxed)
        for continuation in ended { continuation.finish() }
    }
}

extension Vault {
    /// The changes committed from now on, in log order: this instance's own commits as they
    /// become visible, and other instances' commits (no call to `refresh()` needed) — on a
    /// log shared through PostgreSQL as the server notifies them (LISTEN/NOTIFY, on a
    /// connection and a thread the observation keeps while it lasts), on a vault file opened
    /// read-only beside a writer by refreshing every `pollingEvery`.
    ///
    /// ```swift
    /// for try await change in vault.changes() {
    ///     if !change.credentials.isEmpty { cache.invalidate(change.credentials) }
    /// }
    /// ```
    ///
    /// Backpressure: the stream keeps the newest `bufferingNewest` changes an observer has not
    /// taken yet and drops older ones; a jump in ``VaultChange/sequence`` shows it, and the
    /// index (``read(_:)``) always has the whole state. Cancelling the consuming task, or
    /// dropping the stream, ends the observation and its polling. The stream finishes when the
    /// vault is closed, and throws when refreshing fails: `.corrupted`, and `.io` on a file; on
    /// a shared log an I/O error is an outage, which delays changes until the server answers
    /// again, and the stream goes on. Following a shared log takes a connection and a thread
    /// per observation, started in the background.
    ///
    /// - Parameters:
    ///   - bufferingNewest: how many changes wait for a slow observer, 1 or more.
    ///   - pollingEvery: how often a read-only vault file looks for a writer's commits while
    ///     observed (20 ms unless given); on a shared log, how often it looks besides the
    ///     notifications, which bounds how late a notification missed while the connection was
    ///     down makes a change (1 s unless given). A writer of a file sees every commit without
    ///     looking.
    public func changes(
        bufferingNewest: Int = 4096, pollingEvery: Duration? = nil
    ) -> AsyncThrowingStream<VaultChange, any Error> {
        let (stream, continuation) = AsyncThrowingStream<VaultChange, any Error>.makeStream(
            bufferingPolicy: .bufferingNewest(max(bufferingNewest, 1)))
        guard let key = observers.add(continuation) else {
            continuation.finish()  // closed: nothing will come
            return stream
        }
        let interval = max(pollingEvery ?? (store.isShared ? .seconds(1) : .milliseconds(20)), .milliseconds(1))
        let poller = Locked<Task<Void, Never>?>(nil)
        // The follower, once started, and whether the observation ended (maybe before that).
        let following = Locked<(follower: (any SharedLogFollower)?, ended: Bool)>((nil, false))
        let stopFollowing: @Sendable () -> Void = {
            let follower = following.withLock { state in
                state.ended = true
                return state.follower
            }
            // Stopping waits for the follower's thread: never on that thread, nor the caller's.
            if let follower { BlockingThreads.shared.run { follower.stop() } }
        }
        continuation.onTermination = { [weak self] _ in
            poller.withLock { $0?.cancel() }
            stopFollowing()
            self?.observers.remove(key)
        }
        let isShared = store.isShared
        // An I/O error on a shared log is an outage: the follower reconnects, and the next
        // notification or look catches up. Anything else ends the observation.
        let ends: @Sendable (CofferError) -> Bool = { error in !(isShared && error.code.isIO) }
        // On a shared log, the store tells of other instances' commits (PostgreSQL: NOTIFY)
        // and a refresh on its follower's thread catches up with them.
        let refreshOnChange: @Sendable () -> Void = { [weak self] in
            guard let self else {
                continuation.finish()
                return stopFollowing()
            }
            do throws(CofferError) {
                try self.refresh()
            } catch  where error.code == .closed {
                continuation.finish()
                stopFollowing()
            } catch  where ends(error) {
                continuation.finish(throwing: error)
                stopFollowing()
            } catch {}
        }
        let poll: @Sendable () -> Void = { [weak self] in
            let task = Task.detached { [weak self] in
                while !Task.isCancelled {
                    guard let self else { return continuation.finish() }
                    do throws(CofferError) {
                        try await self.refresh()
                    } catch  where error.code == .closed {
                        return continuation.finish()
                    } catch  where ends(error) {
                        return continuation.finish(throwing: error)
                    } catch {}
                    try? await Task.sleep(for: interval)
                }
            }
            poller.withLock { $0 = task }
            if following.withLock({ $0.ended }) { task.cancel() }
        }
        if isShared {
            // Following connects to the server: not on the caller's thread, which may be one of
            // Swift's cooperative threads.
            let store = self.store
            BlockingThreads.shared.run {
                guard let follower = try? store.followOtherInstances(interval: interval, refreshOnChange) else {
                    return poll()  // the store could not be followed: look every interval instead
                }
                let ended = following.withLock { state in
                    if !state.ended { state.follower = follower }
                    return state.ended
                }
                if ended { return follower.stop() }
                // What was committed between the call and the LISTEN sent no notification here.
                refreshOnChange()
            }
        } else if isReadOnly {
            poll()
        }
        return stream
    }
}
