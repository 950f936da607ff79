import CofferCrypto
import CofferErrors
import Foundation
import PostgresNIO
import XCTest

@testable import CofferPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// The repository's `tools/postgres-test-server`, found from this file's path.
enum TestServerScript {
    static let path: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/CofferPostgresTests/PostgresTestSupport.swift
        return components.joined(separator: "/") + "/tools/postgres-test-server"
    }()

    /// Whether a PostgreSQL server is installed where the script looks for one.
    static var serverIsInstalled: Bool {
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") else {
            return false
        }
        return versions.contains { access("/usr/lib/postgresql/\($0)/bin/initdb", X_OK) == 0 }
    }

    /// Runs the script and returns its standard output, trimmed.
    @discardableResult
    static func run(_ command: String, _ directory: String, environment extra: [String: String] = [:]) throws
        -> String
    {
        let script = try ChildProcess(
            "/bin/bash", [path, command, directory], name: "postgres-test-server-\(command)",
            environment: ProcessInfo.processInfo.environment.merging(extra) { _, given in given })
        let status = script.wait(seconds: 180)
        guard status == 0 else {
            throw CofferError(
                .io(errno: EIO), "postgres-test-server \(command) failed (status \(status)): \(script.errorOutput)")
        }
        return script.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A throw-away server of the test's own, in a temporary directory (under
/// `COFFER_TEST_SERVER_ROOT` when set), for tests that stop, stall and start it.
final class PrivateTestServer {
    let directory: String
    private(set) var url = ""
    /// The TCP port it also listens on with TLS, when asked for (`tlsPort`).
    let tlsPort: Int?

    /// - Parameter tlsPort: a port to listen on at 127.0.0.1 with TLS as well, its certificate
    ///   signed by `directory/ca.crt` for localhost and 127.0.0.1.
    init(tlsPort: Int? = nil) throws {
        self.tlsPort = tlsPort
        guard TestServerScript.serverIsInstalled else {
            throw XCTSkip("PostgreSQL is not installed (make postgres-deps installs it): skipping.")
        }
        // Under the run's own directory when there is one (make test, tools/repeat-tests), so
        // that a server of a test process that was killed is stopped after the run.
        let root = ProcessInfo.processInfo.environment["COFFER_TEST_SERVER_ROOT"].flatMap { $0.isEmpty ? nil : $0 }
        var template = Array(((root ?? "/tmp") + "/coffer-pg-own.XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw CofferError(.io(errno: errno), "mkdtemp failed under \(root ?? "/tmp").") }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try start()
    }

    func start() throws {
        url = try TestServerScript.run(
            "start", directory, environment: tlsPort.map { ["COFFER_TEST_SERVER_TLS_PORT": "\($0)"] } ?? [:])
    }

    func stop() throws { try TestServerScript.run("stop", directory) }

    func location() throws -> PostgresLocation { try PostgresLocation(parsing: url) }

    /// The server's processes: the postmaster (from its pid file) and its children.
    func processes() throws -> [pid_t] {
        let pidFile = try String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)
        guard let first = pidFile.split(separator: "\n").first, let postmaster = pid_t(first) else {
            throw CofferError(.io(errno: EIO), "The server's pid file is unreadable.")
        }
        var result = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { result.append(pid) }
        }
        return result
    }

    /// Stops every process of the server with SIGSTOP: connections stay open, nothing answers.
    func stall() throws {
        // The postmaster first, so that it forks no backend the list would miss.
        let postmaster = try processes()[0]
        kill(postmaster, SIGSTOP)
        for pid in try processes() where pid != postmaster { kill(pid, SIGSTOP) }
    }

    /// Lets a stalled server go on with SIGCONT.
    func resume() throws {
        for pid in try processes() { kill(pid, SIGCONT) }
    }

    /// Stops the server and removes its directory.
    func destroy() {
        _ = try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The database every test shares: `COFFER_TEST_POSTGRES_URL` (set by `make test`), or a
/// server the test process starts through tools/postgres-test-server and stops at exit.
enum TestDatabase {
    private static let shared: Result<String, any Error> = Result {
        if let url = ProcessInfo.processInfo.environment["COFFER_TEST_POSTGRES_URL"], !url.isEmpty {
            return url
        }
        guard TestServerScript.serverIsInstalled else {
            throw XCTSkip(
                "COFFER_TEST_POSTGRES_URL is unset and PostgreSQL is not installed (make postgres-deps "
                    + "installs it; make test starts a server): skipping the PostgreSQL tests.")
        }
        let server = try PrivateTestServer()
        ownServer = server
        atexit { TestDatabase.ownServer?.destroy() }
        return server.url
    }

    /// The server this process started, if it started one; stopped at exit.
    nonisolated(unsafe) static var ownServer: PrivateTestServer?

    /// The shared location, the schema ensured once.
    private static let prepared: Result<PostgresLocation, any Error> = Result {
        let location = try PostgresLocation(parsing: try shared.get())
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        try store.ensureSchema()
        return location
    }

    /// The location of the shared test database; throws XCTSkip when there is none.
    static func location() throws -> PostgresLocation { try prepared.get() }

    /// A new store on the shared test database.
    static func store() throws -> PostgresFrameStore { try PostgresFrameStore(location: location()) }
}

/// Random bytes, for vault ids and frames.
func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// A unique vault name for one test.
func uniqueVaultName(_ label: String = #function) -> String {
    "test-\(label.prefix { $0 != "(" })-\(PostgresFrameStore.hex(randomBytes(6)))"
}

/// Frames `range` with random bodies of `size` bytes.
func makeFrames(_ range: ClosedRange<UInt64>, size: Int = 64) -> [PostgresFrame] {
    range.map { PostgresFrame(sequence: $0, bytes: randomBytes(size)) }
}

/// A connection of the test's own, for holding locks and looking at the server while the
/// store is in the middle of something.
final class RawConnection {
    let connection: PostgresConnection

    init(_ location: PostgresLocation) throws {
        connection = try PostgresSession.open(location, id: 900)
    }

    deinit { connection.closeWithinDeadline() }

    @discardableResult
    func execute(_ query: PostgresQuery) throws -> PostgresQueryResult {
        try Statements(connection: connection, timeouts: .default, transactionDeadline: nil).execute(query)
    }

    func backendPID() throws -> Int32 {
        try execute("SELECT pg_backend_pid()").first!.decode(Int32.self)
    }

    /// Terminates backend `pid` and waits until it is gone (PostgreSQL 14 and later).
    func terminate(_ pid: Int32) throws {
        let terminated = try execute("SELECT pg_terminate_backend(\(pid), 10000)").first!.decode(Bool.self)
        XCTAssertTrue(terminated, "backend \(pid) did not terminate")
    }

    /// Waits until backend `pid` waits for a lock, or fails after 10 seconds.
    func waitUntilBlocked(_ pid: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        try waitForRow(
            "SELECT 1 FROM pg_stat_activity WHERE pid = \(pid) AND wait_event_type = 'Lock'",
            "backend \(pid) never waited for a lock", file: file, line: line)
    }

    /// Waits until `query` returns a row, or fails with `failure` after 10 seconds.
    func waitForRow(
        _ query: PostgresQuery, _ failure: @autoclosure () -> String, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        for _ in 0..<1000 {
            if try !execute(query).isEmpty { return }
            usleep(10_000)
        }
        XCTFail(failure(), file: file, line: line)
    }
}

extension PostgresFrameStore {
    /// The pid of the store's server backend (its current connection).
    func backendPID() throws -> Int32 {
        try session.read("backendPID") { try $0.execute("SELECT pg_backend_pid()").first!.decode(Int32.self) }
    }

    /// The pid of the server backend of the store's writer-turn connection.
    func turnBackendPID() throws -> Int32 {
        try turnSession.read("turnBackendPID") { try $0.execute("SELECT pg_backend_pid()").first!.decode(Int32.self) }
    }
}

/// Runs `body` on a new thread; `join()` waits for it and returns its result.
final class TestThread<Value>: @unchecked Sendable {
    private var result: Result<Value, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            result = Result { try body() }
            done.signal()
        }
        thread.start()
    }

    func join(timeout seconds: Double = 30) throws -> Value {
        guard done.wait(timeout: .now() + seconds) == .success else {
            throw CofferError(.io(errno: ETIMEDOUT), "A test thread did not finish in \(seconds) s.")
        }
        return try result!.get()
    }
}
