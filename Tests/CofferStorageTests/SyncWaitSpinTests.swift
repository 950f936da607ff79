import CofferErrors
import CofferSimulation
import CofferTestSupport
import Dispatch
import Synchronization
import XCTest

@testable import CofferStorage

/// A commit waiting behind another's sync spins, then sleeps (`SyncWaitSpin`): the spin's
/// range is the caller's to get wrong, and either way of waiting must end in the same log.
final class SyncWaitSpinTests: XCTestCase {
    func testASpinOutsideItsRangeIsRefusedAndNothingIsCreatedOrOpened() throws {
        let disk = SimulatedDisk()
        let path = "/vault/spin.coffer"
        for refused in [Duration.nanoseconds(-1), .milliseconds(10) + .nanoseconds(1), .seconds(3600)] {
            var options = VaultStore.Options(storage: disk)
            options.syncWaitSpin = refused
            let error = assertThrowsCoffer(.invalidInput) {
                try VaultStore.create(path: path, secret: Fixture.secret, options: options)
            }
            XCTAssertEqual(error?.message, "The sync wait spin (Options.syncWaitSpin) is from 0 to 10 ms.")
            XCTAssertFalse(disk.exists(path), "a refused create leaves no file")
        }
        for accepted in [Duration.zero, .milliseconds(10)] {
            var options = VaultStore.Options(storage: disk)
            options.syncWaitSpin = accepted
            let store = try VaultStore.create(path: path, secret: Fixture.secret, options: options)
            _ = try store.append([Fixture.payload("kept")])
            store.close()
            let reopened = try VaultStore.open(path: path, secret: Fixture.secret, options: options)
            XCTAssertEqual(reopened.head.sequence, 2)
            reopened.close()
            _ = disk.remove(path)
            XCTAssertFalse(disk.exists(path))
        }
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        store.close()
        var refused = VaultStore.Options(storage: disk)
        refused.syncWaitSpin = .milliseconds(11)
        XCTAssertThrowsCode(.invalidInput, try VaultStore.open(path: path, secret: Fixture.secret, options: refused))
    }

    func testASpinEndsWhenItsConditionHoldsOrWhenItsTimeHasPassed() {
        // A condition that holds already is asked once, even with no spin at all.
        var asked = 0
        XCTAssertTrue(
            SyncWaitSpin(.zero).yield {
                asked += 1
                return true
            })
        XCTAssertEqual(asked, 1)
        asked = 0
        XCTAssertFalse(
            SyncWaitSpin(.zero).yield {
                asked += 1
                return false
            })
        XCTAssertEqual(asked, 1, "a zero spin never yields")
        // It is asked again after a yield, whatever the time (the first yield's ask comes
        // before any look at the clock).
        asked = 0
        XCTAssertTrue(
            SyncWaitSpin(.nanoseconds(1)).yield {
                asked += 1
                return asked == 2
            })
        XCTAssertEqual(asked, 2)
        // A condition that never holds: asked after each yield until the spin has passed.
        asked = 0
        let start = ContinuousClock.now
        XCTAssertFalse(
            SyncWaitSpin(.microseconds(200)).yield {
                asked += 1
                return false
            })
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .microseconds(200), "it gave up early")
        XCTAssertGreaterThan(asked, 1)
    }

    /// A caller whose append waits behind a sync held far longer than any spin spins, sleeps,
    /// and is woken to write its own once the sync ends: with no spin, the default one and
    /// the longest.
    func testACallerWaitingBehindAHeldSyncIsWokenWhenItEnds() throws {
        for spin in [Duration.zero, VaultStore.Options().syncWaitSpin, SyncWaitSpin.maximum] {
            let disk = SimulatedDisk()
            var options = VaultStore.Options(storage: disk)
            options.syncWaitSpin = spin
            let store = try VaultStore.create(path: "/vault/held.coffer", secret: Fixture.secret, options: options)
            let syncing = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let holds = Atomic<Bool>(true)
            // Called once the sync is done, before the leader's call returns: its lead goes on.
            disk.onCall = { operation, _ in
                guard operation == .sync, holds.exchange(false, ordering: .acquiringAndReleasing) else { return }
                syncing.signal()
                release.wait()
            }
            let receipts = Locked<[String: UInt64]>([:])
            let appends = DispatchGroup()
            let append: @Sendable (String) -> Void = { name in
                DispatchQueue.global().async(group: appends) {
                    guard let receipt = try? store.append([Fixture.payload(name)]) else { return }
                    receipts.withLock { $0[name] = receipt.head.sequence }
                }
            }
            append("first")
            syncing.wait()
            append("second")
            let deadline = DispatchTime.now() + .seconds(10)
            while store.queuedHead.sequence < 3 && DispatchTime.now() < deadline { usleep(200) }
            XCTAssertEqual(store.queuedHead.sequence, 3, "spin \(spin): the second append is queued")
            // Longer than the longest spin: the second caller is asleep by now.
            usleep(20_000)
            release.signal()
            appends.wait()
            XCTAssertEqual(receipts.withLock { $0 }, ["first": 2, "second": 3], "spin \(spin)")
            XCTAssertEqual(store.head.sequence, 3, "spin \(spin)")
            store.close()
        }
    }
}
