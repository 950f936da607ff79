import CofferCrypto
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import Foundation
import XCTest

/// Seeded crash simulation of the storage layer.
///
/// Random workloads (single, batched and concurrent appends, data-key rotations, keyslot
/// changes, reopens) run on a ``SimulatedDisk`` whose power is cut after a random call, between
/// steps, or after every sync, write and rename of a few small runs, in every ``CrashMode``.
/// After each cut the vault must pass ``CrashCheck``. Every failure names the seed and run that
/// replay it; `COFFER_CRASH_STATES` scales the random suite (see ``CrashSettings``).
final class CrashSimulationTests: XCTestCase {
    static let path = "/vault/v.coffer"
    /// Crash states per random run: the whole workload, then four runs cut short.
    static let statesPerRun = 5
    /// The machine has two cores; each worker runs whole runs, so results do not depend on it.
    static let workerCount = 2

    func testRandomWorkloadsSurviveCrashesAtRandomPoints() {
        let settings = CrashSettings.storageSuite()
        let runCount = (settings.crashStates + Self.statesPerRun - 1) / Self.statesPerRun
        let runs = settings.onlyRun.map { [$0] } ?? Array(0..<runCount)
        let failures = FailureLog()
        let totals = Locked(Totals())
        let workers = min(Self.workerCount, runs.count)
        runConcurrently(workers) { worker in
            for (position, run) in runs.enumerated() where position % workers == worker {
                let result = Self.simulateRandomRun(run, settings: settings, failures: failures)
                totals.withLock { $0 += result }
            }
        }
        let total = totals.withLock { $0 }
        print("crash states tried: \(total.states)")
        print(
            "random crash suite: \(runs.count) runs; \(total.tally.summary); \(total.concurrentSteps) "
                + "concurrent-append steps, of which \(total.concurrentStepsSharingSyncs) shared syncs")
        XCTAssertGreaterThanOrEqual(total.states, settings.onlyRun == nil ? settings.crashStates : 1)
        if settings.onlyRun == nil && total.concurrentSteps >= 50 {
            XCTAssertGreaterThan(total.concurrentStepsSharingSyncs, 0, "no concurrent appends ever shared a sync")
        }
        failures.report()
    }

    func testCrashAfterEverySyncWriteAndRenameOfSmallRuns() {
        let settings = CrashSettings.storageSuite()
        // Every call of every kind but reads, in every mode. The storage layer renames nothing today;
        // the loop covers renames as soon as something (compaction) uses them.
        let kinds: [SimulatedDisk.Operation] = [.sync, .rename, .write, .syncDirectory, .truncate, .open, .lock]
        var jobs: [(workload: Workload, name: String, point: CrashPoint, mode: CrashMode)] = []
        for (name, workload) in Self.smallWorkloads() {
            let failures = FailureLog()
            let dryRun = Self.crashAndCheck(
                workload, at: .afterSteps(workload.steps.count), in: .loseAllUnsynced, seed: 0,
                label: RunLabel(
                    test: "CrashSimulationTests/testCrashAfterEverySyncWriteAndRenameOfSmallRuns",
                    baseSeed: settings.baseSeed, run: 0, point: "\(name), whole run"),
                failures: failures)
            failures.report()
            for kind in kinds {
                for call in 0..<dryRun.counts[kind, default: 0] {
                    for mode in CrashMode.allCases { jobs.append((workload, name, .afterCall(kind, call), mode)) }
                }
            }
        }
        let jobList = jobs
        let runs = settings.onlyRun.map { [$0] } ?? Array(jobList.indices)
        let failures = FailureLog()
        let totals = Locked(Totals())
        let workers = min(Self.workerCount, runs.count)
        runConcurrently(workers) { worker in
            for (position, run) in runs.enumerated() where position % workers == worker {
                let job = jobList[run]
                let label = settings.label(
                    test: "CrashSimulationTests/testCrashAfterEverySyncWriteAndRenameOfSmallRuns", run: run,
                    point: job.name, isConcurrent: job.workload.usesConcurrency)
                let result = Self.crashAndCheck(
                    job.workload, at: job.point, in: job.mode, seed: settings.seed(forRun: run), label: label,
                    failures: failures)
                totals.withLock { $0 += result }
            }
        }
        let total = totals.withLock { $0 }
        print("crash states tried: \(total.states)")
        print("every-call crash suite: \(jobs.count) cut points over 3 small runs; \(total.tally.summary)")
        failures.report()
    }

    // MARK: - The check itself

    /// The check notices what it exists to catch: a vault that lost an acknowledged append
    /// (here rolled back to an older durable copy) and still opens with a removed secret.
    func testTheCheckNoticesALostAppendAndARemovedSecretThatStillOpens() {
        var generator = SeededGenerator(seed: 1)
        var payloads = PayloadMaker()
        let keyFile = TestSecret.make(.keyFile, number: 1, using: &generator)
        let passphrase = TestSecret.make(.passphrase, number: 2, using: &generator)
        let disk = SimulatedDisk()
        let runner = WorkloadRunner(disk: disk, path: Self.path)
        XCTAssertTrue(runner.create(with: keyFile))
        XCTAssertTrue(runner.run([.append([payloads.make(using: &generator)]), .addKeyslot(passphrase)]))
        let older = disk.contents(of: Self.path)!
        XCTAssertTrue(runner.run([.append([payloads.make(using: &generator)]), .removeKeyslot(id: 2)]))
        runner.closeStore()
        disk.write(path: Self.path, bytes: older, durable: true)

        var check = CrashCheck(
            disk: disk, path: Self.path, history: runner.history, seed: 2, crashesDuringRecovery: false)
        check.verify(afterCrashIn: .loseAllUnsynced)
        XCTAssertTrue(
            check.problems.contains { $0.contains("payload #1 (") && $0.contains("is lost") }, "\(check.problems)")
        XCTAssertTrue(
            check.problems.contains { $0.contains("passphrase #2, removed by an acknowledged change, still opens") },
            "\(check.problems)")
    }

    /// And a record that no request under way wrote: here one appended behind the model's back.
    func testTheCheckNoticesARecordNobodyWasWriting() {
        var generator = SeededGenerator(seed: 3)
        var payloads = PayloadMaker()
        let disk = SimulatedDisk()
        let runner = WorkloadRunner(disk: disk, path: Self.path)
        XCTAssertTrue(runner.create(with: TestSecret.make(.keyFile, number: 1, using: &generator)))
        XCTAssertTrue(runner.run([.append([payloads.make(using: &generator)])]))
        XCTAssertNoThrow(try runner.store!.append([payloads.make(using: &generator).secureBytes]))
        var crashGenerator = SeededGenerator(seed: 4)
        disk.crash(mode: .loseAllUnsynced, using: &crashGenerator)

        var check = CrashCheck(
            disk: disk, path: Self.path, history: runner.history, seed: 5, crashesDuringRecovery: false)
        check.verify(afterCrashIn: .loseAllUnsynced)
        XCTAssertTrue(check.problems.contains { $0.contains("sequence 3 holds a transaction of") }, "\(check.problems)")
        XCTAssertTrue(
            check.problems.contains { $0.contains("every unsynced byte was lost, yet 3 records survive") },
            "\(check.problems)")
    }

    // MARK: - Runs

    /// Where the power is cut.
    enum CrashPoint: Sendable, CustomStringConvertible {
        /// Right after call number `index` of `operation` completes (SimulatedDisk.armCrash).
        case afterCall(SimulatedDisk.Operation, Int)
        /// After this many workload steps, between operations, with the store still open.
        case afterSteps(Int)

        var description: String {
            switch self {
            case .afterCall(let operation, let index): "crash after \(operation) #\(index)"
            case .afterSteps(let count): "crash after step \(count)"
            }
        }
    }

    /// What a batch of crash states added up to.
    struct Totals {
        var states = 0
        var tally = CrashCheck.Tally()
        var concurrentSteps = 0
        var concurrentStepsSharingSyncs = 0
        /// Call counts of the run before its crash.
        var counts: [SimulatedDisk.Operation: Int] = [:]

        static func += (total: inout Totals, part: Totals) {
            total.states += part.states
            total.tally += part.tally
            total.concurrentSteps += part.concurrentSteps
            total.concurrentStepsSharingSyncs += part.concurrentStepsSharingSyncs
        }
    }

    /// One random run: a workload from the run's seed, crashed once after its last step (which
    /// also counts its calls) and then at random calls or between random steps.
    static func simulateRandomRun(_ run: Int, settings: CrashSettings, failures: FailureLog) -> Totals {
        var generator = SeededGenerator(seed: settings.seed(forRun: run))
        let shape = Workload.Shape(
            stepCount: 3...10, keyslots: Int.random(in: 0..<4, using: &generator) == 0,
            concurrency: Int.random(in: 0..<10, using: &generator) < 3)
        let workload = Workload(seed: generator.next(), shape: shape)
        let label = settings.label(
            test: "CrashSimulationTests/testRandomWorkloadsSurviveCrashesAtRandomPoints", run: run, point: "",
            isConcurrent: workload.usesConcurrency)
        var total = Totals()
        var counts: [SimulatedDisk.Operation: Int] = [:]
        for state in 0..<statesPerRun {
            let mode = CrashMode.allCases[(run + state) % CrashMode.allCases.count]
            let point: CrashPoint
            // Cuts after a write leave unsynced bytes for the modes to tear, so they get the
            // most runs; every other kind of call the workload made gets some.
            let others = SimulatedDisk.Operation.allCases.filter {
                ![.write, .sync].contains($0) && counts[$0, default: 0] > 0
            }
            let roll = Int.random(in: 0..<100, using: &generator)
            let kind: SimulatedDisk.Operation? =
                roll < 45 ? .write : roll < 70 ? .sync : roll < 88 ? others.randomElement(using: &generator) : nil
            if state > 0, let kind, let count = counts[kind], count > 0 {
                point = .afterCall(kind, Int.random(in: 0..<count, using: &generator))
            } else {
                let steps =
                    state == 0 ? workload.steps.count : Int.random(in: 0...workload.steps.count, using: &generator)
                point = .afterSteps(steps)
            }
            let result = crashAndCheck(
                workload, at: point, in: mode, seed: generator.next(), label: label, failures: failures)
            if state == 0 { counts = result.counts }
            total += result
        }
        return total
    }

    /// Runs `workload` on a fresh disk until `point`, cuts the power in `mode`, and checks
    /// the vault; problems go to `failures` under `label`.
    static func crashAndCheck(
        _ workload: Workload, at point: CrashPoint, in mode: CrashMode, seed: UInt64, label: RunLabel,
        failures: FailureLog
    ) -> Totals {
        var generator = SeededGenerator(seed: seed)
        let disk = SimulatedDisk()
        let runner = WorkloadRunner(disk: disk, path: path)
        var steps = workload.steps[...]
        switch point {
        case .afterCall(let operation, let index): disk.armCrash(after: operation, atCall: index)
        case .afterSteps(let count): steps = workload.steps.prefix(count)
        }
        if runner.create(with: workload.initialSecret) { runner.run(steps) }

        var label = label
        label.point = [label.point, "\(point) (\(mode))", runner.failure.map { "cut during \($0.step)" }]
            .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
        for problem in runner.problems { failures.record(label, problem) }
        if let failure = runner.failure,
            !disk.isCrashPending || ![.io(errno: EIO), .writerStopped].contains(failure.error.code)
        {
            failures.record(
                label,
                "\(failure.step) failed \(disk.isCrashPending ? "" : "with no crash pending ")with \(failure.error)")
        }
        var result = Totals(
            concurrentSteps: runner.concurrentSteps, concurrentStepsSharingSyncs: runner.concurrentStepsSharingSyncs,
            counts: disk.callCounts())
        disk.crash(mode: mode, using: &generator)
        var check = CrashCheck(
            disk: disk, path: path, history: runner.history, seed: generator.next(), crashesDuringRecovery: true)
        check.verify(afterCrashIn: mode)
        for problem in check.problems { failures.record(label, problem) }
        result.states = check.statesChecked
        result.tally = check.tally
        return result
    }

    /// Small runs whose every sync, write and rename is crashed in turn: the log (single,
    /// batched and large appends, a rotation, a reopen), the keyslot table (add, replace,
    /// remove, including the creating key file's slot) and concurrent appends.
    static func smallWorkloads() -> [(name: String, workload: Workload)] {
        var generator = SeededGenerator(seed: 0x5A11)
        var payloads = PayloadMaker()
        func make(_ count: Int) -> [TaggedPayload] { (0..<count).map { _ in payloads.make(using: &generator) } }
        let keyFile = TestSecret.make(.keyFile, number: 1, using: &generator)
        let first = TestSecret.make(.passphrase, number: 2, using: &generator)
        let second = TestSecret.make(.passphrase, number: 3, using: &generator)
        let third = TestSecret.make(.passphrase, number: 4, using: &generator)
        let large = payloads.make(count: 5000, using: &generator)
        let log = Workload(
            initialSecret: keyFile,
            steps: [
                .append(make(1)), .append(make(3)), .rotateDataKey, .append([large]), .reopen(keyFile),
                .append(make(2)),
            ])
        let keyslots = Workload(
            initialSecret: keyFile,
            steps: [
                .append(make(1)), .addKeyslot(first), .append(make(2)), .replaceKeyslot(id: 2, with: second),
                .removeKeyslot(id: 1), .reopen(second), .append(make(1)), .addKeyslot(third),
            ])
        let concurrent = Workload(
            initialSecret: keyFile,
            steps: [
                .concurrentAppends([
                    [.append(make(1)), .append(make(2))], [.append(make(3))], [.append(make(1)), .rotateDataKey],
                ]),
                .rotateDataKey, .concurrentAppends([[.append(make(2))], [.append(make(1))]]),
            ])
        return [("small log run", log), ("small keyslot run", keyslots), ("small concurrent run", concurrent)]
    }
}
