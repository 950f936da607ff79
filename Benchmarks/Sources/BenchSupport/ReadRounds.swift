/// How the read workloads (reveals, resolutions) are timed, for every engine alike: rounds in
/// which each of `threads` threads makes `operations` calls, `body(thread, position)`. A call's
/// position runs on from an offset that differs by thread (`threadStride` apart) and by round
/// (`roundStride` apart), so that no two threads and no two rounds go through the inputs in the
/// same order; the caller takes its input at `position` modulo their count.
///
/// Returns the rate (calls a second, all threads together) of each of `repetitions` rounds after
/// a warm-up (``repeatRuns(repetitions:warmups:_:)``), and the latencies of one more round, from
/// `latencyOffset`, that times every call: reading the clock around each call would slow the
/// rated rounds.
public func readRounds(
    threads: Int, operations: Int, repetitions: Int, threadStride: Int, roundStride: Int, latencyOffset: Int,
    _ body: @escaping @Sendable (_ thread: Int, _ position: Int) -> Void
) -> (rates: [Double], latency: Latency) {
    func round(from offset: Int, timed: Bool) -> (rate: Double, latencies: [UInt64]) {
        let latencies = PerThread<[UInt64]>(count: threads, initial: [])
        let seconds = runThreads(threads) { thread in
            var samples: [UInt64] = []
            if timed { samples.reserveCapacity(operations) }
            for operation in 0..<operations {
                let start = timed ? Clock.nanoseconds() : 0
                body(thread, offset + thread * threadStride + operation)
                if timed { samples.append(Clock.nanoseconds() - start) }
            }
            latencies.set(thread, samples)
        }
        return (Double(operations * threads) / seconds, latencies.values.flatMap { $0 })
    }
    let rates = repeatRuns(repetitions: repetitions) { repetition in
        round(from: (repetition + 2) * roundStride, timed: false).rate
    }
    return (rates, Latency(nanoseconds: round(from: latencyOffset, timed: true).latencies))
}
