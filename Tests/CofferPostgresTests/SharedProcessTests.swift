import Coffer
import CofferCrypto
import CofferFormat
import CofferModel
import CofferStorage
import Foundation
import XCTest

@testable import CofferPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// Vault instances in separate processes (`coffer-shared-writer`) on one vault in PostgreSQL:
/// concurrent writers, a writer killed with SIGKILL, the server restarted under them.
final class SharedProcessTests: XCTestCase {
    let key = SecureBytes(copying: (0..<32).map { UInt8(17 + $0) })

    private var helperPath: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("coffer-shared-writer").path
    }

    /// A running writer process: its acknowledgements are its standard output.
    struct Writer {
        let process: ChildProcess
        var name: String { process.name }

        /// The commits it reported as acknowledged, in order.
        var acknowledged: [Int] { process.output.split(separator: "\n").compactMap { Int($0) } }

        /// The failures it retried, as (code, milliseconds the failed call took).
        var failures: [(code: String, milliseconds: Int)] {
            process.errorOutput.split(separator: "\n").compactMap { line in
                let words = line.split(separator: " ")
                guard words.count >= 3, words[0] == "failure", let milliseconds = Int(words.last!) else { return nil }
                return (words[1...].dropLast().joined(separator: " "), milliseconds)
            }
        }

        /// Waits for the process, within a deadline; its exit status (or 128 + signal).
        func wait(file: StaticString = #filePath, line: UInt = #line) -> Int32 {
            process.wait(seconds: 240, file: file, line: line)
        }
    }

    func launch(url: String, name: String, count: Int) throws -> Writer {
        guard access(helperPath, X_OK) == 0 else {
            throw XCTSkip("coffer-shared-writer is not built at \(helperPath); run `swift build` first")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["COFFER_TEST_KEY"] = key.withUnsafeBytes { Hex.encode(Array($0)) }
        environment["SWIFT_BACKTRACE"] = "enable=no"
        return Writer(
            process: try ChildProcess(helperPath, [url, name, String(count)], name: name, environment: environment))
    }

    /// A new shared vault with the organization the writers work in; its URL.
    func makeVault(on location: PostgresLocation, _ name: String) throws -> String {
        let named = try location.naming(vault: name)
        let storage = SharedLogStorage(backend: try PostgresSharedLog(location: named), path: named.description)
        let vault = try Vault.create(path: storage.path, unlock: .keyFile(key), options: .init(storage: storage))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        vault.close()
        // The test servers take no password, so the description is the whole URL.
        return named.description
    }

    /// Opens the vault afresh and checks it: every acknowledged commit present once, one
    /// default for the app, a clean verification.
    func assertHolds(_ acknowledged: [String: [Int]], url: String, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let location = try PostgresLocation(parsing: url)
        let storage = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
        let vault = try Vault.open(
            path: storage.path, unlock: .keyFile(key), options: .init(storage: storage, readOnly: true))
        defer { vault.close() }
        let credentials = vault.read { index in
            index.organization("acme").map { index.credentials(matching: CredentialFilter(organization: $0.id)) } ?? []
        }
        let slugs = credentials.map(\.slug)
        XCTAssertEqual(slugs.count, Set(slugs).count, "a commit applied twice", file: file, line: line)
        for (name, numbers) in acknowledged {
            for number in numbers {
                XCTAssertTrue(
                    slugs.contains("\(name)-\(number)"), "\(name)-\(number) was acknowledged and is missing",
                    file: file, line: line)
            }
        }
        XCTAssertEqual(
            credentials.filter(\.isDefault).count, 1, "one default per app and scope", file: file, line: line)
        XCTAssertEqual(vault.head.sequence, 2 + UInt64(slugs.count), file: file, line: line)
        let report = try Vault.verify(path: storage.path, unlock: .keyFile(key), storage: storage)
        XCTAssertEqual(report.problems, [], file: file, line: line)
    }

    func testTwoAndFourWriterProcessesLoseNothing() throws {
        let location = try TestDatabase.location()
        for processes in [2, 4] {
            let url = try makeVault(on: location, uniqueVaultName("processes\(processes)"))
            let writers = try (0..<processes).map { try launch(url: url, name: "w\(processes)x\($0)", count: 8) }
            for writer in writers { XCTAssertEqual(writer.wait(), 0, "\(writer.name) failed") }
            var acknowledged: [String: [Int]] = [:]
            for writer in writers {
                acknowledged[writer.name] = writer.acknowledged
                XCTAssertEqual(writer.acknowledged, Array(1...8))
                // Writers take turns through the database: contention alone never fails a commit.
                XCTAssertEqual(writer.failures.map(\.code), [], "\(writer.name) failed")
            }
            try assertHolds(acknowledged, url: url)
        }
    }

    func testAWriterKilledMidCommitLosesNothingAcknowledged() throws {
        let location = try TestDatabase.location()
        let url = try makeVault(on: location, uniqueVaultName())
        let victim = try launch(url: url, name: "victim", count: 0)
        // Three others running at once: one of them may be waiting for the turn the victim holds.
        let survivors = try (0..<3).map { try launch(url: url, name: "survivor\($0)", count: 10) }
        let seed = UInt64.random(in: 0...UInt64.max)
        // Kill it after a few acknowledged commits, at a moment that varies run to run.
        var waited = 0
        while victim.acknowledged.count < 3 && waited < 3000 {
            usleep(10_000)
            waited += 10
        }
        usleep(useconds_t(1000 + seed % 20_000))
        kill(victim.process.pid, SIGKILL)
        XCTAssertEqual(victim.wait(), 128 + SIGKILL)
        for survivor in survivors {
            XCTAssertEqual(survivor.wait(), 0)
            XCTAssertEqual(survivor.acknowledged, Array(1...10), "seed \(seed)")
            // The server ended the victim's turn with its connection: no one waited it out.
            XCTAssertEqual(survivor.failures.map(\.code), [], "seed \(seed)")
        }
        XCTAssertGreaterThanOrEqual(victim.acknowledged.count, 3, "seed \(seed)")
        var acknowledged = Dictionary(uniqueKeysWithValues: survivors.map { ($0.name, $0.acknowledged) })
        acknowledged["victim"] = victim.acknowledged
        try assertHolds(acknowledged, url: url)
        // Nothing is left locked, the writer turn included: another instance writes at once.
        let after = try launch(url: url, name: "after", count: 2)
        XCTAssertEqual(after.wait(), 0)
        acknowledged["after"] = [1, 2]
        try assertHolds(acknowledged, url: url)
    }

    /// Deadlines short enough that a stalled or restarted server costs the tests seconds.
    static let shortTimeouts = try! PostgresTimeouts(
        connect: .seconds(2), statement: .seconds(2), lock: .seconds(2), transaction: .seconds(4),
        idleInTransaction: .seconds(2))

    /// The longest a failed call of a writer may take with ``shortTimeouts``: a reconnection
    /// (connect + grace) then a transaction (its deadline), with room for a loaded machine. A
    /// call that waited without a deadline would take the whole outage or forever.
    static let failedCallMillisecondsMax = 15_000

    /// Waits until every writer acknowledged `more` commits beyond what it had when called,
    /// within a minute; returns whether they all did.
    @discardableResult
    func waitForProgress(_ writers: [Writer], more: Int) -> Bool {
        let targets = writers.map { $0.acknowledged.count + more }
        for _ in 0..<6000 {
            if zip(writers, targets).allSatisfy({ $0.acknowledged.count >= $1 }) { return true }
            usleep(10_000)
        }
        return false
    }

    /// Checks each writer's failures: all of them `io` or a conflict, none longer than a
    /// deadline allows.
    func assertFailuresWereBounded(_ writers: [Writer], file: StaticString = #filePath, line: UInt = #line) {
        for writer in writers {
            for failure in writer.failures {
                XCTAssertTrue(
                    failure.code.hasPrefix("io") || failure.code == "conflict" || failure.code == "writer_stopped",
                    "\(writer.name) failed with \(failure.code)", file: file, line: line)
                XCTAssertLessThan(
                    failure.milliseconds, Self.failedCallMillisecondsMax,
                    "\(writer.name): a failed call took \(failure.milliseconds) ms", file: file, line: line)
            }
        }
    }

    /// Stops writers that run until killed, and checks what they leave: the acknowledged
    /// commits numbered 1, 2, 3 … without a gap, every one present once.
    func stopAndCheck(_ writers: [Writer], url: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for writer in writers {
            kill(writer.process.pid, SIGKILL)
            XCTAssertEqual(
                writer.wait(), 128 + SIGKILL, "\(writer.name) ended before it was stopped", file: file, line: line)
            XCTAssertEqual(writer.acknowledged, Array(1..<(writer.acknowledged.count + 1)), file: file, line: line)
        }
        try assertHolds(
            Dictionary(uniqueKeysWithValues: writers.map { ($0.name, $0.acknowledged) }), url: url, file: file,
            line: line)
    }

    /// A private server with a shared vault on it, and its URL with ``shortTimeouts``.
    func privateServerWithVault() throws -> (PrivateTestServer, String) {
        let server = try PrivateTestServer()
        let location = try server.location().with(timeouts: Self.shortTimeouts)
        let store = try PostgresFrameStore(location: location)
        try store.ensureSchema()
        store.close()
        return (server, try makeVault(on: location, uniqueVaultName()))
    }

    /// Four writers, the server restarted three times under them: every writer carries on by
    /// itself after each restart, nothing acknowledged is lost or applied twice, no failed call
    /// outlived its deadline, and each writer holds no more sockets after the restarts than
    /// its own connection (a replaced connection is closed, not leaked).
    func testWritersCarryOnAcrossServerRestartsWithBoundedDescriptors() throws {
        let (server, url) = try privateServerWithVault()
        defer { server.destroy() }
        let writers = try (0..<4).map { try launch(url: url, name: "r\($0)", count: 0) }
        XCTAssertTrue(waitForProgress(writers, more: 2), "the writers did not start committing")
        var socketsSeen: [Int] = []
        for restart in 1...3 {
            try server.stop()
            usleep(300_000)
            try server.start()
            XCTAssertTrue(waitForProgress(writers, more: 3), "the writers did not carry on after restart \(restart)")
            socketsSeen += writers.map(\.process.openSockets)
        }
        // Two connections for the vault (its statements and its writer turn), and at most one
        // being replaced at the moment of looking.
        XCTAssertLessThanOrEqual(
            socketsSeen.max() ?? 0, 3, "sockets each writer held after each restart: \(socketsSeen)")
        XCTAssertTrue(writers.allSatisfy { !$0.failures.isEmpty }, "a writer never noticed a restart")
        assertFailuresWereBounded(writers)
        try stopAndCheck(writers, url: url)
    }

    /// Four writers, the server stopped with SIGSTOP for longer than every deadline, then
    /// resumed: calls fail with `io` within their deadlines instead of waiting for the server,
    /// and the writers carry on by themselves once it answers again.
    func testWritersFailWithinTheirDeadlinesWhileTheServerStallsThenCarryOn() throws {
        let (server, url) = try privateServerWithVault()
        defer {
            try? server.resume()
            server.destroy()
        }
        let writers = try (0..<4).map { try launch(url: url, name: "s\($0)", count: 0) }
        XCTAssertTrue(waitForProgress(writers, more: 2), "the writers did not start committing")
        try server.stall()
        // Longer than a transaction's deadline plus a reconnection's: every writer sees it.
        sleep(8)
        try server.resume()
        XCTAssertTrue(waitForProgress(writers, more: 3), "the writers did not carry on after the stall")
        for writer in writers {
            XCTAssertTrue(
                writer.failures.contains { $0.code.hasPrefix("io") }, "\(writer.name) never noticed the stall")
        }
        assertFailuresWereBounded(writers)
        try stopAndCheck(writers, url: url)
    }

    /// Runs the `coffer` CLI; its exit status and standard output.
    func coffer(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (Int32, String) {
        let binary = URL(fileURLWithPath: helperPath).deletingLastPathComponent().appendingPathComponent("coffer").path
        guard access(binary, X_OK) == 0 else { throw XCTSkip("coffer is not built at \(binary)") }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("COFFER_") }
        environment.merge(extra) { $1 }
        let process = try ChildProcess(binary, arguments, name: "coffer", environment: environment)
        let status = process.wait()
        return (status, process.output)
    }

    func testTheCLIWorksOnAPostgreSQLVaultAndCopiesItBothWays() throws {
        let url = try TestDatabase.location().naming(vault: uniqueVaultName()).description
        let directory = NSTemporaryDirectory() + "coffer-cli-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(directory, 0o700), 0)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyFile = directory + "/team.key"
        XCTAssertEqual(try coffer(["init", "--vault", url, "--generate-key-file", keyFile]).0, 0)
        let unlock = ["COFFER_KEY_FILE": keyFile]
        XCTAssertEqual(
            try coffer(["org", "create", "acme", "--name", "Acme", "--vault", url], environment: unlock).0, 0)
        XCTAssertEqual(
            try coffer(
                ["project", "create", "web", "--org", "acme", "--name", "Web", "--vault", url], environment: unlock
            ).0, 0)
        let (verified, report) = try coffer(["verify", "--json", "--vault", url], environment: unlock)
        XCTAssertEqual(verified, 0, report)
        XCTAssertTrue(report.contains("\"ok\": true"), report)
        // To a file, and from it to a new file: the same head everywhere.
        let file = directory + "/team.coffer"
        XCTAssertEqual(try coffer(["copy", "--vault", url, "--to", file]).0, 0)
        let second = directory + "/second.coffer"
        XCTAssertEqual(try coffer(["copy", "--vault", file, "--to", second]).0, 0)
        let heads = try [url, file, second].map { try coffer(["head", "--vault", $0], environment: unlock).1 }
        XCTAssertEqual(Set(heads).count, 1, "\(heads)")
        // The database holds this vault already, under its UUID, whatever the name asked for.
        let again = try TestDatabase.location().naming(vault: uniqueVaultName("again")).description
        XCTAssertEqual(try coffer(["copy", "--vault", file, "--to", again]).0, 1)
        XCTAssertEqual(try coffer(["copy", "--vault", url, "--to", second]).0, 1)
        let (listed, projects) = try coffer(["project", "list", "--org", "acme", "--vault", url], environment: unlock)
        XCTAssertEqual(listed, 0)
        XCTAssertTrue(projects.contains("web"))
        // salvage reads a shared vault and writes a file.
        XCTAssertEqual(
            try coffer(["salvage", "--vault", url, "--output", directory + "/s.coffer"], environment: unlock).0, 0)
        XCTAssertEqual(try coffer(["head", "--vault", directory + "/s.coffer"], environment: unlock).1, heads[0])
    }
}
