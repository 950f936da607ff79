import CofferErrors
import CofferSimulation
import CofferTestSupport
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
            XCTAssertEqual(error?.message, "A sync wait spin is from 0 to 10 ms.")
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

    func testASpinEndsWhenItsConditionHoldsOrWhenItsTimeHasPassed() throws {
        // A condition that holds already is asked once, even with no spin at all.
        var asked = 0
        XCTAssertTrue(
            try SyncWaitSpin(.zero).yield {
                asked += 1
                return true
            })
        XCTAssertEqual(asked, 1)
        asked = 0
        XCTAssertFalse(
            try SyncWaitSpin(.zero).yield {
                asked += 1
                return false
            })
        XCTAssertEqual(asked, 1, "a zero spin never yields")
        // A condition that never holds: the spin gives up once its time has passed.
        XCTAssertFalse(try SyncWaitSpin(.microseconds(200)).yield { false })
        // It is asked again after each yield, until it holds.
        asked = 0
        XCTAssertTrue(
            try SyncWaitSpin(.milliseconds(10)).yield {
                asked += 1
                return asked == 3
            })
        XCTAssertEqual(asked, 3)
    }
}
