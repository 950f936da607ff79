import Coffer
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import Dispatch
import XCTest

/// The engine end to end on a simulated disk: mutations are durable transactions, the index
/// rebuilt on open answers exactly as the live one, secrets come back only through reveal.
final class VaultTests: XCTestCase {
    let path = "/vault/team.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8($0 * 3) })

    func secret(_ text: String) -> SecureBytes { Self.secret(text) }
    static func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    func makeVault(on disk: SimulatedDisk) throws -> Vault {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "data", name: "Data") }
        try vault.mutate(actor: "setup") { try $0.createUser(handle: "alice", displayName: "Alice") }
        try vault.mutate(actor: "setup") { try $0.addMember("alice", to: "acme", role: .admin) }
        return vault
    }

    func token(_ app: String, _ slug: String, _ value: String, isDefault: Bool = false) -> CredentialDraft {
        Self.token(app, slug, value, isDefault: isDefault)
    }

    static func token(_ app: String, _ slug: String, _ value: String, isDefault: Bool = false) -> CredentialDraft {
        CredentialDraft(
            appKey: app, slug: slug, label: "\(app) \(slug)", type: .apiToken,
            fields: FieldValues(["token": secret(value)]), isDefault: isDefault)
    }

    func reopen(_ vault: Vault, disk: SimulatedDisk, readOnly: Bool = false) throws -> Vault {
        vault.close()
        return try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: readOnly))
    }

    func testCredentialsResolveAndRevealAcrossReopen() throws {
        let disk = SimulatedDisk()
        var vault = try makeVault(on: disk)
        let ids = try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme", token("exa", "work", "exa-org-secret-1234"), scopes: [.organization, .project("web")])
        }
        XCTAssertEqual(ids.count, 2)
        let acme = try XCTUnwrap(vault.read { $0.organization("acme") }).id
        let web = try XCTUnwrap(vault.read { $0.project("web", in: acme) }).id
        let data = try XCTUnwrap(vault.read { $0.project("data", in: acme) }).id

        func check(_ vault: Vault) throws {
            // A project run finds the project's instance; another project falls back to the organization's.
            let inWeb = try vault.resolve(
                ResolutionRequest(appKey: "exa", context: RunContext(organization: acme, project: web)))
            XCTAssertEqual(inWeb.id, ids[1])
            let inData = try vault.resolve(
                ResolutionRequest(appKey: "exa", context: RunContext(organization: acme, project: data)))
            XCTAssertEqual(inData.id, ids[0])
            XCTAssertEqual(try vault.reveal(ids[0])["token"], secret("exa-org-secret-1234"))
            let info = try XCTUnwrap(vault.read { $0.credential(id: ids[0]) })
            XCTAssertFalse("\(info)".contains("exa-org-secret-1234"))
        }
        try check(vault)
        vault = try reopen(vault, disk: disk)
        try check(vault)
        vault = try reopen(vault, disk: disk, readOnly: true)
        try check(vault)
        XCTAssertThrowsError(try vault.mutate(actor: "x") { try $0.createUser(handle: "bob", displayName: "Bob") })
        // Closed: what throws fails with .closed, resolution among it, however many closes.
        vault.close()
        vault.close()
        let request = ResolutionRequest(appKey: "exa", context: RunContext(organization: acme, project: web))
        XCTAssertThrowsCode(.closed, try vault.resolve(request))
        XCTAssertThrowsCode(.closed, try vault.resolveAndReveal(request))
        XCTAssertThrowsCode(.closed, try vault.reveal(ids[0]))
    }

    /// A reveal reads a record in one read when it fits what it reads at once, and in two
    /// when it does not: values from a few bytes to 64 KiB, the last record of the log among
    /// them, come back whole, from the writer and after a read-only reopen.
    func testRevealsRecordsOfEverySizeWholeIncludingTheLast() throws {
        let disk = SimulatedDisk()
        var vault = try makeVault(on: disk)
        let sizes = [1, 100, 3_000, 3_900, 4_000, 4_100, 8_000, 65_536]
        var ids: [(CredentialID, [UInt8])] = []
        for (number, size) in sizes.enumerated() {
            let value = (0..<size).map { UInt8(ascii: "a") + UInt8(($0 &* 7 &+ number) % 26) }
            let id = try vault.mutate(actor: "alice") {
                try $0.createCredential(
                    in: "acme",
                    CredentialDraft(
                        appKey: "blob", slug: "s\(number)", label: "Blob \(number)", type: .apiToken,
                        fields: FieldValues(["token": SecureBytes(copying: value)])))
            }[0]
            ids.append((id, value))
            // The newest record is the log's last: a read of it never reaches past the end.
            XCTAssertEqual(try vault.reveal(id)["token"], SecureBytes(copying: value), "size \(size)")
        }
        vault = try reopen(vault, disk: disk, readOnly: true)
        for ((id, value), size) in zip(ids, sizes) {
            XCTAssertEqual(try vault.reveal(id)["token"], SecureBytes(copying: value), "size \(size), reopened")
        }
        vault.close()
    }

    func testUpdateKeepsBlankSecretsAndRotationKeepsVersions() throws {
        let disk = SimulatedDisk()
        var vault = try makeVault(on: disk)
        let draft = CredentialDraft(
            appKey: "smtp", slug: "mail", label: "Mail", type: .smtp,
            fields: FieldValues([
                "host": secret("smtp.example.com"), "port": secret("587"), "username": secret("bot"),
                "password": secret("first-password"), "encryption": secret("starttls"),
            ]))
        let id = try vault.mutate(actor: "alice") { try $0.createCredential(in: "acme", draft) }[0]
        let update = CredentialUpdate(
            label: "Outbound mail", fields: FieldValues(["password": secret(""), "username": secret("robot")]))
        try vault.mutate(actor: "alice") {
            try $0.updateCredential(id.description, in: "acme", update, reveal: vault.readOperation)
        }
        var fields = try vault.reveal(id)
        XCTAssertEqual(fields["password"], secret("first-password"))
        XCTAssertEqual(fields["username"], secret("robot"))
        try vault.mutate(actor: "alice") {
            try $0.rotateCredential(
                id.description, in: "acme", fields: FieldValues(["password": self.secret("second-password")]),
                reveal: vault.readOperation)
        }
        vault = try reopen(vault, disk: disk)
        fields = try vault.reveal(id)
        XCTAssertEqual(fields["password"], secret("second-password"))
        let versions = vault.read { $0.versions(of: id) }
        XCTAssertGreaterThanOrEqual(versions.count, 2)
        XCTAssertEqual(try vault.reveal(id, version: versions.last!.version)["password"], secret("first-password"))
        // A version that never was is said to be so, whatever the retention keeps.
        let current = try XCTUnwrap(vault.read { $0.credential(id: id) }?.version)
        for version in [0, current + 1] {
            XCTAssertThrowsError(try vault.reveal(id, version: version)) { error in
                XCTAssertEqual((error as? CofferError)?.code, .notFound)
                XCTAssertTrue(
                    (error as? CofferError)?.message.contains("there is no version \(version)") ?? false, "\(error)")
            }
        }
        XCTAssertEqual(vault.read { $0.credential(id: id) }?.label, "Outbound mail")
        XCTAssertFalse(vault.read { $0.history(of: id) }.isEmpty)
    }

    func testDeleteReportsImpactAndRemovesAssignments() throws {
        let disk = SimulatedDisk()
        let vault = try makeVault(on: disk)
        let ids = try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", token("linear", "work", "lin_api_0001", isDefault: true))
        }
        let target = AssignmentTarget(kind: .agent, slug: "triage")
        try vault.mutate(actor: "alice") { try $0.assign("linear/work", to: target, in: "acme") }
        let impact = try vault.read { (index: borrowing VaultIndex) throws(CofferError) in
            try Planner(index: copy index).deletionImpact(of: "linear/work", in: "acme")
        }
        let deleted = try vault.mutate(actor: "alice") { try $0.deleteCredential("linear/work", in: "acme") }
        XCTAssertEqual("\(impact)", "\(deleted)")
        let acme = try XCTUnwrap(vault.read { $0.organization("acme") }).id
        XCTAssertTrue(vault.read { $0.assignments(organization: acme) }.isEmpty)
        XCTAssertNil(vault.read { $0.credential(id: ids[0]) })
        XCTAssertEqual(vault.read { $0.checkInvariants() }, [])
    }

    func testRevokedNeverResolvesAndAPIKeysAreShownOnce() throws {
        let disk = SimulatedDisk()
        var vault = try makeVault(on: disk)
        _ = try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", token("exa", "work", "exa-secret-xyz"))
        }
        try vault.mutate(actor: "alice") { try $0.revokeCredential("exa/work", in: "acme") }
        let acme = try XCTUnwrap(vault.read { $0.organization("acme") }).id
        XCTAssertThrowsError(
            try vault.resolve(ResolutionRequest(appKey: "exa", context: RunContext(organization: acme))))

        let created = try vault.createAPIKey(in: "acme", creator: "alice", name: "automation")
        let check = try vault.checkAPIKey(created.secret)
        XCTAssertEqual(check.organization, acme)
        vault = try reopen(vault, disk: disk)
        XCTAssertEqual(try vault.checkAPIKey(created.secret).organization, acme)
        XCTAssertThrowsError(try vault.checkAPIKey(secret("ck_live_not_a_real_key")))
        try vault.mutate(actor: "alice") { try $0.revokeAPIKey(created.id, in: "acme", actingUser: "alice") }
        XCTAssertThrowsError(try vault.checkAPIKey(created.secret))
    }

    func testVerifyIsCleanAndAGarbageTransactionIsCorruption() throws {
        let disk = SimulatedDisk()
        let vault = try makeVault(on: disk)
        _ = try vault.mutate(actor: "alice") { try $0.createCredential(in: "acme", token("exa", "work", "exa-secret")) }
        let head = vault.head
        vault.close()
        let report = try Vault.verify(path: path, unlock: .keyFile(key), expectedHead: head, storage: disk)
        XCTAssertTrue(report.isClean, "\(report.problems)")
        XCTAssertEqual(report.head, head)

        // A well-sealed record whose operation is a known code with a malformed body: open
        // must refuse it as corruption.
        let store = try VaultStore.open(path: path, secret: .keyFile(key), options: .init(storage: disk))
        let bogus = TransactionPayload(
            timeMilliseconds: 1, actor: "x", operations: [Operation(code: 0x0503, bytes: [1, 2, 3])])
        _ = try store.append([bogus.encode()!])
        store.close()
        XCTAssertThrowsCode(
            .corrupted, try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk)))
        let bad = try Vault.verify(path: path, unlock: .keyFile(key), storage: disk)
        XCTAssertEqual(bad.problems.map(\.kind), [.invariant])
    }

    /// OPS-DEC-1: an operation code this reader does not know is a newer writer's operation,
    /// refused as `unsupported_version`, not reported as damage.
    func testAnUnknownOperationCodeIsUnsupportedVersionNotCorruption() throws {
        let disk = SimulatedDisk()
        try makeVault(on: disk).close()
        let store = try VaultStore.open(path: path, secret: .keyFile(key), options: .init(storage: disk))
        let future = TransactionPayload(
            timeMilliseconds: 1, actor: "x", operations: [Operation(code: 0xEEEE, bytes: [1, 2, 3])])
        _ = try store.append([future.encode()!])
        store.close()
        XCTAssertThrowsCode(
            .unsupportedVersion, try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk)))
    }

    func testReadersRunBesideAWriterAndNeverFail() throws {
        let disk = SimulatedDisk()
        let vault = try makeVault(on: disk)
        let acme = try XCTUnwrap(vault.read { $0.organization("acme") }).id
        _ = try vault.mutate(actor: "alice") { try $0.createCredential(in: "acme", token("exa", "org", "exa-org")) }
        let writes = 60
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            if worker == 0 {
                for index in 0..<writes {
                    do {
                        _ = try vault.mutate(actor: "alice") {
                            try $0.createCredential(
                                in: "acme", VaultTests.token("app\(index % 7)", "s\(index)", "secret-\(index)"))
                        }
                    } catch { XCTFail("write \(index): \(error)") }
                }
            } else {
                for _ in 0..<400 {
                    do {
                        let resolved = try vault.resolve(
                            ResolutionRequest(appKey: "exa", context: RunContext(organization: acme)))
                        XCTAssertEqual(try vault.reveal(resolved.id)["token"], VaultTests.secret("exa-org"))
                    } catch { XCTFail("reader \(worker): \(error)") }
                }
            }
        }
        let count = vault.read { $0.credentials(matching: CredentialFilter(organization: acme)).count }
        XCTAssertEqual(count, writes + 1)
        let reopened = try reopen(vault, disk: disk)
        XCTAssertEqual(
            reopened.read { $0.credentials(matching: CredentialFilter(organization: acme)).count }, writes + 1)
    }
}
