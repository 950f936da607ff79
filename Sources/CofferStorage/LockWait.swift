import CofferCrypto
import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Waiting for another process to release a vault's writer lock: tries again after 5 ms,
/// doubling to at most 250 ms between tries, until the deadline passes. A lock has no queue
/// (`flock`), so waiters are not served in order; each waits at most its own deadline.
public struct LockWait: Sendable {
    /// The longest wait a caller can ask for: a day.
    public static let maximum = Duration.seconds(86_400)

    private let deadline: ContinuousClock.Instant
    private var interval = Duration.milliseconds(5)

    /// - Throws: `.invalidInput` when `limit` is negative or over ``maximum``.
    public init(_ limit: Duration) throws(CofferError) {
        guard limit >= .zero, limit <= Self.maximum else {
            throw CofferError(.invalidInput, "A lock wait is from 0 to 86400 seconds.")
        }
        deadline = ContinuousClock.now + limit
    }

    /// Sleeps before the next try; false, without sleeping, once the deadline has passed.
    public mutating func pause() -> Bool {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return false }
        let sleep = min(interval, left)
        interval = min(interval * 2, .milliseconds(250))
        let (seconds, attoseconds) = sleep.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
        return true
    }

    /// A duration in seconds as a person reads it: "30 s", "0.5 s".
    public static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0 else { return "\(seconds) s" }
        var fraction = String(milliseconds)
        while fraction.count < 3 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(seconds).\(fraction) s"
    }
}
