import CofferCrypto
import CofferErrors
import CofferStorage
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// Waits for the NOTIFY that commits to one vault send, on a connection of its own.
///
/// ```swift
/// let listener = try PostgresVaultListener(location: location, vaultID: uuid)
/// var last = try store.lastSequence(vaultID: uuid, logGeneration: generation)
/// while running {
///     _ = try listener.waitForNotification(timeout: .seconds(5))
///     // Whatever came back (a notification, nil after the timeout): catch up by sequence.
///     for frame in try store.readFrames(vaultID: uuid, logGeneration: generation, after: last, limit: 500) {
///         apply(frame); last = frame.sequence
///     }
/// }
/// ```
///
/// A notification is a hint, not the data: the follower catches up by sequence numbers with
/// ``PostgresFrameStore/readFrames(vaultID:logGeneration:after:limit:)``, so a missed
/// notification is harmless. Notifications are missed while the connection is down: when it
/// is lost, the next ``waitForNotification(timeout:)`` reconnects and LISTENs again, and the
/// caller should catch up after every wake-up, including a timeout. Notifications that arrive
/// while no one waits are queued, the oldest dropped beyond ``queuedNotificationsMax``.
///
/// Thread-safe; callers of ``waitForNotification(timeout:)`` take turns. ``close()`` may be
/// called from any thread and wakes a waiter.
public final class PostgresVaultListener: Sendable {
    /// The most notifications kept for a caller that is not waiting; older ones are dropped,
    /// which is harmless since the caller catches up by sequence number.
    public static let queuedNotificationsMax = 1024

    /// Where the listener connects.
    public let location: PostgresLocation
    /// The vault it listens for.
    public let vaultID: [UInt8]
    /// The vault's channel (``PostgresFrameStore/notificationChannel(vaultID:)``).
    public let channel: String

    private let state: ListenerState
    /// Serializes waiters and reconnections. Never taken on an event loop.
    private let turns = Lock()

    /// Connects and LISTENs on the vault's channel; notifications sent from now on are received.
    ///
    /// - Throws: `CofferError(.invalidInput)` for a bad vault id; `.io` when the server cannot
    ///   be reached or refuses.
    public init(location: PostgresLocation, vaultID: [UInt8]) throws {
        self.location = location
        self.vaultID = vaultID
        self.channel = try PostgresFrameStore.notificationChannel(vaultID: vaultID)
        self.state = ListenerState()
        try turns.withLock { try connectAndListen() }
    }

    deinit {
        close()
    }

    /// How many times the listener connected: 1, plus one per reconnection after a loss.
    public var connectionsOpened: Int { state.lock.withLock { state.connectionCount } }

    /// Returns the oldest notification not yet returned, waiting up to `timeout` for one.
    ///
    /// When the connection was lost, it first reconnects and LISTENs again, retrying within
    /// `timeout`; notifications sent while it was down are not received.
    ///
    /// - Parameter timeout: How long to wait at most.
    /// - Returns: The notification, or nil when `timeout` passed without one.
    /// - Throws: `CofferError(.closed)` after ``close()``; `.io` when the connection is down
    ///   and could not be opened again before `timeout` passed.
    public func waitForNotification(timeout: Duration) throws -> PostgresLogNotification? {
        let deadline = MonotonicClock.adding(timeout.clampedNanoseconds, to: MonotonicClock.now())
        return try turns.withLock {
            var backoffNanoseconds: Int64 = 20_000_000
            while true {
                let (notification, isConnected) = try state.lock.withLock {
                    () throws -> (PostgresLogNotification?, Bool) in
                    while true {
                        guard !state.isClosed else { throw CofferError(.closed, "The listener was closed.") }
                        if !state.queue.isEmpty { return (state.queue.removeFirst(), true) }
                        guard state.connection != nil else { return (nil, false) }
                        if MonotonicClock.hasPassed(deadline) { return (nil, true) }
                        state.lock.wait(until: deadline)
                    }
                }
                if isConnected { return notification }
                do {
                    try connectAndListen()
                } catch let error as CofferError where error.code != .closed {
                    let remaining = MonotonicClock.nanoseconds(until: deadline)
                    guard remaining > 0 else {
                        throw CofferError(
                            error.code, "The listener lost its connection and cannot reconnect: \(error.message)")
                    }
                    var pause = timespec()
                    let nanoseconds = min(backoffNanoseconds, remaining)
                    pause.tv_sec = Int(nanoseconds / 1_000_000_000)
                    pause.tv_nsec = Int(nanoseconds % 1_000_000_000)
                    nanosleep(&pause, nil)
                    backoffNanoseconds = min(backoffNanoseconds * 2, 1_000_000_000)
                }
            }
        }
    }

    /// Stops listening and closes the connection. Later waits throw `CofferError(.closed)`.
    public func close() {
        let connection = state.lock.withLock {
            state.isClosed = true
            state.broadcastAll()
            defer { state.connection = nil }
            return state.connection
        }
        connection?.closeWithinDeadline()
    }

    /// Opens a connection, registers the handler and LISTENs. Called holding `turns`.
    private func connectAndListen() throws {
        let state = self.state
        let number = state.lock.withLock { state.connectionCount + 1 }
        let connection = try PostgresSession.open(location, id: number)
        connection.addListener(channel: channel) { [weak state] _, message in
            guard let notification = PostgresLogNotification(payload: message.payload) else { return }
            state?.receive(notification)
        }
        do {
            // addListener sends its own LISTEN without telling when it is done; this one
            // returns once the server listens, so a commit after init is received.
            try Statements(connection: connection, timeouts: location.timeouts, transactionDeadline: nil)
                .execute(PostgresQuery(unsafeSQL: "LISTEN \"\(channel)\""))
        } catch {
            connection.closeWithinDeadline()
            let failure = error as? StatementFailure ?? .connectionLost(errno: EIO)
            let reason = failure.endsTheConnection ? failure.what("LISTEN", location.timeouts) : "It refused"
            throw CofferError(
                .io(errno: failure.errno), "PostgreSQL at \(location) did not LISTEN on \(channel): \(reason).")
        }
        let epoch = state.lock.withLock { () -> Int? in
            guard !state.isClosed else { return nil }
            state.connectionCount += 1
            state.connection = connection
            state.connectionEpoch += 1
            return state.connectionEpoch
        }
        guard let epoch else {
            connection.closeWithinDeadline()
            throw CofferError(.closed, "The listener was closed.")
        }
        connection.closeFuture.whenComplete { [weak state] _ in
            state?.connectionLost(epoch: epoch)
        }
    }
}

/// The state a listener shares with the event loop's callbacks, behind one lock that is only
/// ever held briefly, never while waiting on a future.
private final class ListenerState: @unchecked Sendable {
    let lock = Lock()
    /// Guarded by `lock`.
    var queue: [PostgresLogNotification] = []
    /// Guarded by `lock`; nil while disconnected.
    var connection: PostgresConnection?
    /// Guarded by `lock`: tells a stale connection's close callback from the current one's.
    var connectionEpoch = 0
    /// Guarded by `lock`.
    var connectionCount = 0
    /// Guarded by `lock`.
    var isClosed = false

    /// Called on the event loop for every notification.
    func receive(_ notification: PostgresLogNotification) {
        lock.withLock {
            if queue.count >= PostgresVaultListener.queuedNotificationsMax { queue.removeFirst() }
            queue.append(notification)
            lock.broadcast()
        }
    }

    /// Called on the event loop when a connection closes.
    func connectionLost(epoch: Int) {
        lock.withLock {
            guard epoch == connectionEpoch else { return }
            connection = nil
            lock.broadcast()
        }
    }

    /// Wakes every waiter; called holding `lock`.
    func broadcastAll() { lock.broadcast() }
}
