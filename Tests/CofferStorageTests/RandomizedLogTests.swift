import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import Dispatch
import Foundation
import XCTest

/// Random transactions, reopens at random points and data-key rotations, checked against a
/// plain array of what was appended. Seeded; a failure prints its seed.
final class RandomizedLogTests: XCTestCase {
    func testRandomAppendsAndReopensMatchAModel() throws {
        for seed: UInt64 in [1, 2, 3, 0xC0FFEE] { try run(seed: seed) }
    }

    private func run(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let disk = SimulatedDisk()
        let path = "/vault/random.coffer"
        var store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        var model: [[UInt8]] = []
        var located: [(sequence: UInt64, offset: UInt64, index: Int)] = []
        for step in 0..<300 {
            switch generator.next() % 10 {
            case 0:
                store.close()
                let (reopened, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: disk)
                XCTAssertEqual(payloads.count, model.count, "seed \(seed), step \(step)")
                XCTAssertTrue(payloads == model, "seed \(seed), step \(step): contents differ")
                store = reopened
            case 1:
                _ = try store.rotateDataKey()
            case 2 where !located.isEmpty:
                let pick = located[Int(generator.next() % UInt64(located.count))]
                let record = try store.readRecord(sequence: pick.sequence, offset: pick.offset)
                XCTAssertTrue(
                    record.payload!.withUnsafeBytes { Array($0) } == model[pick.index], "seed \(seed), step \(step)")
            default:
                let count = 1 + Int(generator.next() % 4)
                let batch = (0..<count).map { _ -> [UInt8] in
                    let length = Int(generator.next() % (generator.next() % 8 == 0 ? 6000 : 400))
                    return (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                }
                let receipt = try store.append(batch.map { SecureBytes(copying: $0) })
                for (offset, entry) in receipt.records.enumerated() {
                    located.append((entry.sequence, entry.offset, model.count + offset))
                }
                model += batch
            }
        }
        store.close()
        XCTAssertTrue(
            try Fixture.transactions(path: path, storage: disk).payloads == model, "seed \(seed): final contents differ"
        )
    }

    /// Waiting behind another's sync by sleeping at once, by the default spin and by the
    /// longest: the same log each way.
    func testConcurrentAppendsShareSyncsAndLoseNothing() throws {
        for spin in [Duration.zero, VaultStore.Options().syncWaitSpin, .milliseconds(10)] {
            try appendConcurrently(spinningFor: spin)
        }
    }

    /// A close while appends are in flight waits for the write and sync under way: every
    /// append either lands (and is in the log) or fails with `.closed`, never with an I/O
    /// error from a descriptor closed under it (which another file could have taken).
    func testACloseBesideAppendsEndsThemAsClosedAndKeepsEveryAcknowledgedOne() throws {
        for round in 0..<5 {
            let directory = TemporaryDirectory()
            let path = directory.file("v")
            let store = try VaultStore.create(path: path, secret: Fixture.secret)
            let landed = Locked<[String]>([])
            let failures = Locked<[CofferError]>([])
            // The close on a thread of its own, which the appenders cannot starve of a start.
            let closed = DispatchSemaphore(value: 0)
            let closer = Thread {
                usleep(useconds_t(2_000 + 1_000 * round))
                store.close()
                closed.signal()
            }
            closer.start()
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                // Until the close ends this thread's appends.
                for index in 0... {
                    let text = "t\(thread)-\(index)"
                    do throws(CofferError) {
                        _ = try store.append([Fixture.payload(text)])
                        landed.withLock { $0.append(text) }
                    } catch {
                        failures.withLock { $0.append(error) }
                        return
                    }
                }
            }
            closed.wait()
            let codes = Set(failures.withLock { $0 }.map(\.code))
            XCTAssertEqual(codes, [.closed], "round \(round): \(failures.withLock { $0 }.prefix(3))")
            let payloads = try Fixture.transactions(path: path).payloads.map { String(decoding: $0, as: UTF8.self) }
            XCTAssertEqual(Set(payloads), Set(landed.withLock { $0 }), "round \(round)")
        }
    }

    private func appendConcurrently(spinningFor spin: Duration) throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        var options = VaultStore.Options()
        options.syncWaitSpin = spin
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: options)
        let threads = 8
        let perThread = 40
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                do {
                    _ = try store.append([Fixture.payload("t\(thread)-\(index)")])
                } catch {
                    XCTFail("spin \(spin), thread \(thread), commit \(index): \(error)")
                }
            }
        }
        store.close()
        let payloads = try Fixture.transactions(path: path).payloads.map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(payloads.count, threads * perThread, "spin \(spin)")
        XCTAssertEqual(Set(payloads).count, threads * perThread, "spin \(spin)")
        // Each thread's own commits stay in its order.
        for thread in 0..<threads {
            let mine = payloads.filter { $0.hasPrefix("t\(thread)-") }
            XCTAssertEqual(mine, (0..<perThread).map { "t\(thread)-\($0)" }, "spin \(spin)")
        }
    }
}
