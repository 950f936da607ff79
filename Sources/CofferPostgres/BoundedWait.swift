import CofferStorage
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// A moment on the monotonic clock by which a wait must end.
struct Deadline {
    /// The moment, as a `CLOCK_MONOTONIC` time that ``Lock/wait(until:)`` understands.
    let time: timespec

    /// The moment `duration` from now.
    static func after(_ duration: Duration) -> Deadline {
        Deadline(time: MonotonicClock.adding(duration.clampedNanoseconds, to: MonotonicClock.now()))
    }

    /// This deadline or `other`, whichever comes first.
    func earlier(_ other: Deadline?) -> Deadline {
        guard let other else { return self }
        return (other.time.tv_sec, other.time.tv_nsec) < (time.tv_sec, time.tv_nsec) ? other : self
    }

    var hasPassed: Bool { MonotonicClock.hasPassed(time) }
}

/// How a bounded wait for a future ended.
enum BoundedWaitOutcome<Value> {
    /// The future succeeded.
    case value(Value)
    /// The future failed.
    case failure(any Error)
    /// The deadline passed first.
    case timedOut
    /// The channel it depended on closed first.
    case closed
}

extension EventLoopFuture {
    /// Waits on the calling thread for the future, at most until `deadline`, and, when
    /// `closeFuture` is given, only as long as that channel is open.
    ///
    /// The channel matters because a future can stay pending forever once its connection is
    /// gone: postgres-nio 1.33 writes a query to its channel without a promise, so a query
    /// sent on a connection the server just closed is never answered nor failed. Both
    /// callbacks run on the channel's event loop, in the order things happened there: a
    /// query answered before the connection closed returns its answer.
    ///
    /// Never call it on an event loop: the loop would wait for itself.
    func wait(until deadline: Deadline, orUntilClosed closeFuture: EventLoopFuture<Void>? = nil)
        -> BoundedWaitOutcome<Value>
    {
        precondition(!eventLoop.inEventLoop, "a bounded wait on an event loop would wait for itself")
        let waiter = FutureWaiter<Value>()
        whenComplete { result in
            switch result {
            case .success(let value): waiter.finish(.value(value))
            case .failure(let error): waiter.finish(.failure(error))
            }
        }
        closeFuture?.whenComplete { _ in waiter.finish(.closed) }
        return waiter.wait(until: deadline)
    }
}

/// The outcome a bounded wait waits for: the first one set wins.
private final class FutureWaiter<Value>: @unchecked Sendable {
    private let lock = Lock()
    /// Guarded by `lock`.
    private var outcome: BoundedWaitOutcome<Value>?

    func finish(_ result: BoundedWaitOutcome<Value>) {
        lock.withLock {
            if case .some = outcome { return }
            outcome = result
            lock.broadcast()
        }
    }

    func wait(until deadline: Deadline) -> BoundedWaitOutcome<Value> {
        lock.withLock {
            while case .none = outcome {
                if deadline.hasPassed {
                    outcome = .timedOut
                    break
                }
                lock.wait(until: deadline.time)
            }
            return outcome!
        }
    }
}

extension PostgresConnection {
    /// The longest a close waits for the channel to close: a close is a courtesy to the
    /// server, which ends the session on its own when the socket goes.
    static let closeWaitMax: Duration = .seconds(2)

    /// Closes the connection, waiting at most ``closeWaitMax``.
    func closeWithinDeadline() {
        _ = close().wait(until: .after(Self.closeWaitMax))
    }
}
