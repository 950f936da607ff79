#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body(thread)` on `count` POSIX threads that start together (a barrier) and returns
/// the seconds from their start to the last one's end.
public func runThreads(_ count: Int, _ body: @escaping @Sendable (_ thread: Int) -> Void) -> Double {
    final class Start: @unchecked Sendable {
        var barrier = pthread_barrier_t()
        init(_ parties: Int) { pthread_barrier_init(&barrier, nil, UInt32(parties)) }
        deinit { pthread_barrier_destroy(&barrier) }
    }
    final class Job: @unchecked Sendable {
        let thread: Int
        let start: Start
        let body: @Sendable (Int) -> Void
        init(thread: Int, start: Start, body: @escaping @Sendable (Int) -> Void) {
            self.thread = thread
            self.start = start
            self.body = body
        }
    }
    let start = Start(count + 1)
    var threads: [pthread_t] = []
    for index in 0..<count {
        let job = Unmanaged.passRetained(Job(thread: index, start: start, body: body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                pthread_barrier_wait(&job.start.barrier)
                job.body(job.thread)
                return nil
            }, job)
        precondition(status == 0, "pthread_create failed: \(status)")
        threads.append(thread)
    }
    pthread_barrier_wait(&start.barrier)
    let began = Clock.nanoseconds()
    for thread in threads { pthread_join(thread, nil) }
    return Double(Clock.nanoseconds() - began) / 1e9
}

/// One slot per thread, filled without a lock: each thread writes only its own slot, and the
/// owner reads them after `runThreads` has joined every thread.
public final class PerThread<Value>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Value>
    public let count: Int

    public init(count: Int, initial: Value) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: initial, count: count)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// Sets the value of thread `index`; called by that thread only.
    public func set(_ index: Int, _ value: Value) {
        slots[index] = value
    }

    /// Every slot, in thread order.
    public var values: [Value] { (0..<count).map { slots[$0] } }
}

/// A plain mutex for the baselines' writer serialization.
public final class PlainLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
