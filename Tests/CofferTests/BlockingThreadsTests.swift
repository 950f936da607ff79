import CProcessControl
import CofferStorage
import Dispatch
import XCTest

@testable import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// The threads blocking work runs on: Coffer's own, one per job when jobs block together, reused
/// while busy, gone when idle.
final class BlockingThreadsTests: XCTestCase {
    /// The name of the calling thread.
    static func threadName() -> String {
        var buffer = [CChar](repeating: 0, count: 16)
        _ = coffer_get_thread_name(&buffer)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Polls `condition` for up to ten seconds.
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<10_000 {
            if condition() { return true }
            usleep(1000)
        }
        return condition()
    }

    /// More jobs than the machine has processors, each waiting until all of them run: on a
    /// pool of a fixed size (Dispatch's global queues, Swift's cooperative pool) they would
    /// wait for each other. Each runs on a thread of Coffer's own.
    func testJobsThatBlockTogetherAllRunAtOnce() {
        let pool = BlockingThreads()
        let count = 3 * ProcessInfo.processInfo.activeProcessorCount + 2
        final class Meeting: @unchecked Sendable {
            let lock = Lock()
            var arrived = 0
            var sawEveryone = 0
            var names: Set<String> = []
        }
        let meeting = Meeting()
        let lock = meeting.lock
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<count {
            pool.run {
                let name = Self.threadName()
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                deadline.tv_sec += 10
                lock.withLock {
                    meeting.arrived += 1
                    meeting.names.insert(name)
                    lock.broadcast()
                    while meeting.arrived < count {
                        var now = timespec()
                        clock_gettime(CLOCK_MONOTONIC, &now)
                        if now.tv_sec >= deadline.tv_sec { break }
                        lock.wait(until: deadline)
                    }
                    if meeting.arrived == count { meeting.sawEveryone += 1 }
                }
                done.signal()
            }
        }
        for _ in 0..<count { XCTAssertEqual(done.wait(timeout: .now() + .seconds(20)), .success) }
        XCTAssertEqual(lock.withLock { meeting.sawEveryone }, count, "every job ran while the others waited")
        XCTAssertEqual(lock.withLock { meeting.names }, ["coffer-blocking"])
    }

    /// A thread that finished its job takes the next; one idle for `idleSeconds` ends.
    func testAnIdleThreadIsReusedThenEnds() {
        let pool = BlockingThreads(idleSeconds: 1)
        let threads = Locked<[pthread_t]>([])
        for _ in 0..<2 {
            let done = DispatchSemaphore(value: 0)
            pool.run {
                threads.withLock { $0.append(pthread_self()) }
                done.signal()
            }
            XCTAssertEqual(done.wait(timeout: .now() + .seconds(10)), .success)
            XCTAssertTrue(eventually { pool.idleThreads == 1 }, "the thread waits for another job")
        }
        let seen = threads.withLock { $0 }
        XCTAssertEqual(pthread_equal(seen[0], seen[1]), 1, "the idle thread took the second job")
        XCTAssertTrue(eventually { pool.idleThreads == 0 }, "an idle thread ends")
    }

    /// The `async` API's blocking work runs there, not on the task's thread.
    func testTheAsyncAPIRunsItsBlockingWorkThere() throws {
        let done = DispatchSemaphore(value: 0)
        let name = Locked<String?>(nil)
        Task {
            let ran = await BlockingThreadsTests.nameOfTheThreadOffloadedWorkRunsOn()
            name.withLock { $0 = ran }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + .seconds(20)), .success)
        XCTAssertEqual(name.withLock { $0 }, "coffer-blocking")
    }

    static func nameOfTheThreadOffloadedWorkRunsOn() async -> String? {
        try? await Vault.offload { () throws(CofferError) -> String in threadName() }
    }
}
