import CofferCrypto
import CofferTestSupport
import PostgresNIO
import XCTest

@testable import CofferPostgres

/// Stops and starts a real server under a store and a listener in use. The server is the
/// test's own (tools/postgres-test-server in a temporary directory), so that other tests,
/// even in another process, never see it go down.
final class PostgresServerRestartTests: XCTestCase {
    private var server: PrivateTestServer?

    override func tearDown() {
        server?.destroy()
        server = nil
        super.tearDown()
    }

    func testNothingCommittedIsLostAndTheNextCallReconnects() throws {
        let server = try PrivateTestServer()
        self.server = server
        let location = try server.location()
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        try store.ensureSchema()
        let vaultID = randomBytes(16)
        let name = uniqueVaultName()
        let header = randomBytes(4096)
        var committed = makeFrames(1...3)
        try store.createVault(name: name, vaultID: vaultID, header: header, firstFrames: committed)
        let more = makeFrames(4...10, size: 900)
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: more), .appended)
        committed += more
        XCTAssertTrue(try store.replaceHeader(vaultID: vaultID, expectedGeneration: 1, newHeader: [7, 7]))
        let listener = try PostgresVaultListener(location: location, vaultID: vaultID)
        defer { listener.close() }

        try server.stop()
        // While it is down: a clear I/O error, and nothing is half-done.
        let error = assertThrowsIO { try store.readVault(name: name) }
        XCTAssertTrue(error?.message.contains("Cannot connect") ?? false, "\(String(describing: error))")
        assertThrowsIO { try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(11...11)) }
        assertThrowsIO { try listener.waitForNotification(timeout: .milliseconds(100)) }
        try server.start()

        // The next call reconnects, and every commit acknowledged before the stop is there.
        let vault = try store.readVault(name: name)
        XCTAssertEqual(vault.header, [7, 7])
        XCTAssertEqual(vault.headerGeneration, 2)
        XCTAssertEqual(try store.readFrames(vaultID: vaultID, logGeneration: 1, after: 0, limit: 100), committed)
        XCTAssertEqual(store.connectionsOpened, 2)
        let next = makeFrames(11...11)
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: next), .appended)

        // The listener reconnects on its next wait and hears later commits.
        XCTAssertNil(try listener.waitForNotification(timeout: .milliseconds(100)))
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(12...12)), .appended)
        XCTAssertEqual(try listener.waitForNotification(timeout: .seconds(10))?.lastSequence, 12)
        XCTAssertEqual(listener.connectionsOpened, 2)

        // A restart without any call in between: the stale connection is replaced on first use.
        try server.stop()
        try server.start()
        XCTAssertEqual(try store.lastSequence(vaultID: vaultID, logGeneration: 1), 12)
        XCTAssertEqual(try store.frame(vaultID: vaultID, logGeneration: 1, sequence: 11), next[0].bytes)
        XCTAssertEqual(store.connectionsOpened, 3)
    }

    /// A commit that waits for a synchronous standby that never comes, and whose connection
    /// is then killed: the transaction committed locally but the client never heard. The
    /// store must say the outcome is unknown, and the readback must tell.
    func testAConnectionLostWhileCommittingReportsAnUnknownOutcome() throws {
        let server = try PrivateTestServer()
        self.server = server
        let location = try server.location()
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        try store.ensureSchema()
        let vaultID = randomBytes(16)
        try store.createVault(name: uniqueVaultName(), vaultID: vaultID, header: [1], firstFrames: makeFrames(1...1))

        let raw = try RawConnection(location)
        try raw.execute("ALTER SYSTEM SET synchronous_standby_names = 'coffer_absent_standby'")
        try raw.execute("SELECT pg_reload_conf()")
        // The reload reaches each backend by a signal from the postmaster, which a loaded
        // machine can delay past the append: the commit would then not wait. Once this
        // backend has the new setting, the postmaster has signalled the store's too, which
        // takes it up before its next command.
        try raw.waitForRow(
            "SELECT 1 WHERE current_setting('synchronous_standby_names') = 'coffer_absent_standby'",
            "the server never took up the new setting")
        let pid = try store.backendPID()
        let frame = PostgresFrame(sequence: 2, bytes: randomBytes(100))
        let append = TestThread { try store.append(vaultID: vaultID, logGeneration: 1, frames: [frame]) }
        try raw.waitForRow(
            "SELECT 1 FROM pg_stat_activity WHERE pid = \(pid) AND wait_event = 'SyncRep'",
            "the commit never waited for the standby")
        try raw.terminate(pid)
        let error = assertThrowsIO { try append.join() }
        XCTAssertTrue(error?.message.contains("the outcome is unknown") ?? false, "\(String(describing: error))")
        try raw.execute("ALTER SYSTEM RESET synchronous_standby_names")
        try raw.execute("SELECT pg_reload_conf()")

        // Did it land? Here it did: the bytes read back are those sent.
        XCTAssertEqual(try store.frame(vaultID: vaultID, logGeneration: 1, sequence: 2), frame.bytes)
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: [frame]), .conflict)
    }

    func testTheScriptIsIdempotent() throws {
        let server = try PrivateTestServer()
        self.server = server
        let url = server.url
        XCTAssertTrue(url.hasPrefix("postgres://postgres@/coffer_test?host=/"), url)
        try server.start()  // a second start leaves the running server alone
        XCTAssertEqual(server.url, url)
        try server.stop()
        try server.stop()  // stopping a stopped server succeeds
        try server.start()
        let store = try PostgresFrameStore(location: try server.location())
        defer { store.close() }
        try store.ensureSchema()
        XCTAssertEqual(try store.listVaults(), [])
    }
}
