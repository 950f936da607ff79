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

    /// A running writer process and the file its acknowledgements go to.
    struct Writer {
        let pid: pid_t
        let name: String
        let outputPath: String

        /// The commits it reported as acknowledged, in order.
        var acknowledged: [Int] {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { Int($0) }
        }

        /// Waits for the process; its exit status (or 128 + signal).
        func wait() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
    }

    func launch(url: String, name: String, count: Int) throws -> Writer {
        guard access(helperPath, X_OK) == 0 else {
            throw XCTSkip("coffer-shared-writer is not built at \(helperPath); run `swift build` first")
        }
        let outputPath = NSTemporaryDirectory() + "coffer-shared-\(name)-\(getpid()).out"
        unlink(outputPath)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let arguments = [helperPath, url, name, String(count)]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var environment = ProcessInfo.processInfo.environment
        environment["COFFER_TEST_KEY"] = key.withUnsafeBytes { Hex.encode(Array($0)) }
        environment["SWIFT_BACKTRACE"] = "enable=no"
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in cEnvironment { free(entry) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, helperPath, &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else { throw CofferError(.io(errno: spawned), "Cannot start coffer-shared-writer.") }
        return Writer(pid: pid, name: name, outputPath: outputPath)
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
    func assertHolds(_ acknowledged: [String: [Int]], url: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let location = try PostgresLocation(parsing: url)
        let storage = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
        let vault = try Vault.open(path: storage.path, unlock: .keyFile(key), options: .init(storage: storage, readOnly: true))
        defer { vault.close() }
        let credentials = vault.read { index in
            index.organization("acme").map { index.credentials(matching: CredentialFilter(organization: $0.id)) } ?? []
        }
        let slugs = credentials.map(\.slug)
        XCTAssertEqual(slugs.count, Set(slugs).count, "a commit applied twice", file: file, line: line)
        for (name, numbers) in acknowledged {
            for number in numbers {
                XCTAssertTrue(slugs.contains("\(name)-\(number)"), "\(name)-\(number) was acknowledged and is missing", file: file, line: line)
            }
        }
        XCTAssertEqual(credentials.filter(\.isDefault).count, 1, "one default per app and scope", file: file, line: line)
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
            }
            try assertHolds(acknowledged, url: url)
        }
    }

    func testAWriterKilledMidCommitLosesNothingAcknowledged() throws {
        let location = try TestDatabase.location()
        let url = try makeVault(on: location, uniqueVaultName())
        let victim = try launch(url: url, name: "victim", count: 0)
        let survivor = try launch(url: url, name: "survivor", count: 10)
        let seed = UInt64.random(in: 0...UInt64.max)
        // Kill it after a few acknowledged commits, at a moment that varies run to run.
        var waited = 0
        while victim.acknowledged.count < 3 && waited < 3000 {
            usleep(10_000)
            waited += 10
        }
        usleep(useconds_t(1000 + seed % 20_000))
        kill(victim.pid, SIGKILL)
        XCTAssertEqual(victim.wait(), 128 + SIGKILL)
        XCTAssertEqual(survivor.wait(), 0)
        XCTAssertGreaterThanOrEqual(victim.acknowledged.count, 3, "seed \(seed)")
        try assertHolds(["victim": victim.acknowledged, "survivor": survivor.acknowledged], url: url)
        // Nothing is left locked: another instance writes at once.
        let after = try launch(url: url, name: "after", count: 2)
        XCTAssertEqual(after.wait(), 0)
        try assertHolds(["victim": victim.acknowledged, "survivor": survivor.acknowledged, "after": [1, 2]], url: url)
    }

    func testWritersCarryOnAcrossAServerRestart() throws {
        let server = try PrivateTestServer()
        defer { server.destroy() }
        let store = try PostgresFrameStore(location: server.location())
        try store.ensureSchema()
        store.close()
        let url = try makeVault(on: try server.location(), uniqueVaultName())
        let writers = try (0..<2).map { try launch(url: url, name: "r\($0)", count: 12) }
        var waited = 0
        while writers.contains(where: { $0.acknowledged.count < 2 }) && waited < 5000 {
            usleep(10_000)
            waited += 10
        }
        try server.stop()
        usleep(300_000)
        try server.start()
        for writer in writers { XCTAssertEqual(writer.wait(), 0, "\(writer.name) failed") }
        try assertHolds(Dictionary(uniqueKeysWithValues: writers.map { ($0.name, $0.acknowledged) }), url: url)
        for writer in writers { XCTAssertEqual(writer.acknowledged, Array(1...12)) }
    }

    /// Runs the `coffer` CLI; its exit status and standard output.
    func coffer(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (Int32, String) {
        let binary = URL(fileURLWithPath: helperPath).deletingLastPathComponent().appendingPathComponent("coffer").path
        guard access(binary, X_OK) == 0 else { throw XCTSkip("coffer is not built at \(binary)") }
        let outputPath = NSTemporaryDirectory() + "coffer-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArguments: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("COFFER_") }
        environment.merge(extra) { $1 }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in cEnvironment { free(entry) } }
        var pid = pid_t()
        guard posix_spawn(&pid, binary, &actions, nil, &cArguments, &cEnvironment) == 0 else {
            throw CofferError(.io(errno: EIO), "Cannot start coffer.")
        }
        let status = Writer(pid: pid, name: "coffer", outputPath: outputPath).wait()
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    func testTheCLIWorksOnAPostgreSQLVaultAndCopiesItBothWays() throws {
        let url = try TestDatabase.location().naming(vault: uniqueVaultName()).description
        let directory = NSTemporaryDirectory() + "coffer-cli-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(directory, 0o700), 0)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyFile = directory + "/team.key"
        XCTAssertEqual(try coffer(["init", "--vault", url, "--generate-key-file", keyFile]).0, 0)
        let unlock = ["COFFER_KEY_FILE": keyFile]
        XCTAssertEqual(try coffer(["org", "create", "acme", "--name", "Acme", "--vault", url], environment: unlock).0, 0)
        XCTAssertEqual(try coffer(["project", "create", "web", "--org", "acme", "--name", "Web", "--vault", url], environment: unlock).0, 0)
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
        XCTAssertEqual(try coffer(["salvage", "--vault", url, "--output", directory + "/s.coffer"], environment: unlock).0, 64)
    }
}
