import BenchSupport
import Coffer
import CofferStorage

/// The storage layer alone: `VaultStore.append` of one 400-byte payload (the median record's
/// bucket, 512 B), durable, from one thread and from eight at once (group commit).
struct RawLog {
    let directory: String
    let repetitions: Int

    func run() throws -> [Figure] {
        let path = "\(directory)/raw-log.coffer"
        ProcessFacts.remove(path)
        let key = SecureBytes(randomCount: 32)
        let store = try VaultStore.create(
            path: path, secret: .keyFile(key), options: VaultStore.Options(durability: .synchronous))
        defer {
            store.close()
            ProcessFacts.remove(path)
        }
        let payload = SecureBytes(randomCount: 400)
        var figures: [Figure] = []

        let operations = 500
        var samples: [UInt64] = []
        let single = try repeatRuns(repetitions: repetitions) { _ in
            Double(operations)
                / (try Clock.seconds {
                    for _ in 0..<operations {
                        let start = Clock.nanoseconds()
                        _ = try store.append([payload])
                        samples.append(Clock.nanoseconds() - start)
                    }
                })
        }
        figures.append(
            Figure(
                workload: "raw_append", engine: "coffer",
                variant: "VaultStore.append of one 400 B payload, synchronous, 1 thread",
                size: nil, unit: "commits/s", higherIsBetter: true, operations: operations, values: single,
                latency: Latency(nanoseconds: samples)))

        let threads = 8
        let perThread = 250
        samples = []
        let concurrent = try repeatRuns(repetitions: repetitions) { _ in
            let latencies = PerThread<[UInt64]>(count: threads, initial: [])
            let failures = PerThread<String?>(count: threads, initial: nil)
            let seconds = runThreads(threads) { thread in
                var local: [UInt64] = []
                local.reserveCapacity(perThread)
                for _ in 0..<perThread {
                    let start = Clock.nanoseconds()
                    do { _ = try store.append([payload]) } catch {
                        failures.set(thread, "\(error)")
                        return
                    }
                    local.append(Clock.nanoseconds() - start)
                }
                latencies.set(thread, local)
            }
            if let failure = failures.values.compactMap({ $0 }).first { throw WrongAnswer(description: failure) }
            samples += latencies.values.flatMap { $0 }
            return Double(threads * perThread) / seconds
        }
        figures.append(
            Figure(
                workload: "raw_append", engine: "coffer",
                variant: "VaultStore.append of one 400 B payload, synchronous, 8 threads (group commit)",
                size: nil, threads: threads, unit: "commits/s", higherIsBetter: true, operations: threads * perThread,
                values: concurrent, latency: Latency(nanoseconds: samples)))
        return figures
    }
}
