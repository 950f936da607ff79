import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import Foundation
import XCTest

/// Failed system calls, injected one at a time through the storage I/O protocol.
///
/// A small workload runs once to count its calls; then, for every call of every kind it makes,
/// it runs again with that one call failing (EIO, ENOSPC, and for writes a short write). The
/// failure must surface as `.io`, a store whose write or sync failed must acknowledge nothing
/// more, and after a power cut the vault must pass ``CrashCheck``. Keyslot rewrites are also
/// cut by a crash after each of their writes and syncs.
final class FaultInjectionTests: XCTestCase {
    static let path = "/vault/v.coffer"
    /// The kinds of call failed in turn. Nothing in the storage layer renames today; the
    /// loop covers renames as soon as something (compaction) does.
    static let failedKinds: [SimulatedDisk.Operation] = [.write, .sync, .truncate, .open, .rename]
    static let test = "FaultInjectionTests"

    func testEveryFailedCallSurfacesAndAcknowledgedAppendsSurvive() {
        let fixture = FaultVault()
        let counts = fixture.countWorkloadCalls()
        print(
            "fault workload calls: "
                + Self.failedKinds.map { "\($0) \(counts[$0, default: 0])" }.joined(separator: ", "))
        XCTAssertGreaterThan(counts[.truncate, default: 0], 0, "the workload's first open must cut a torn tail")

        let failures = FailureLog()
        var run = 0
        var tally = CrashCheck.Tally()
        var states = 0
        for kind in Self.failedKinds {
            for call in 0..<counts[kind, default: 0] {
                var generator = SeededGenerator(seed: UInt64(run))
                var rules: [(FaultPlan.Rule, SystemError)] = [
                    (.fail(operation: kind, atCall: call, error: .ioError), .ioError),
                    (.fail(operation: kind, atCall: call, error: .noSpace), .noSpace),
                ]
                if kind == .write {
                    let keep = Int.random(in: 1...4500, using: &generator)
                    rules.append((.shortWrite(atCall: call, keepBytes: keep, error: .ioError), .ioError))
                }
                for (rule, error) in rules {
                    let label = RunLabel(test: Self.test, baseSeed: 0, run: run, point: "\(rule)")
                    let check = fixture.runFailing(
                        rule, expecting: error, seed: generator.next(), label: label, failures: failures)
                    states += check.statesChecked
                    tally += check.tally
                    run += 1
                }
            }
        }
        print("fault injection: \(run) failed calls, \(states) crash states; \(tally.summary)")
        failures.report()
    }

    func testEveryFailedCallDuringCreateLeavesNoVaultOrAWorkingEmptyOne() {
        let dry = SimulatedDisk()
        _ = try? VaultStore.create(
            path: Self.path, secret: FaultVault.keyFile.secret, cost: .minimum, options: .init(storage: dry))
        let counts = dry.callCounts()
        let failures = FailureLog()
        var run = 0
        for kind in [SimulatedDisk.Operation.open, .write, .sync, .syncDirectory] {
            for call in 0..<counts[kind, default: 0] {
                var rules: [(FaultPlan.Rule, SystemError)] = [
                    (.fail(operation: kind, atCall: call, error: .ioError), .ioError),
                    (.fail(operation: kind, atCall: call, error: .noSpace), .noSpace),
                ]
                if kind == .write {
                    rules.append((.shortWrite(atCall: call, keepBytes: 5000, error: .noSpace), .noSpace))
                }
                for (rule, error) in rules {
                    for mode in CrashMode.allCases {
                        let label = RunLabel(
                            test: Self.test, baseSeed: 0, run: run, point: "create with \(rule), then \(mode)")
                        let disk = SimulatedDisk(faultPlan: FaultPlan([rule]))
                        let runner = WorkloadRunner(disk: disk, path: Self.path)
                        if runner.create(with: FaultVault.keyFile) {
                            failures.record(label, "create succeeded although \(rule) failed")
                        } else if runner.failure?.error.code != .io(errno: error.number) {
                            failures.record(
                                label, "create failed with \(runner.failure!.error), not io(\(error.number))")
                        }
                        disk.faultPlan = FaultPlan()
                        var generator = SeededGenerator(seed: UInt64(run))
                        disk.crash(mode: mode, using: &generator)
                        var check = CrashCheck(
                            disk: disk, path: Self.path, history: runner.history, seed: generator.next(),
                            crashesDuringRecovery: false)
                        check.verify(afterCrashIn: mode)
                        for problem in check.problems { failures.record(label, problem) }
                        run += 1
                    }
                }
            }
        }
        print("failed creates: \(run) crash states")
        XCTAssertGreaterThan(run, 0)
        failures.report()
    }

    /// BUG: `VaultStore.create` reports any failure of its `flock` as `.locked` ("Another
    /// process opened the new vault file first"), even an I/O error on a file it has just
    /// created itself; `open` reports the same failure as `.io`.
    func testCreateReportsAFailedLockAsAnIOError() {
        let disk = SimulatedDisk(faultPlan: FaultPlan([.fail(operation: .lock, atCall: 0, error: .ioError)]))
        XCTAssertThrowsCode(
            .io(errno: EIO),
            try VaultStore.create(
                path: Self.path, secret: FaultVault.keyFile.secret, cost: .minimum, options: .init(storage: disk)))
    }

    /// BUG: a writer's open serves records that are not durable. When an earlier writer's
    /// fdatasync failed (or the writer died between its write and its fdatasync), the next
    /// writer's open visits the unsynced records and reports a head that includes them, but
    /// syncs nothing unless it had a torn tail to cut; a power loss afterwards takes them
    /// away, so the log goes backwards and the reported head fails the F-HEAD check.
    func testRecordsAWritersOpenReturnedSurviveALaterPowerLoss() throws {
        let disk = SimulatedDisk()
        let secret = FaultVault.keyFile.secret
        let first = try VaultStore.create(
            path: Self.path, secret: secret, cost: .minimum, options: .init(storage: disk))
        _ = try first.append([SecureBytes(copying: [1, 2, 3])])
        disk.faultPlan = FaultPlan([.fail(operation: .sync, atCall: disk.callCounts()[.sync]!, error: .ioError)])
        let failure = assertThrowsCoffer(.io(errno: EIO)) { try first.append([SecureBytes(copying: [4, 5, 6])]) }
        // The caller is told the change may be there: it was written, only not synced.
        XCTAssertEqual(failure?.message.contains("the vault may hold it or not"), true, failure?.message ?? "")
        first.close()

        var visited = 0
        let second = try VaultStore.open(path: Self.path, secret: secret, options: .init(storage: disk)) { record in
            if record.type == .transaction { visited += 1 }
        }
        XCTAssertEqual(visited, 2, "the open serves the unacknowledged record, which is allowed")
        let head = second.head
        second.close()

        var generator = SeededGenerator(seed: 0)
        disk.crash(mode: .loseAllUnsynced, using: &generator)
        XCTAssertNoThrow(
            try VaultStore.open(
                path: Self.path, secret: secret, options: .init(storage: disk, readOnly: true, expectedHead: head)),
            "a record the writer's open returned was not durable: the head it reported is gone after a power loss")
    }

    func testInterruptedKeyslotRewriteOpensWithTheOldOrTheNewSecret() {
        let fixture = FaultVault()
        let changes: [Workload.Step] = [
            .addKeyslot(FaultVault.passphrases[1]),
            .replaceKeyslot(id: 2, with: FaultVault.passphrases[1]),
            .removeKeyslot(id: 1),
            .replaceKeyslot(id: 1, with: FaultVault.passphrases[1]),
            .removeKeyslot(id: 2),
        ]
        let failures = FailureLog()
        var run = 0
        for change in changes {
            let dry = SimulatedDisk()
            let dryRunner = fixture.prepareKeyslotVault(on: dry)
            let before = dry.callCounts()
            dryRunner.run([change])
            for kind in [SimulatedDisk.Operation.write, .sync] {
                let calls = dry.callCounts()[kind, default: 0] - before[kind, default: 0]
                XCTAssertEqual(calls, 2, "\(change) makes \(calls) \(kind) calls; the two-copy rewrite makes 2")
                for call in 0..<calls {
                    for mode in CrashMode.allCases {
                        for seed in 0..<UInt64(3) {
                            let label = RunLabel(
                                test: Self.test, baseSeed: seed, run: run,
                                point: "\(change), crash after its \(kind) #\(call) (\(mode)), seed \(seed)")
                            let disk = SimulatedDisk()
                            let runner = fixture.prepareKeyslotVault(on: disk)
                            disk.armCrash(after: kind, atCall: before[kind, default: 0] + call)
                            let completed = runner.run([change])
                            let lastCall = kind == .sync && call == calls - 1
                            if completed != lastCall {
                                let outcome = completed ? "succeeded" : "failed: \(runner.failure!.error)"
                                failures.record(label, "the change \(outcome)")
                            }
                            var generator = SeededGenerator(seed: seed)
                            disk.crash(mode: mode, using: &generator)
                            var check = CrashCheck(
                                disk: disk, path: Self.path, history: runner.history, seed: generator.next(),
                                crashesDuringRecovery: true)
                            check.verify(afterCrashIn: mode)
                            for problem in check.problems { failures.record(label, problem) }
                            run += 1
                        }
                    }
                }
            }
        }
        print("keyslot rewrites cut: \(run) crash states")
        failures.report()
    }

    // MARK: - The fault workload

    /// The vault the fault runs start from and the workload they run on it.
    ///
    /// The vault has records, a passphrase slot, a torn final record and a damaged header
    /// copy, so that the workload's first open has both repairs to make (truncate and sync,
    /// two header writes and syncs) before it appends, rotates, changes keyslots and reopens.
    struct FaultVault {
        static let keyFile: TestSecret = secrets[0]
        static let passphrases = Array(secrets.dropFirst())
        static let secrets: [TestSecret] = {
            var generator = SeededGenerator(seed: 0xFA17)
            return [TestSecret.make(.keyFile, number: 1, using: &generator)]
                + (2...4).map { TestSecret.make(.passphrase, number: $0, using: &generator) }
        }()

        let setup: [Workload.Step]
        let torn: TaggedPayload
        let workload: [Workload.Step]

        init() {
            var generator = SeededGenerator(seed: 0xFA17_0001)
            var payloads = PayloadMaker()
            func make(_ count: Int) -> [TaggedPayload] { (0..<count).map { _ in payloads.make(using: &generator) } }
            let passphrases = Self.passphrases
            setup = [.append(make(1)), .append(make(3)), .addKeyslot(passphrases[0])]
            torn = payloads.make(count: 900, using: &generator)
            workload = [
                .reopen(Self.keyFile), .append(make(1)), .append(make(3)), .rotateDataKey,
                .append([payloads.make(count: 3000, using: &generator)]), .addKeyslot(passphrases[1]), .append(make(1)),
                .reopen(passphrases[1]), .replaceKeyslot(id: 2, with: passphrases[2]), .removeKeyslot(id: 1),
                .append(make(2)), .reopen(passphrases[2]), .append(make(1)),
            ]
        }

        /// Creates the fault vault on `disk`, closed, with its torn tail and damaged header copy.
        func prepare(on disk: SimulatedDisk) -> WorkloadRunner {
            let runner = WorkloadRunner(disk: disk, path: FaultInjectionTests.path)
            precondition(runner.create(with: Self.keyFile) && runner.run(setup) && runner.problems.isEmpty)
            // An append the setup then cuts short, as a crash in its write would: it was never
            // acknowledged, so the runner's history does not know it.
            let end = try! runner.store!.append([torn.secureBytes]).records[0].offset
            runner.closeStore()
            var bytes = disk.contents(of: FaultInjectionTests.path)!
            bytes.removeLast(bytes.count - Int(end) - 200)
            // Copy A is not in force after the slot change (B is): damaging it leaves one valid copy.
            bytes[2000] ^= 0xFF
            disk.write(path: FaultInjectionTests.path, bytes: bytes, durable: true)
            return runner
        }

        /// A vault with slots 1 (the key file) and 2 (a passphrase), open as the writer.
        func prepareKeyslotVault(on disk: SimulatedDisk) -> WorkloadRunner {
            let runner = WorkloadRunner(disk: disk, path: FaultInjectionTests.path)
            precondition(runner.create(with: Self.keyFile) && runner.run(setup) && runner.problems.isEmpty)
            return runner
        }

        /// Calls of each kind the workload makes on a healthy disk.
        func countWorkloadCalls() -> [SimulatedDisk.Operation: Int] {
            let disk = SimulatedDisk()
            let runner = prepare(on: disk)
            let before = disk.callCounts()
            let completed = runner.run(workload)
            precondition(
                completed && runner.problems.isEmpty, "the fault workload fails on a healthy disk: \(runner.problems)")
            return disk.callCounts().merging(before) { after, before in after - before }
        }

        /// Runs the workload with `rule` failing one call, checks how the failure surfaced and
        /// what the store did after it, then cuts the power (or not) and checks the vault.
        /// Returns the check, for its counts.
        func runFailing(
            _ rule: FaultPlan.Rule, expecting error: SystemError, seed: UInt64, label: RunLabel, failures: FailureLog
        ) -> CrashCheck {
            var generator = SeededGenerator(seed: seed)
            let disk = SimulatedDisk()
            let runner = prepare(on: disk)
            // Call numbers in the rule count from the start of the workload.
            let base = disk.callCounts()
            disk.faultPlan = FaultPlan([rule.shifted(by: base)])
            runner.run(workload)
            disk.faultPlan = FaultPlan()
            for problem in runner.problems { failures.record(label, problem) }

            guard let failure = runner.failure else {
                failures.record(label, "the injected failure was swallowed: the workload completed")
                return CrashCheck(
                    disk: disk, path: FaultInjectionTests.path, history: runner.history, seed: 0,
                    crashesDuringRecovery: false)
            }
            if failure.error.code != .io(errno: error.number) {
                failures.record(label, "\(failure.step) failed with \(failure.error), not io(errno \(error.number))")
            }
            // (F-APPEND-STOP) A store whose write or sync failed acknowledges, and writes, nothing more.
            if let store = runner.store {
                let before = disk.callCounts()
                let probe = SecureBytes(copying: [0x50, 0x52, 0x4F, 0x42, 0x45])
                for (name, attempt) in [
                    ("append", capture { () throws(CofferError) in _ = try store.append([probe]) }),
                    ("rotateDataKey", capture { () throws(CofferError) in _ = try store.rotateDataKey() }),
                    ("addKeyslot", capture { () throws(CofferError) in _ = try store.addKeyslot(Self.keyFile.secret) }),
                ] {
                    if case .failure(let stopped) = attempt, stopped.code == .writerStopped { continue }
                    failures.record(label, "after \(failure.step) failed, \(name) gave \(attempt), not writer_stopped")
                }
                let after = disk.callCounts()
                if after[.write] != before[.write] || after[.sync] != before[.sync] {
                    failures.record(label, "a stopped store still wrote or synced")
                }
                runner.closeStore()
            }
            // Then either the power fails, or the process reopens the vault as it is.
            let mode = (CrashMode.allCases + [nil]).randomElement(using: &generator)!
            var check = CrashCheck(
                disk: disk, path: FaultInjectionTests.path, history: runner.history, seed: generator.next(),
                crashesDuringRecovery: true)
            if let mode {
                disk.crash(mode: mode, using: &generator)
                check.verify(afterCrashIn: mode)
            } else {
                check.verifyWithoutCrash()
            }
            var labelWithMode = label
            let after = mode.map { "crash (\($0))" } ?? "reopen without a crash"
            labelWithMode.point += ", failed in \(failure.step), then \(after)"
            for problem in check.problems { failures.record(labelWithMode, problem) }
            return check
        }
    }
}

extension FaultPlan.Rule {
    /// The same rule with its call number counted from `base` instead of from the disk's start.
    func shifted(by base: [SimulatedDisk.Operation: Int]) -> FaultPlan.Rule {
        switch self {
        case .fail(let operation, let call, let error):
            .fail(operation: operation, atCall: base[operation, default: 0] + call, error: error)
        case .shortWrite(let call, let keepBytes, let error):
            .shortWrite(atCall: base[.write, default: 0] + call, keepBytes: keepBytes, error: error)
        }
    }
}
