import CofferTesting
import XCTest

/// What a service's test suite gets from `import CofferTesting`: a vault in memory, the same
/// ids and times on every run when asked, and crashes to test its own recovery.
final class MemoryVaultTests: XCTestCase {
    func populate(_ vault: Vault) throws -> [CredentialID] {
        try vault.mutate(actor: "test") { try $0.createOrganization(slug: "acme", name: "Acme") }
        return try vault.mutate(actor: "test") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "exa", slug: "main", label: "Exa", type: .apiToken,
                    fields: FieldValues(["token": SecureBytes(copying: Array("exa-test-token-1".utf8))])))
        }
    }

    func testDeterministicVaultsGiveTheSameIdsAndTimes() throws {
        let first = try MemoryVault(deterministic: 42)
        let second = try MemoryVault(deterministic: 42)
        let ids = try populate(first.vault)
        XCTAssertEqual(try populate(second.vault), ids)
        let created = first.vault.read { $0.credential(id: ids[0])?.created.timeMilliseconds }
        XCTAssertEqual(created, 1_767_225_600_000 + 1000)
        XCTAssertNotEqual(try populate(try MemoryVault(deterministic: 43).vault), ids)
        XCTAssertNotEqual(try populate(try MemoryVault().vault), ids)
    }

    /// A service tests its recovery: the disk dies during a commit, the commit fails, and the
    /// vault found after the restart holds every acknowledged commit. The failed one may
    /// survive, as on a real disk, when its bytes reached it; losing every unsynced byte, it
    /// does not.
    func testACrashDuringACommitKeepsWhatWasAcknowledged() throws {
        let memory = try MemoryVault(deterministic: 7)
        let ids = try populate(memory.vault)
        let syncs = memory.disk.callCounts()[.sync] ?? 0
        memory.armCrash(after: .write, atCall: memory.disk.callCounts()[.write] ?? 0)
        XCTAssertThrowsError(
            try memory.vault.mutate(actor: "test") { try $0.createProject(in: "acme", slug: "lost", name: "Lost") })
        XCTAssertEqual(memory.disk.callCounts()[.sync] ?? 0, syncs, "the failed commit never synced")
        let reopened = try memory.crashAndReopen(mode: .loseAllUnsynced)
        XCTAssertNotNil(reopened.read { $0.credential(id: ids[0]) })
        XCTAssertEqual(reopened.read { index in index.projects(in: index.organization("acme")!.id).count }, 0)
        try reopened.mutate(actor: "test") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        XCTAssertEqual(
            try memory.reopen().read { index in index.projects(in: index.organization("acme")!.id).count }, 1)
    }
}
