import CofferCrypto
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
    ///
    /// posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit was seen
    /// to miss the child's exit here and hang.
    @discardableResult
    static func run(_ command: String, _ directory: String) throws -> String {
        let outputPath = "\(directory).\(command).out"
        let errorPath = "\(directory).\(command).err"
        defer {
            unlink(outputPath)
            unlink(errorPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let arguments = ["/bin/bash", path, command, directory]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw CofferError(.io(errno: spawned), "Cannot run \(path).") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw CofferError(.io(errno: errno), "waitpid failed.") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            let complaints = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw CofferError(
                .io(errno: EIO), "postgres-test-server \(command) failed (status \(status)): \(complaints)")
        }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A throw-away server of the test's own, in a temporary directory, for tests that stop and
/// start it.
final class PrivateTestServer {
    let directory: String
    private(set) var url = ""

    init() throws {
        guard TestServerScript.serverIsInstalled else {
            throw XCTSkip("PostgreSQL is not installed (make postgres-deps installs it): skipping.")
        }
        var template = Array("/tmp/coffer-pg-own.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try start()
    }

    func start() throws { url = try TestServerScript.run("start", directory) }

    func stop() throws { try TestServerScript.run("stop", directory) }

    func location() throws -> PostgresLocation { try PostgresLocation(parsing: url) }

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

    deinit { try? connection.close().wait() }

    @discardableResult
    func execute(_ query: PostgresQuery) throws -> PostgresQueryResult {
        try Statements(connection: connection).execute(query)
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
        for _ in 0..<1000 {
            let rows = try execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = \(pid) AND wait_event_type = 'Lock'")
            if !rows.isEmpty { return }
            usleep(10_000)
        }
        XCTFail("backend \(pid) never waited for a lock", file: file, line: line)
    }
}

extension PostgresFrameStore {
    /// The pid of the store's server backend (its current connection).
    func backendPID() throws -> Int32 {
        try session.read("backendPID") { try $0.execute("SELECT pg_backend_pid()").first!.decode(Int32.self) }
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

/// Asserts that `body` throws a CofferError with `code`, and returns it.
@discardableResult
func assertThrowsCoffer<T>(
    _ code: CofferError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) -> CofferError? {
    do {
        _ = try body()
        XCTFail("expected \(code), nothing was thrown", file: file, line: line)
    } catch let error as CofferError {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected CofferError \(code), got \(error)", file: file, line: line)
    }
    return nil
}

/// Asserts that `body` throws a CofferError with code `.io`, whatever the errno, and returns it.
@discardableResult
func assertThrowsIO<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) -> CofferError? {
    do {
        _ = try body()
        XCTFail("expected .io, nothing was thrown", file: file, line: line)
    } catch let error as CofferError {
        guard case .io = error.code else {
            XCTFail("expected .io, got \(error)", file: file, line: line)
            return error
        }
        return error
    } catch {
        XCTFail("expected CofferError .io, got \(error)", file: file, line: line)
    }
    return nil
}
