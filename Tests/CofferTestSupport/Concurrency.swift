import Foundation

/// Runs `body` on `count` new threads at once and waits for all of them. Unlike
/// `DispatchQueue.concurrentPerform`, which runs at most as many at a time as there are cores
/// (two on a small CI machine), every one of them runs at the same time.
public func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread {
            body(index)
            group.leave()
        }.start()
    }
    group.wait()
}

/// Holds threads until `count` of them have arrived, so that what they do next overlaps.
public final class StartGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: Int

    public init(count: Int) { waiting = count }

    public func arriveAndWait() {
        condition.lock()
        waiting -= 1
        if waiting == 0 { condition.broadcast() }
        while waiting > 0 { condition.wait() }
        condition.unlock()
    }
}
