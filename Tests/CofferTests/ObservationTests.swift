import CofferSimulation
import CofferStorage
import CofferTestSupport
import Dispatch
import XCTest

@testable import Coffer

/// `changes()`: an observer sees every committed transaction in log order, its own and, on a
/// read-only instance beside a writer, the writer's, without calling refresh; a slow observer
/// keeps the newest; ending the observation stops its polling.
final class ObservationTests: XCTestCase {
    let path = "/vault/team.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8($0 * 3 + 1) })

    /// Collects `count` changes from `stream`, or what came within `seconds`.
    func collect(
        _ count: Int, from stream: AsyncThrowingStream<VaultChange, any Error>, seconds: Double = 20
    ) -> [VaultChange] {
        let done = DispatchSemaphore(value: 0)
        let collected = Locked<[VaultChange]>([])
        let task = Task {
            do {
                for try await change in stream {
                    let total = collected.withLock {
                        $0.append(change)
                        return $0.count
                    }
                    if total == count { break }
                }
            } catch {
                XCTFail("the observation threw \(error)")
            }
            done.signal()
        }
        if done.wait(timeout: .now() + seconds) == .timedOut { task.cancel() }
        return collected.withLock { $0 }
    }

    func testAnObserverSeesItsOwnCommitsInOrderWithWhatTheyChanged() throws {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: SimulatedDisk()))
        defer { vault.close() }
        let changes = vault.changes()
        try vault.mutate(actor: "alice") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let ids = try vault.mutate(actor: "bob") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "exa", slug: "main", label: "Exa", type: .apiToken,
                    fields: FieldValues(["token": SecureBytes(copying: Array("exa-token-observed-1".utf8))]),
                    isDefault: true))
        }
        try vault.mutate(actor: "carol") {
            try $0.assign("exa/main", to: AssignmentTarget(kind: .workflow, slug: "triage"), in: "acme")
        }
        let seen = collect(3, from: changes)
        XCTAssertEqual(seen.map(\.actor), ["alice", "bob", "carol"])
        XCTAssertEqual(seen.map(\.sequence), seen.map(\.sequence).sorted())
        XCTAssertEqual(seen.last?.sequence, vault.head.sequence)
        XCTAssertEqual(seen[0].operations, [.createOrganization])
        XCTAssertEqual(seen[1].credentials, ids)
        XCTAssertEqual(seen[1].defaults, ids)
        XCTAssertEqual(seen[2].assignments.map(\.appKey), ["exa"])
        XCTAssertEqual(seen[2].assignments.map(\.target.slug), ["triage"])
    }

    /// The case: a read-only instance beside a writer saw 0 of 200 commits without
    /// calling refresh. An observer of it sees each one.
    func testAReadOnlyInstanceSeesAWritersCommitsWithoutRefreshing() throws {
        let disk = SimulatedDisk()
        let writer = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        defer { writer.close() }
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let reader = try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: true))
        defer { reader.close() }
        let changes = reader.changes(pollingEvery: .milliseconds(2))
        let commits = 200
        for number in 0..<commits {
            try writer.mutate(actor: "writer") {
                try $0.createProject(in: "acme", slug: "p\(number)", name: "P\(number)")
            }
        }
        let seen = collect(commits, from: changes)
        XCTAssertEqual(seen.count, commits)
        XCTAssertEqual(seen.map(\.sequence), Array((writer.head.sequence - UInt64(commits) + 1)...writer.head.sequence))
        XCTAssertEqual(reader.head, writer.head)
    }

    /// A slow observer keeps the newest changes; the sequence numbers show what it missed. An
    /// ended observation leaves no observer and no poller behind; closing ends every stream.
    func testBackpressureCancellationAndClose() throws {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: SimulatedDisk()))
        let slow = vault.changes(bufferingNewest: 3)
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for number in 0..<5 {
            try vault.mutate(actor: "ops") { try $0.createProject(in: "acme", slug: "p\(number)", name: "P") }
        }
        let kept = collect(3, from: slow)
        XCTAssertEqual(kept.map(\.sequence), Array((vault.head.sequence - 2)...vault.head.sequence))

        var abandoned: AsyncThrowingStream<VaultChange, any Error>? = vault.changes()
        XCTAssertEqual(vault.observers.observerCount, 2)
        abandoned = nil
        _ = abandoned
        // Dropping a stream ends its observation; the slow stream, still held, remains.
        XCTAssertEqual(vault.observers.observerCount, 1)
        let closing = vault.changes()
        let finished = DispatchSemaphore(value: 0)
        Task {
            do { for try await _ in closing {} } catch { XCTFail("closing threw \(error)") }
            finished.signal()
        }
        vault.close()
        XCTAssertEqual(finished.wait(timeout: .now() + 20), .success, "closing the vault ends its observations")
        XCTAssertTrue(vault.observers.isEmpty)
    }
}
