import CProcessControl
import CofferStorage
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Threads of Coffer's own for work that can block one: the `async` API's calls (a sync, the
/// writer lock, Argon2id, a compaction), background checkpoints, a shared log's follower.
///
/// Not Dispatch's global queues: on Linux, Swift's global executor runs tasks on those same
/// threads, about one per processor, so a job blocked there stops every task behind it. Not a
/// fixed pool either: a job never waits for another to finish (one may be waiting for what
/// another does, a writer lock for instance). A job goes to an idle thread, or to a new one
/// when none is idle; a thread idle for ``idleSeconds`` (ten by default) ends, so an idle process
/// keeps none.
final class BlockingThreads: @unchecked Sendable {
    /// The threads of every vault in the process.
    static let shared = BlockingThreads()

    /// How long a thread waits for another job before it ends.
    let idleSeconds: Int

    private let lock = Lock()
    /// Threads waiting for a job, the most recently idle last (it is handed the next job: its
    /// stack and caches are warm, and the others can time out).
    private var idle: [Worker] = []

    /// A thread's handover slot, guarded by its own lock: a job is handed to one chosen thread.
    private final class Worker: @unchecked Sendable {
        let lock = Lock()
        var job: (@Sendable () -> Void)?

        init(job: @escaping @Sendable () -> Void) { self.job = job }
    }

    init(idleSeconds: Int = 10) {
        self.idleSeconds = idleSeconds
    }

    /// The threads waiting for a job now.
    var idleThreads: Int { lock.withLock { idle.count } }

    /// Runs `job` on a thread of the pool, at once: on an idle thread, or on a new one.
    func run(_ job: @escaping @Sendable () -> Void) {
        if let worker = lock.withLock({ idle.popLast() }) {
            worker.lock.withLock {
                worker.job = job
                worker.lock.broadcast()
            }
            return
        }
        let worker = Worker(job: job)
        let box = Unmanaged.passRetained(Started(pool: self, worker: worker)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let status = pthread_create(
            &thread, &attributes,
            { argument in
                let started = Unmanaged<Started>.fromOpaque(argument!).takeRetainedValue()
                started.pool.serve(started.worker)
                return nil
            }, box)
        pthread_attr_destroy(&attributes)
        if status != 0 {
            // No thread to be had (the process is at its thread limit): the job still runs,
            // on Dispatch's threads, rather than never, and not on the calling thread (which
            // may be the very one a job waits for, or hold a lock it takes).
            Unmanaged<Started>.fromOpaque(box).release()
            DispatchQueue.global().async(execute: job)
        }
    }

    /// What a new thread starts with.
    private final class Started {
        let pool: BlockingThreads
        let worker: Worker

        init(pool: BlockingThreads, worker: Worker) {
            self.pool = pool
            self.worker = worker
        }
    }

    /// A thread's life: its job, then each job handed to it, until none comes for
    /// ``idleSeconds``.
    private func serve(_ worker: Worker) {
        _ = coffer_set_thread_name("coffer-blocking")
        repeat {
            // The job, and what it holds (a vault the caller has let go of, a continuation),
            // is released before the thread waits for the next: a vault dropped without
            // `close()` then closes at once, not when this thread ends.
            if let job = worker.lock.withLock({ () -> (@Sendable () -> Void)? in
                defer { worker.job = nil }
                return worker.job
            }) {
                job()
            }
            lock.withLock { idle.append(worker) }
        } while waitForJob(worker)
    }

    /// Waits until a job is handed to `worker`; false when none came in time and the thread
    /// left the idle list (nothing can be handed to it any more).
    private func waitForJob(_ worker: Worker) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        deadline.tv_sec += idleSeconds
        let handed = worker.lock.withLock { () -> Bool in
            while worker.job == nil {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                if now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec) {
                    return false
                }
                worker.lock.wait(until: deadline)
            }
            return true
        }
        if handed { return true }
        // Timed out: leave the idle list, unless a caller took this thread from it meanwhile,
        // whose job is then on its way.
        let left = lock.withLock { () -> Bool in
            guard let place = idle.firstIndex(where: { $0 === worker }) else { return false }
            idle.remove(at: place)
            return true
        }
        if left { return false }
        worker.lock.withLock {
            while worker.job == nil { worker.lock.wait() }
        }
        return true
    }
}
