import CofferCrypto
import CofferErrors
import CofferTestSupport
import Foundation
import PostgresNIO
import XCTest

@testable import CofferPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// Every wait on the PostgreSQL path ends: a connection the server closed, a server that
/// stalls, a server that accepts and never answers, a statement or a lock wait that runs too
/// long. Each test bounds how long the failing call may take far below what a wait without a
/// deadline would take (forever), and well above the deadline, so a loaded machine passes.
final class PostgresDeadlineTests: XCTestCase {
    private var server: PrivateTestServer?

    override func tearDown() {
        try? server?.resume()
        server?.destroy()
        server = nil
        super.tearDown()
    }

    /// Deadlines of about a second, for tests that wait for them to pass.
    static let short = try! PostgresTimeouts(
        connect: .seconds(1), statement: .milliseconds(800), lock: .milliseconds(300), transaction: .seconds(2),
        idleInTransaction: .milliseconds(700))

    /// The longest a failing call may take in these tests: a connect and a transaction with
    /// ``short`` deadlines and their grace, with room for a loaded machine.
    static let failingCallSecondsMax = 12.0

    /// Runs `body`, which must throw `.io`; returns the error and how long the call took.
    func timedIOFailure(
        file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) -> (CofferError?, Double) {
        let started = Date()
        let error = assertThrowsIO(file: file, line: line, body)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertLessThan(seconds, Self.failingCallSecondsMax, "the call took \(seconds) s", file: file, line: line)
        return (error, seconds)
    }

    /// The postgres-nio case behind the hang this was built against: a query written to a
    /// connection the server has just closed is never answered nor failed by the library.
    func testAStatementOnAConnectionTheServerClosedFailsAtOnce() throws {
        let store = try TestDatabase.store()
        defer { store.close() }
        let raw = try RawConnection(try TestDatabase.location())
        let pid = try store.backendPID()
        let (error, _) = timedIOFailure {
            try store.session.transaction("the test's transaction") { statements -> TransactionEnd<Void> in
                try raw.terminate(pid)
                for _ in 0..<500 where !statements.connection.isClosed { usleep(10_000) }
                XCTAssertTrue(statements.connection.isClosed, "the server did not close the connection")
                try statements.execute("SELECT 1")
                return .commit(())
            }
        }
        XCTAssertTrue(error?.message.contains("nothing was written") ?? false, "\(String(describing: error))")
        // The next call opens a new connection.
        XCTAssertNoThrow(try store.listVaults())
    }

    func testAStalledServerFailsEachCallWithinItsDeadlineAndTheStoreCarriesOnAfter() throws {
        let server = try PrivateTestServer()
        self.server = server
        let store = try PostgresFrameStore(location: try server.location().with(timeouts: Self.short))
        defer { store.close() }
        try store.ensureSchema()
        let vaultID = randomBytes(16)
        try store.createVault(name: uniqueVaultName(), vaultID: vaultID, header: [1], firstFrames: makeFrames(1...2))

        try server.stall()
        // A read on the open connection: no answer, so the client's deadline ends it.
        let (readError, _) = timedIOFailure { _ = try store.lastSequence(vaultID: vaultID, logGeneration: 1) }
        XCTAssertEqual(readError?.code, .io(errno: ETIMEDOUT), "\(String(describing: readError))")
        // Then a commit: its new connection is accepted by the kernel but never logged in.
        let (appendError, _) = timedIOFailure {
            _ = try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3))
        }
        XCTAssertEqual(appendError?.code, .io(errno: ETIMEDOUT), "\(String(describing: appendError))")
        XCTAssertTrue(appendError?.message.contains("connect_timeout") ?? false, "\(String(describing: appendError))")
        try server.resume()

        // Nothing of the failed append landed, and the store goes on by itself.
        XCTAssertEqual(try store.lastSequence(vaultID: vaultID, logGeneration: 1), 2)
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3)), .appended)
    }

    func testAServerThatAcceptsAndNeverAnswersFailsTheConnectWithinConnectTimeout() throws {
        // A Unix socket that listens and never accepts: the kernel completes the connection.
        var template = Array("/tmp/coffer-silent.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        XCTAssertNotNil(made)
        let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try SilentListener(unixSocket: directory + "/.s.PGSQL.5432")
        defer { listener.close() }
        let location = try PostgresLocation(
            endpoint: .unixSocket(directory: directory, port: 5432), user: "postgres", password: nil,
            database: "coffer_test", vaultName: nil, timeouts: Self.short)
        let (error, _) = timedIOFailure { _ = try PostgresFrameStore(location: location) }
        XCTAssertEqual(error?.code, .io(errno: ETIMEDOUT), "\(String(describing: error))")
        XCTAssertTrue(error?.message.contains("connect_timeout (1 s)") ?? false, "\(String(describing: error))")
    }

    func testAHostNameThatResolvesToNoAddressIsSaidSo() throws {
        // `.invalid` never resolves (RFC 6761); before, this read "Connection reset by peer".
        let location = try PostgresLocation(
            endpoint: .tcp(host: "coffer-test.invalid", port: 5432), user: "postgres", password: nil,
            database: "coffer_test", vaultName: nil, timeouts: Self.short)
        let (error, _) = timedIOFailure { _ = try PostgresFrameStore(location: location) }
        // A resolver that answers late, or answers `.invalid` with an address of its own, says
        // nothing of this message.
        guard error?.code == .io(errno: EHOSTUNREACH) else {
            throw XCTSkip("this machine's resolver did not refuse the name: \(String(describing: error?.code))")
        }
        XCTAssertTrue(error?.message.contains("could not be resolved") ?? false, "\(String(describing: error))")
    }

    func testTCPConnectionsKeepAliveAndFailTheLoginWithinConnectTimeout() throws {
        let listener = try SilentListener(tcpLoopback: ())
        defer { listener.close() }
        let location = try PostgresLocation(
            endpoint: .tcp(host: "127.0.0.1", port: listener.port), user: "postgres", password: nil,
            database: "coffer_test", vaultName: nil, timeouts: Self.short)
        let (error, _) = timedIOFailure { _ = try PostgresFrameStore(location: location) }
        XCTAssertEqual(error?.code, .io(errno: ETIMEDOUT), "\(String(describing: error))")

        // The channel a TCP connection runs on has keepalive on, with the location's settings.
        let timeouts = try PostgresTimeouts(
            keepaliveIdle: .seconds(21), keepaliveInterval: .seconds(7), keepaliveCount: 4)
        let channel = try PostgresSession.connectTCP(
            host: "127.0.0.1", port: listener.port, timeouts: timeouts, deadline: .after(.seconds(10)), location)
        defer { channel.close(promise: nil) }
        func option<Option: ChannelOption>(_ option: Option) -> Option.Value? {
            if case .value(let value) = channel.getOption(option).wait(until: .after(.seconds(10))) { return value }
            return nil
        }
        XCTAssertEqual(option(.socketOption(.so_keepalive)), 1)
        XCTAssertEqual(option(.tcpOption(.init(rawValue: TCP_KEEPIDLE))), 21)
        XCTAssertEqual(option(.tcpOption(.init(rawValue: TCP_KEEPINTVL))), 7)
        XCTAssertEqual(option(.tcpOption(.init(rawValue: TCP_KEEPCNT))), 4)
    }

    func testTheSessionCarriesTheServerSideTimeouts() throws {
        let location = try TestDatabase.location().with(timeouts: Self.short)
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        let settings = try store.session.read("settings") { statements in
            try statements.execute(
                """
                SELECT name, setting FROM pg_settings WHERE name IN
                    ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout')
                """
            ).map { try $0.decode((String, String).self) }
        }
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: settings),
            ["statement_timeout": "800", "lock_timeout": "300", "idle_in_transaction_session_timeout": "700"])
    }

    func testAStatementOverStatementTimeoutIsCancelledAndTheConnectionStays() throws {
        let store = try PostgresFrameStore(location: try TestDatabase.location().with(timeouts: Self.short))
        defer { store.close() }
        let (error, _) = timedIOFailure {
            _ = try store.session.read("a slow statement") { try $0.execute("SELECT pg_sleep(30)") }
        }
        XCTAssertEqual(error?.code, .io(errno: ETIMEDOUT), "\(String(describing: error))")
        XCTAssertTrue(error?.message.contains("statement_timeout") ?? false, "\(String(describing: error))")
        // The server cancelled it: the connection is still good.
        XCTAssertNoThrow(try store.listVaults())
        XCTAssertEqual(store.connectionsOpened, 1)
    }

    func testAnAppendBehindAHeldRowLockGivesUpAfterLockTimeout() throws {
        let location = try TestDatabase.location()
        let store = try PostgresFrameStore(location: location.with(timeouts: Self.short))
        defer { store.close() }
        let vaultID = randomBytes(16)
        try store.createVault(name: uniqueVaultName(), vaultID: vaultID, header: [1], firstFrames: makeFrames(1...1))
        let raw = try RawConnection(location)
        try raw.execute("BEGIN")
        try raw.execute("SELECT 1 FROM coffer_vaults WHERE vault_id = \(ByteBuffer(bytes: vaultID)) FOR UPDATE")
        let (error, _) = timedIOFailure {
            _ = try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(2...2))
        }
        XCTAssertEqual(error?.code, .io(errno: ETIMEDOUT), "\(String(describing: error))")
        XCTAssertTrue(error?.message.contains("lock_timeout") ?? false, "\(String(describing: error))")
        try raw.execute("ROLLBACK")
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(2...2)), .appended)
    }

    /// F-SHARED-TURN: one holder at a time; a wait gives up after lock_timeout holding
    /// nothing; a holder that stalls in its turn is ended by the server, which releases it.
    func testAWriterTurnHasOneHolderAndAStalledHolderLosesIt() throws {
        let location = try TestDatabase.location().with(timeouts: Self.short)
        let first = try PostgresFrameStore(location: location)
        let second = try PostgresFrameStore(location: location)
        defer {
            first.close()
            second.close()
        }
        let vaultID = randomBytes(16)
        let otherVault = randomBytes(16)
        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID))
        let started = Date()
        XCTAssertFalse(try second.beginWriterTurn(vaultID: vaultID), "two holders of one turn")
        XCTAssertLessThan(Date().timeIntervalSince(started), Self.failingCallSecondsMax)
        // Another vault's turn is another lock.
        XCTAssertTrue(try second.beginWriterTurn(vaultID: otherVault))
        second.endWriterTurn()
        first.endWriterTurn()
        XCTAssertTrue(try second.beginWriterTurn(vaultID: vaultID))
        second.endWriterTurn()
        // A holder idle in its turn for longer than idle_in_transaction_session_timeout
        // (700 ms here) loses it: the server ends its session.
        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID))
        var taken = false
        let deadline = Date().addingTimeInterval(Self.failingCallSecondsMax)
        while !taken && Date() < deadline { taken = try second.beginWriterTurn(vaultID: vaultID) }
        XCTAssertTrue(taken, "the server did not release a stalled holder's turn")
        second.endWriterTurn()
        first.endWriterTurn()  // its connection is gone: nothing to do
        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID), "the next turn did not reconnect")
        first.endWriterTurn()
    }

    /// An append by the turn's holder is the turn's own transaction: its commit ends the turn
    /// (no round trip of its own), and ending the turn afterwards does nothing. An append from
    /// another thread of the same store, meanwhile, is a transaction of its own and leaves the
    /// turn held.
    func testAnAppendInTheWriterTurnEndsIt() throws {
        let (first, second, vaultID) = try makeTurnTakers()
        defer {
            first.close()
            second.close()
        }
        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID))
        let otherThread = TestThread { try first.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(2...2)) }
        XCTAssertEqual(try otherThread.join(), .appended)
        XCTAssertFalse(try second.beginWriterTurn(vaultID: vaultID), "another thread's append ended the turn")
        XCTAssertEqual(try first.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3)), .appended)
        XCTAssertTrue(try second.beginWriterTurn(vaultID: vaultID), "the holder's append did not end its turn")
        first.endWriterTurn()
        second.endWriterTurn()
        XCTAssertEqual(try first.lastSequence(vaultID: vaultID, logGeneration: 1), 3)
        // A conflicting append in the turn ends it too, writing nothing.
        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID))
        XCTAssertEqual(try first.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3)), .conflict)
        XCTAssertTrue(try second.beginWriterTurn(vaultID: vaultID))
        second.endWriterTurn()
        XCTAssertEqual(try first.lastSequence(vaultID: vaultID, logGeneration: 1), 3)
    }

    /// A turn whose connection was lost (the server ended it) leaves the append to a
    /// transaction of its own, which lands when nobody wrote meanwhile and conflicts when
    /// another writer did: the same outcomes as without turns, never an error.
    func testAnAppendWhoseTurnWasLostRunsInATransactionOfItsOwn() throws {
        let (first, second, vaultID) = try makeTurnTakers()
        defer {
            first.close()
            second.close()
        }
        let raw = try RawConnection(TestDatabase.location())
        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID))
        try raw.terminate(try first.turnBackendPID())
        XCTAssertEqual(try first.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(2...2)), .appended)
        first.endWriterTurn()

        XCTAssertTrue(try first.beginWriterTurn(vaultID: vaultID))
        try raw.terminate(try first.turnBackendPID())
        XCTAssertTrue(try second.beginWriterTurn(vaultID: vaultID))
        XCTAssertEqual(try second.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3)), .appended)
        XCTAssertEqual(try first.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(3...3)), .conflict)
        first.endWriterTurn()
        XCTAssertEqual(try first.lastSequence(vaultID: vaultID, logGeneration: 1), 3)
    }

    /// Two stores with the short timeouts, and a vault with one frame.
    private func makeTurnTakers() throws -> (PostgresFrameStore, PostgresFrameStore, [UInt8]) {
        let location = try TestDatabase.location().with(timeouts: Self.short)
        let first = try PostgresFrameStore(location: location)
        let second = try PostgresFrameStore(location: location)
        let vaultID = randomBytes(16)
        try first.createVault(
            name: uniqueVaultName(), vaultID: vaultID, header: randomBytes(8192), firstFrames: makeFrames(1...1))
        return (first, second, vaultID)
    }

    /// A writer waiting for a turn that another session holds and never ends (here a raw
    /// connection without an idle timeout) gives up with an I/O error that says why, not
    /// before a stalled holder would have been ended (idle_in_transaction_session_timeout)
    /// and within the failing-call bound; nothing was written, and the next wait succeeds.
    func testAWaitForTheWriterTurnEndsWithinItsDeadline() throws {
        try assertTurnWaitGivesUp(with: Self.short)
    }

    /// With statement_timeout shorter than lock_timeout, the server cancels a turn wait as a
    /// statement: that is a wait that ended, tried again like a lock_timeout, not a failure.
    func testATurnWaitCutByStatementTimeoutIsTriedAgain() throws {
        try assertTurnWaitGivesUp(
            with: try PostgresTimeouts(
                connect: .seconds(1), statement: .milliseconds(300), lock: .seconds(2), transaction: .seconds(2),
                idleInTransaction: .milliseconds(900)))
    }

    /// Holds a vault's writer turn on a connection of the test's own while a shared log with
    /// `timeouts` waits for it, and checks how the wait ends.
    private func assertTurnWaitGivesUp(
        with timeouts: PostgresTimeouts, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let name = uniqueVaultName()
        let location = try TestDatabase.location().naming(vault: name).with(timeouts: timeouts)
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        let vaultID = randomBytes(16)
        try store.createVault(name: name, vaultID: vaultID, header: [1], firstFrames: makeFrames(1...1))
        let log = try PostgresSharedLog(location: location)
        defer { log.close() }
        let raw = try RawConnection(TestDatabase.location())
        try raw.execute("BEGIN")
        try raw.execute("SELECT pg_advisory_xact_lock(\(PostgresFrameStore.writerTurnKey(vaultID)))")
        let (error, seconds) = timedIOFailure(file: file, line: line) { try log.beginWriterTurn() }
        XCTAssertEqual(error?.code, .io(errno: ETIMEDOUT), "\(String(describing: error))", file: file, line: line)
        XCTAssertTrue(
            error?.message.contains("writer turn") ?? false, "\(String(describing: error))", file: file, line: line)
        let idle =
            Double(timeouts.idleInTransaction.components.attoseconds) / 1e18
            + Double(timeouts.idleInTransaction.components.seconds)
        XCTAssertGreaterThanOrEqual(
            seconds, idle, "it gave up before a stalled holder would have been ended", file: file, line: line)
        try raw.execute("ROLLBACK")
        try log.beginWriterTurn()
        log.endWriterTurn()
    }

    func testAListenerOnAStalledServerReturnsWithinItsTimeout() throws {
        let server = try PrivateTestServer()
        self.server = server
        let location = try server.location().with(timeouts: Self.short)
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        try store.ensureSchema()
        let vaultID = randomBytes(16)
        try store.createVault(name: uniqueVaultName(), vaultID: vaultID, header: [1], firstFrames: makeFrames(1...1))
        let listener = try PostgresVaultListener(location: location, vaultID: vaultID)
        defer { listener.close() }
        try server.stall()
        let started = Date()
        XCTAssertNil(try listener.waitForNotification(timeout: .milliseconds(500)))
        XCTAssertLessThan(Date().timeIntervalSince(started), Self.failingCallSecondsMax)
        try server.resume()
        XCTAssertEqual(try store.append(vaultID: vaultID, logGeneration: 1, frames: makeFrames(2...2)), .appended)
        XCTAssertEqual(try listener.waitForNotification(timeout: .seconds(10))?.lastSequence, 2)
    }

    /// The rule the deadlines rest on, checked in the source: nothing in the module waits on
    /// an event loop future without one.
    func testNoFutureIsWaitedOnWithoutADeadline() throws {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        let directory = components.joined(separator: "/") + "/Sources/CofferPostgres"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".swift") }
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.contains(".wait()") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                XCTFail("\(file):\(number + 1) waits without a deadline: \(line)")
            }
        }
    }
}

/// A listening socket that never accepts: connections complete in the kernel and then hear
/// nothing, as from a server that is stopped or overloaded.
final class SilentListener {
    let descriptor: Int32
    private(set) var port = 0
    private var path: String?

    init(unixSocket path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CofferError(.io(errno: errno), "socket failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            let bytes = Array(path.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            Glibc.close(descriptor)
            throw CofferError(.io(errno: errno), "bind or listen failed")
        }
        self.path = path
    }

    init(tcpLoopback: Void) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CofferError(.io(errno: errno), "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(descriptor)
            throw CofferError(.io(errno: errno), "bind or listen failed")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() {
        Glibc.close(descriptor)
        if let path { unlink(path) }
    }
}
