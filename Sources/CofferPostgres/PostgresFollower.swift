import CofferCrypto
import CofferErrors
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps an instance fresh with what other instances commit to a shared vault: a thread that
/// LISTENs on the vault's channel and calls `refresh` (typically `Vault.refresh()`) after
/// every notification, and at least every `interval` besides, so that a notification missed
/// while the connection was down costs at most one interval (the refresh catches up by
/// sequence number, not from the notification's content).
///
/// ```swift
/// let follower = try PostgresFollower(location: location) { _ = try? vault.refresh() }
/// defer { follower.stop() }
/// ```
public final class PostgresFollower: SharedLogFollower, @unchecked Sendable {
    private let listener: PostgresVaultListener
    private let refresh: @Sendable () -> Void
    private let interval: Duration
    private let lock = Lock()
    private var stopped = false
    private var thread: pthread_t?

    /// Starts following the vault the location names (`?vault=NAME`).
    ///
    /// - Throws: `.invalidInput` without a vault name; `.notFound`; `.io` when the server
    ///   cannot be reached.
    public init(
        location: PostgresLocation, interval: Duration = .seconds(1), refresh: @escaping @Sendable () -> Void
    ) throws(CofferError) {
        let log = try PostgresSharedLog(location: location)
        defer { log.close() }
        guard let state = try log.state() else {
            throw CofferError(.notFound, "No vault named \(log.vaultName) is in the database.")
        }
        do {
            listener = try PostgresVaultListener(location: location, vaultID: state.vaultID)
        } catch let error as CofferError {
            throw error
        } catch {
            throw CofferError(.io(errno: EIO), "Listening for the vault's notifications failed.")
        }
        self.refresh = refresh
        self.interval = interval
        let box = Unmanaged.passRetained(self).toOpaque()
        var created = pthread_t()
        let status = pthread_create(
            &created, nil,
            { argument in
                let follower = Unmanaged<PostgresFollower>.fromOpaque(argument!).takeRetainedValue()
                follower.follow()
                return nil
            }, box)
        guard status == 0 else {
            Unmanaged<PostgresFollower>.fromOpaque(box).release()
            listener.close()
            throw CofferError(.io(errno: status), "No thread could be started to follow the vault.")
        }
        thread = created
    }

    private func follow() {
        while !lock.withLock({ stopped }) {
            do {
                _ = try listener.waitForNotification(timeout: interval)
                // Several notifications in a row are caught up with one refresh.
                while try listener.waitForNotification(timeout: .zero) != nil {}
            } catch let error as CofferError where error.code == .closed {
                return
            } catch {
                // The connection is down and did not come back within the interval: refresh
                // anyway (it reports nothing), and listen again.
            }
            refresh()
        }
    }

    /// Stops the thread and closes the connection; returns once the thread has finished.
    public func stop() {
        let running = lock.withLock { () -> pthread_t? in
            stopped = true
            defer { thread = nil }
            return thread
        }
        listener.close()
        if let running, !pthread_equal(running, pthread_self()).boolValue { pthread_join(running, nil) }
    }
}

extension Int32 {
    fileprivate var boolValue: Bool { self != 0 }
}
