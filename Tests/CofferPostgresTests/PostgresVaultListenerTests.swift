import CofferCrypto
import CofferTestSupport
import XCTest

@testable import CofferPostgres

final class PostgresVaultListenerTests: XCTestCase {
    private var store: PostgresFrameStore!
    private var vaultID: [UInt8] = []

    override func setUpWithError() throws {
        store = try TestDatabase.store()
        vaultID = randomBytes(16)
        try store.createVault(name: uniqueVaultName(), vaultID: vaultID, header: [1], firstFrames: makeFrames(1...2))
    }

    override func tearDown() {
        store?.close()
        super.tearDown()
    }

    func testAppendsHeaderReplacementsAndSwitchesNotify() throws {
        let listener = try PostgresVaultListener(location: TestDatabase.location(), vaultID: vaultID)
        defer { listener.close() }
        XCTAssertEqual(listener.channel, "coffer_" + PostgresFrameStore.hex(vaultID))

        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...5)), .appended)
        XCTAssertEqual(
            try listener.waitForNotification(timeout: .seconds(10)),
            PostgresLogNotification(logGeneration: 1, lastSequence: 5, headerGeneration: 1))

        XCTAssertTrue(try store.replaceHeader(vaultID: vaultID, expectedGeneration: 1, newHeader: [2]))
        XCTAssertEqual(
            try listener.waitForNotification(timeout: .seconds(10)),
            PostgresLogNotification(logGeneration: 1, lastSequence: 5, headerGeneration: 2))

        XCTAssertEqual(try store.writeFrames(vaultID: vaultID, logGeneration: 2, frames: makeFrames(1...3)), .appended)
        XCTAssertEqual(
            try store.switchLog(vaultID: vaultID, from: 1, to: 2, newHeader: [3], expectedHeaderGeneration: 2),
            .switched)
        XCTAssertEqual(
            try listener.waitForNotification(timeout: .seconds(10)),
            PostgresLogNotification(logGeneration: 2, lastSequence: 3, headerGeneration: 3))

        // Refused writes and rolled-back transactions notify nothing.
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(6...6)), .conflict)
        XCTAssertFalse(try store.replaceHeader(vaultID: vaultID, expectedGeneration: 1, newHeader: [4]))
        XCTAssertNil(try listener.waitForNotification(timeout: .milliseconds(200)))
    }

    func testOtherVaultsDoNotWakeTheListener() throws {
        let listener = try PostgresVaultListener(location: TestDatabase.location(), vaultID: vaultID)
        defer { listener.close() }
        let otherID = randomBytes(16)
        try store.createVault(name: uniqueVaultName(), vaultID: otherID, header: [1])
        XCTAssertEqual(try store.append(vaultID: otherID, logGeneration: 1, frames: makeFrames(1...1)), .appended)
        let start = ContinuousClock.now
        XCTAssertNil(try listener.waitForNotification(timeout: .milliseconds(300)))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(290))
    }

    func testNotificationsAreQueuedWhileNoOneWaits() throws {
        let listener = try PostgresVaultListener(location: TestDatabase.location(), vaultID: vaultID)
        defer { listener.close() }
        for sequence in UInt64(3)...6 {
            XCTAssertEqual(
                try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(sequence...sequence)), .appended
            )
        }
        var seen: [UInt64] = []
        while seen.last != 6, let notification = try listener.waitForNotification(timeout: .seconds(10)) {
            seen.append(notification.lastSequence)
        }
        XCTAssertEqual(seen, [3, 4, 5, 6])
    }

    /// The follower's loop: a notification is only a hint; it catches up by sequence numbers,
    /// so the notifications it missed while it had no listener cost nothing.
    func testAFollowerThatMissedNotificationsCatchesUpBySequence() throws {
        let location = try TestDatabase.location()
        let writer = try PostgresFrameStore(location: location)
        defer { writer.close() }
        var applied = try store.readFrames(vaultID: vaultID, logGeneration: 1, after: 0, limit: 100)
        func catchUp() throws {
            while true {
                let page = try store.readFrames(
                    vaultID: vaultID, logGeneration: 1, after: applied.last!.sequence, limit: 2)
                if page.isEmpty { return }
                applied += page
            }
        }

        var listener = try PostgresVaultListener(location: location, vaultID: vaultID)
        let first = makeFrames(3...4)
        XCTAssertEqual(try writer.append(vaultID: vaultID, logGeneration: 1, frames: first), .appended)
        XCTAssertNotNil(try listener.waitForNotification(timeout: .seconds(10)))
        try catchUp()
        XCTAssertEqual(applied.map(\.sequence), [1, 2, 3, 4])

        // The follower goes away; three commits notify no one.
        listener.close()
        var missed: [PostgresFrame] = []
        for sequence in UInt64(5)...7 {
            let frame = makeFrames(sequence...sequence)
            XCTAssertEqual(try writer.append(vaultID: vaultID, logGeneration: 1, frames: frame), .appended)
            missed += frame
        }
        listener = try PostgresVaultListener(location: location, vaultID: vaultID)
        defer { listener.close() }
        XCTAssertNil(try listener.waitForNotification(timeout: .milliseconds(100)))
        try catchUp()
        XCTAssertEqual(Array(applied.suffix(3)), missed)

        // And the next commit wakes it again.
        XCTAssertEqual(try writer.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(8...8)), .appended)
        XCTAssertEqual(try listener.waitForNotification(timeout: .seconds(10))?.lastSequence, 8)
        try catchUp()
        XCTAssertEqual(applied.map(\.sequence), Array(1...8))
    }

    func testCloseWakesAWaiter() throws {
        let listener = try PostgresVaultListener(location: TestDatabase.location(), vaultID: vaultID)
        let start = ContinuousClock.now
        let waiter = TestThread { try listener.waitForNotification(timeout: .seconds(20)) }
        usleep(100_000)
        listener.close()
        assertThrowsCoffer(.closed) { try waiter.join() }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        assertThrowsCoffer(.closed) { try listener.waitForNotification(timeout: .zero) }
    }

    func testAListenerWhoseConnectionIsKilledListensAgain() throws {
        let location = try TestDatabase.location()
        let listener = try PostgresVaultListener(location: location, vaultID: vaultID)
        defer { listener.close() }
        let raw = try RawConnection(location)
        let rows = try raw.execute(
            """
            SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN "\(unescaped: listener.channel)"%'
            """)
        XCTAssertEqual(rows.count, 1)
        try raw.terminate(try rows.first!.decode(Int32.self))
        // The wait notices the lost connection, reconnects, and LISTENs again.
        for _ in 0..<50 where listener.connectionsOpened < 2 {
            XCTAssertNil(try listener.waitForNotification(timeout: .milliseconds(200)))
        }
        XCTAssertEqual(listener.connectionsOpened, 2)
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3)), .appended)
        XCTAssertEqual(try listener.waitForNotification(timeout: .seconds(10))?.lastSequence, 3)
    }

    func testPayloadsParse() {
        let notification = PostgresLogNotification(logGeneration: 2, lastSequence: 17, headerGeneration: 3)
        XCTAssertEqual(notification.payload, "2 17 3")
        XCTAssertEqual(PostgresLogNotification(payload: "2 17 3"), notification)
        for bad in ["", "2 17", "2 17 3 4", "a b c", "-1 2 3", "2  17 3"] {
            XCTAssertNil(PostgresLogNotification(payload: bad), bad)
        }
    }
}
