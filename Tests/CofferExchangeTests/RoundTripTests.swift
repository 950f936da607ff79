import Coffer
import CofferSimulation
import XCTest

@testable import CofferExchange

/// The round trips the exchange promises: export → bundle → import into an empty vault →
/// export gives the same document, and every resolution the same answer.
final class RoundTripTests: XCTestCase {
    func testTwoExportsOfOneStateAreByteIdentical() throws {
        let disk = SimulatedDisk()
        let vault = try Fixture.populatedVault(on: disk)
        let first = try Fixture.export(vault)
        XCTAssertEqual(try Fixture.export(vault), first)
        XCTAssertEqual(try Fixture.export(vault, revealing: false), try Fixture.export(vault, revealing: false))
        // Replayed from the log, and compacted, the state exports the same bytes.
        vault.close()
        let reopened = try Vault.open(
            path: "/vault/source.coffer", unlock: .keyFile(Fixture.key), options: .init(storage: disk))
        XCTAssertEqual(try Fixture.export(reopened), first)
        _ = try reopened.compact(CompactionOptions(reencrypt: true))
        XCTAssertEqual(try Fixture.export(reopened), first)
        reopened.close()
    }

    func testBundleImportIntoAnEmptyVaultExportsTheSameDocument() throws {
        let disk = SimulatedDisk()
        let source = try Fixture.populatedVault(on: disk)
        let original = try Fixture.export(source)
        let bundle = try original.withUnsafeBytes {
            try ExportBundle.seal($0, secret: .keyFile(Fixture.key), cost: .minimum)
        }
        XCTAssertNil(Fixture.text(bundle).range(of: "exa-work"), "the bundle holds no secret in the clear")

        let opened = try bundle.withUnsafeBytes { try ExportBundle.open($0, secret: .keyFile(Fixture.key)) }
        XCTAssertEqual(opened.withUnsafeBytes { Array($0) }, original)
        let document = try opened.withUnsafeBytes { try ExportDocument.decode($0) }
        let target = try Fixture.emptyVault(on: disk)
        let report = try Importer.importDocument(document, into: target, actor: "importer")
        XCTAssertEqual(report.count(.skipped), 0)
        XCTAssertEqual(report.count(.changed), 1, "the retention setting")
        XCTAssertFalse(report.dryRun)

        // The one difference: the active API key cannot work in another vault, so it comes
        // over revoked by the import.
        var expected = document
        let activeKey = try XCTUnwrap(expected.apiKeys.firstIndex { $0.state == .active })
        let imported = try Fixture.decode(try Fixture.export(target))
        let revocation = try XCTUnwrap(imported.apiKeys[activeKey].revoked)
        XCTAssertEqual(revocation.actor, "importer")
        expected.apiKeys[activeKey].state = .revoked
        expected.apiKeys[activeKey].revoked = revocation
        let expectedBytes = SecretBuffer()
        expected.write(to: expectedBytes)
        XCTAssertEqual(
            Fixture.text(try Fixture.export(target)),
            expectedBytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })

        XCTAssertEqual(Fixture.resolutions(target), Fixture.resolutions(source))
        XCTAssertGreaterThan(Fixture.resolutions(source).count, 500)
        // Every retained version reveals the same values.
        for credential in document.credentials {
            for version in [credential.version] + credential.olderVersions.map(\.version) {
                XCTAssertEqual(
                    try target.reveal(credential.id, version: version),
                    try source.reveal(credential.id, version: version))
            }
        }
        // The imported vault is a sound vault: it reopens to the same state.
        target.close()
        let reopened = try Vault.open(
            path: "/vault/target.coffer", unlock: .keyFile(Fixture.key), options: .init(storage: disk))
        XCTAssertEqual(
            Fixture.text(try Fixture.export(reopened)),
            expectedBytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    func testAStateWithoutActiveAPIKeysRoundTripsExactly() throws {
        let disk = SimulatedDisk()
        let source = try Fixture.populatedVault(on: disk)
        let key = try XCTUnwrap(
            source.read { index in
                try? index.apiKeys(organization: index.organizationID("acme"), visibleTo: index.userID("alice")).first {
                    $0.state == .active
                }
            })
        try source.mutate(actor: "alice") { try $0.revokeAPIKey(key.id, in: "acme", actingUser: "alice") }
        let original = try Fixture.export(source)
        let target = try Fixture.emptyVault(on: disk)
        _ = try Importer.importDocument(try Fixture.decode(original), into: target, actor: "importer")
        XCTAssertEqual(Fixture.text(try Fixture.export(target)), Fixture.text(original))
    }

    func testARedactedExportHoldsNoSecretAndCannotBeImported() throws {
        let disk = SimulatedDisk()
        let source = try Fixture.populatedVault(on: disk)
        let redacted = Fixture.text(try Fixture.export(source, revealing: false))
        for secret in [
            "exa-work-v6", "lin_api_0123456789abcdef", "correct horse", "GOCSPX-secret", "wJalrXUtnFEMI", "MIIE",
            "b3BlbnNzaC1rZXkt",
        ] {
            XCTAssertNil(redacted.range(of: secret), secret)
        }
        XCTAssertNotNil(redacted.range(of: "••••6666"))
        XCTAssertNotNil(redacted.range(of: "smtp.example.com"), "non-secret values are shown")
        let target = try Fixture.emptyVault(on: disk)
        XCTAssertThrowsError(
            try Importer.importDocument(try Fixture.decode(Array(redacted.utf8)), into: target, actor: "x")
        ) { error in
            XCTAssertEqual((error as? CofferError)?.code, .invalidInput)
            XCTAssertTrue("\(error)".contains("--reveal"), "\(error)")
        }
    }
}
