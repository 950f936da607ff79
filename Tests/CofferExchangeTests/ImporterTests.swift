import Coffer
import CofferSimulation
import CofferTestSupport
import XCTest

@testable import CofferExchange

/// Importing an export into a vault that is not empty: dry runs, conflict policies,
/// `--map-org`, retention, errors that name their path, and all-or-nothing.
final class ImporterTests: XCTestCase {
    var disk = SimulatedDisk()
    var source: Vault!
    var document: ExportDocument!

    override func setUpWithError() throws {
        disk = SimulatedDisk()
        source = try Fixture.populatedVault(on: disk)
        document = try Fixture.decode(try Fixture.export(source))
    }

    override func tearDown() {
        source?.close()
    }

    func assertThrows(
        _ code: CofferError.Code, _ words: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Void
    ) {
        guard let error = assertThrowsCoffer(code, file: file, line: line, body) else { return }
        XCTAssertTrue("\(error.message) \(error.candidates)".contains(words), "\(error)", file: file, line: line)
    }

    func testADryRunReportsEverythingAndWritesNothing() throws {
        let target = try Fixture.emptyVault(on: disk)
        let head = target.head
        let report = try Importer.importDocument(document, into: target, actor: "x", dryRun: true)
        XCTAssertTrue(report.dryRun)
        XCTAssertEqual(target.head, head)
        XCTAssertTrue(target.read { $0.organizations().isEmpty })
        let created = report.items.filter { $0.action == .created }
        XCTAssertEqual(created.filter { $0.kind == "organization" }.count, 2)
        XCTAssertEqual(created.filter { $0.kind == "credential" }.count, document.credentials.count)
        XCTAssertEqual(created.filter { $0.kind == "api_key" }.count, 2)
        XCTAssertEqual(report.items.first { $0.kind == "credential" }?.source, "$.credentials[0]")
        XCTAssertGreaterThan(report.operationCount, document.credentials.count)
        // The same import for real reports the same items.
        let real = try Importer.importDocument(document, into: target, actor: "x")
        XCTAssertEqual(real.items, report.items)
        XCTAssertEqual(real.operationCount, report.operationCount)
    }

    func testConflictsFailTheWholeImportByDefault() throws {
        let head = source.head
        assertThrows(.alreadyExists, "organization acme ($.organizations[0])") {
            _ = try Importer.importDocument(document, into: source, actor: "x")
        }
        XCTAssertEqual(source.head, head, "nothing was written")
        // The error lists every conflict.
        let expected =
            document.organizations.count + document.projects.count + document.users.count + document.memberships.count
            + document.credentials.count + document.assignments.count + document.apiKeys.count
        XCTAssertThrowsError(try Importer.importDocument(document, into: source, actor: "x")) { error in
            XCTAssertEqual((error as? CofferError)?.candidates.count, expected)
            XCTAssertTrue("\(error)".contains("--on-conflict"), "\(error)")
        }
    }

    func testSkipKeepsTheVaultAsItIs() throws {
        let before = try Fixture.export(source)
        let head = source.head
        let report = try Importer.importDocument(
            document, into: source, actor: "x", options: ImportOptions(onConflict: .skip))
        XCTAssertEqual(report.count(.created), 0)
        XCTAssertEqual(report.count(.changed), 0)
        XCTAssertEqual(report.operationCount, 0)
        XCTAssertEqual(source.head, head, "an import with nothing to do writes nothing")
        XCTAssertEqual(try Fixture.export(source), before)
    }

    func testReplaceMakesTheVaultsObjectsLikeTheImports() throws {
        var changed = document!
        let exa = try XCTUnwrap(changed.credentials.firstIndex { $0.appKey == "exa" && $0.slug == "personal" })
        changed.credentials[exa].label = "Exa (replaced)"
        changed.credentials[exa].fields = [.init(name: "token", content: .value(Fixture.secret("exa-replaced-token")))]
        let work = try XCTUnwrap(changed.credentials.firstIndex { $0.appKey == "exa" && $0.slug == "work" })
        changed.credentials[work].isDefault = false
        changed.credentials[exa].isDefault = true
        changed.organizations[0].name = "Acme (renamed)"
        let report = try Importer.importDocument(
            changed, into: source, actor: "x", options: ImportOptions(onConflict: .replace))
        let changes = report.items.filter { $0.action == .changed }
        XCTAssertEqual(Set(changes.map(\.kind)), ["organization", "credential"], "\(changes)")
        let personalID = changed.credentials[exa].id
        let info = try XCTUnwrap(source.read { $0.credential(id: personalID) })
        XCTAssertEqual(info.label, "Exa (replaced)")
        XCTAssertTrue(info.isDefault)
        XCTAssertEqual(try source.reveal(personalID)["token"], Fixture.secret("exa-replaced-token"))
        XCTAssertEqual(source.read { $0.history(of: personalID).last?.kind }, .defaultSet)
        XCTAssertEqual(source.read { $0.credential(id: changed.credentials[work].id)?.isDefault }, false)
        XCTAssertEqual(source.read { $0.organization("acme")?.name }, "Acme (renamed)")
        // Replaying the same import changes nothing more.
        let again = try Importer.importDocument(
            changed, into: source, actor: "x", options: ImportOptions(onConflict: .replace))
        XCTAssertEqual(again.count(.changed), 0)
        XCTAssertEqual(again.operationCount, 0)
    }

    /// A credential of the vault that the import does not name, whose default mark an imported
    /// credential takes back, is reported changed, in the dry run too.
    func testReplaceReportsTheDefaultMarkItTakesFromAnotherCredential() throws {
        let imported = try XCTUnwrap(
            document.credentials.first {
                if case .organization = $0.owner { return $0.isDefault && $0.state == .active }
                return false
            })
        let draft = CredentialDraft(
            appKey: imported.appKey, slug: "local", label: "Local", type: .apiToken,
            fields: FieldValues(["token": Fixture.secret("local-token-0123456789")]), isDefault: true)
        let local = try source.mutate(actor: "x") { try $0.createCredential(in: "acme", draft) }[0]
        for dryRun in [true, false] {
            let report = try Importer.importDocument(
                document, into: source, actor: "x", options: ImportOptions(onConflict: .replace), dryRun: dryRun)
            let item = report.items.first { $0.id == local.description }
            XCTAssertEqual(item?.action, .changed, "\(report.items)")
            XCTAssertEqual(item?.detail?.hasPrefix("default mark cleared"), true, "\(String(describing: item))")
        }
        XCTAssertEqual(source.read { $0.credential(id: local)?.isDefault }, false)
        XCTAssertEqual(source.read { $0.credential(id: imported.id)?.isDefault }, true)
    }

    /// A credential revoked in the vault and active in the import is reinstated, with the
    /// import's values, before anything else of it changes.
    func testReplaceReinstatesARevokedCredential() throws {
        var changed = document!
        let exa = try XCTUnwrap(changed.credentials.firstIndex { $0.appKey == "exa" && $0.slug == "personal" })
        let id = changed.credentials[exa].id
        try source.mutate(actor: "x") { try $0.revokeCredential(id.description, in: "acme") }
        changed.credentials[exa].fields = [.init(name: "token", content: .value(Fixture.secret("exa-back-token")))]
        let report = try Importer.importDocument(
            changed, into: source, actor: "x", options: ImportOptions(onConflict: .replace))
        XCTAssertEqual(report.items.first { $0.id == id.description }?.detail?.hasPrefix("reinstated"), true)
        XCTAssertEqual(source.read { $0.credential(id: id)?.state }, .active)
        XCTAssertEqual(try source.reveal(id)["token"], Fixture.secret("exa-back-token"))
        XCTAssertEqual(
            source.read { $0.history(of: id).suffix(3).map(\.kind) }, [.revoked, .reinstated, .fieldsUpdated])
    }

    func testReplaceRefusesWhatCannotChange() throws {
        var changed = document!
        let smtp = try XCTUnwrap(changed.credentials.firstIndex { $0.appKey == "smtp" })
        changed.credentials[smtp].kind = .keystroke
        let head = source.head
        assertThrows(.invalidInput, "$.credentials[\(smtp)]: the vault's credential smtp/main") {
            _ = try Importer.importDocument(
                changed, into: source, actor: "x", options: ImportOptions(onConflict: .replace))
        }
        XCTAssertEqual(source.head, head)
    }

    /// OPS-FIELD-KEYPAIR holds for every `ssh_key` version an import writes: a new
    /// credential's, a retained older one's, and a replacement's. Nothing is written.
    func testAnImportRefusesAnSSHKeyWhosePublicKeyIsNotItsPrivateKeys() throws {
        let ssh = try XCTUnwrap(document.credentials.firstIndex { $0.type == .sshKey })
        func pair(_ publicKey: String) -> [ExportDocument.Field] {
            [
                .init(name: "private_key", content: .value(Fixture.secret(TestSSHKeys.privateKey))),
                .init(name: "public_key", content: .value(Fixture.secret(publicKey))),
            ]
        }
        var mismatched = document!
        mismatched.credentials[ssh].fields = pair(TestSSHKeys.otherPublicKey)
        var olderMismatched = document!
        olderMismatched.credentials[ssh].fields = pair(TestSSHKeys.publicKey)
        olderMismatched.credentials[ssh].olderVersions = [.init(version: 1, fields: pair(TestSSHKeys.otherPublicKey))]
        olderMismatched.credentials[ssh].version = 2
        let target = try Fixture.emptyVault(on: disk)
        defer { target.close() }
        let head = target.head
        assertThrows(.invalidInput, "$.credentials[\(ssh)]: The public_key") {
            _ = try Importer.importDocument(mismatched, into: target, actor: "x")
        }
        assertThrows(.invalidInput, "$.credentials[\(ssh)].retained_versions[0]: The public_key") {
            _ = try Importer.importDocument(olderMismatched, into: target, actor: "x")
        }
        XCTAssertEqual(target.head, head)
        let sourceHead = source.head
        assertThrows(.invalidInput, "$.credentials[\(ssh)]: The public_key") {
            _ = try Importer.importDocument(
                mismatched, into: source, actor: "x", options: ImportOptions(onConflict: .replace))
        }
        XCTAssertEqual(source.head, sourceHead)
        // The matching pair lands, in both.
        var matching = document!
        matching.credentials[ssh].fields = pair(TestSSHKeys.publicKey)
        _ = try Importer.importDocument(matching, into: target, actor: "x")
        _ = try Importer.importDocument(
            matching, into: source, actor: "x", options: ImportOptions(onConflict: .replace))
        XCTAssertEqual(
            try source.reveal(matching.credentials[ssh].id)["public_key"], Fixture.secret(TestSSHKeys.publicKey))
    }

    func testMapOrgCopiesAnOrganizationWithNewIds() throws {
        let single = try Fixture.decode(try Fixture.export(source))
        let report = try Importer.importDocument(
            single, into: source, actor: "x",
            options: ImportOptions(onConflict: .skip, organizationMap: ["acme": "acme-copy", "globex": "globex-copy"]))
        let organizations = report.items.filter { $0.kind == "organization" }
        XCTAssertEqual(organizations.map(\.action), [.created, .created])
        XCTAssertTrue(organizations.allSatisfy { $0.detail?.contains("new id") == true })
        XCTAssertEqual(
            report.items.filter { $0.kind == "user" }.map(\.action), [.skipped, .skipped, .skipped, .skipped])
        // The copy resolves like the original, instance for instance.
        let (original, copy) = try source.read { index in
            (
                try index.organizationID("acme"),
                try index.organizationID("acme-copy")
            )
        }
        let originalApps = source.read {
            $0.credentials(matching: CredentialFilter(organization: original)).map {
                "\($0.appKey)/\($0.slug) \($0.version) \($0.isDefault)"
            }
        }
        let copiedApps = source.read {
            $0.credentials(matching: CredentialFilter(organization: copy)).map {
                "\($0.appKey)/\($0.slug) \($0.version) \($0.isDefault)"
            }
        }
        XCTAssertEqual(copiedApps, originalApps)
        let resolved = try source.resolve(ResolutionRequest(appKey: "exa", context: RunContext(organization: copy)))
        XCTAssertEqual(try source.reveal(resolved.id)["token"], Fixture.secret("exa-work-v6-6666"))
        XCTAssertNotEqual(
            resolved.id,
            try source.resolve(ResolutionRequest(appKey: "exa", context: RunContext(organization: original))).id)

        assertThrows(.invalidInput, "--map-org nope=…") {
            _ = try Importer.importDocument(
                single, into: source, actor: "x", options: ImportOptions(organizationMap: ["nope": "x"]))
        }
        assertThrows(.invalidInput, "both have the slug `globex`") {
            _ = try Importer.importDocument(
                single, into: source, actor: "x", options: ImportOptions(organizationMap: ["acme": "globex"]))
        }
    }

    func testAnInvalidValueNamesItsPathAndNothingIsWritten() throws {
        var broken = document!
        let smtp = try XCTUnwrap(broken.credentials.firstIndex { $0.appKey == "smtp" })
        broken.credentials[smtp].fields = broken.credentials[smtp].fields.map {
            $0.name == "port" ? .init(name: "port", content: .value(Fixture.secret("99999"))) : $0
        }
        let target = try Fixture.emptyVault(on: disk)
        let head = target.head
        assertThrows(.invalidInput, "$.credentials[\(smtp)]: The `port` field") {
            _ = try Importer.importDocument(broken, into: target, actor: "x")
        }
        XCTAssertEqual(target.head, head)
        XCTAssertTrue(target.read { $0.organizations().isEmpty }, "the organizations before it did not land either")
        // A history that does not hold together, too.
        var history = document!
        history.credentials[0].history.removeFirst()
        assertThrows(.invalidInput, "$.credentials[0]") {
            _ = try Importer.importDocument(history, into: target, actor: "x")
        }
        XCTAssertEqual(target.head, head)
    }

    func testAVaultWithItsOwnRetentionKeepsIt() throws {
        let target = try Fixture.emptyVault(on: disk)
        try target.mutate(actor: "x") { try $0.createUser(handle: "zed", displayName: "Zed") }
        try target.mutate(actor: "x") { try $0.setVersionRetention(2) }
        let report = try Importer.importDocument(document, into: target, actor: "x")
        XCTAssertEqual(report.items.first { $0.kind == "setting" }?.action, .skipped)
        let exa = try XCTUnwrap(document.credentials.first { $0.appKey == "exa" && $0.slug == "work" })
        XCTAssertEqual(exa.olderVersions.count, 3)
        XCTAssertTrue(
            report.items.contains {
                $0.id == exa.id.description && $0.detail?.contains("2 older versions not kept") == true
            })
        XCTAssertEqual(target.read { $0.versions(of: exa.id).map(\.version) }, [6, 5])
        XCTAssertEqual(try target.reveal(exa.id, version: 5)["token"], try source.reveal(exa.id, version: 5)["token"])
    }

    func testAnImportTooLargeForOneTransactionIsRefused() throws {
        let organization = document.organizations[0]
        var large = ExportDocument(revealed: true, versionRetention: 10, organizations: [organization])
        let value = "{\"blob\": \"" + String(repeating: "x", count: 65_000) + "\"}"
        let stamp = ChangeStamp(timeMilliseconds: 1, actor: "x")
        for index in 0..<270 {
            large.credentials.append(
                .init(
                    metadata: CredentialMetadata(
                        id: CredentialID(high: 9, low: UInt64(index)), organization: organization.id,
                        appKey: "app\(index)",
                        slug: "main", label: "App", kind: .apiKey, type: .custom, category: .custom,
                        owner: .organization(organization.id)),
                    state: .active, isDefault: false, version: 1,
                    fields: [.init(name: "json", content: .value(Fixture.secret(value)))],
                    history: [.init(kind: .created, version: 1, fields: ["json"], stamp: stamp)], olderVersions: []))
        }
        let target = try Fixture.emptyVault(on: disk)
        assertThrows(.invalidInput, "Import it in parts") {
            _ = try Importer.importDocument(large, into: target, actor: "x")
        }
        XCTAssertTrue(target.read { $0.organizations().isEmpty })
    }
}
