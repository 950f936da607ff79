import Coffer
import CofferSimulation
import Foundation
import XCTest

@testable import CofferExchange

/// The CSV of `keepassxc-cli export --format csv`: the committed fixture, made by the real
/// keepassxc-cli (tools/make-keepassxc-fixture), imports with every entry accounted for.
final class KeePassXCTests: XCTestCase {
    var fixture: [UInt8] {
        get throws {
            Array(try Data(contentsOf: BundleVectorBuilder.fixtures.appendingPathComponent("keepassxc-export.csv")))
        }
    }

    func credentials(_ text: String) throws -> CredentialEntries {
        try Array(text.utf8).withUnsafeBytes { try KeePassXCCSV.credentials($0) }
    }

    func json(_ entry: CredentialEntry) -> [String: String] {
        let data = entry.fields["json"]!.withUnsafeBytes { Data($0) }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: String] ?? [:]
    }

    func testTheFixtureMapsEveryEntry() throws {
        let result = try fixture.withUnsafeBytes { try KeePassXCCSV.credentials($0) }
        let records = try fixture.withUnsafeBytes { try CSVTable.parse($0) }.records.count - 1
        XCTAssertEqual(records, 10)
        XCTAssertEqual(result.entries.count + result.skipped.count, records, "every entry accounted for")
        let byName = Dictionary(uniqueKeysWithValues: result.entries.map { ("\($0.appKey)/\($0.slug)", $0) })
        XCTAssertEqual(
            byName.keys.sorted(),
            [
                "credit-agricole/personal-banking-money", "github/work", "github/work-2", "mail-server/work-email",
                "secure-note/main", "stripe-api/work", "top-level-entry/main", "wi-fi-home/personal",
            ])
        let github = try XCTUnwrap(byName["github/work"])
        XCTAssertEqual(github.type, .usernamePassword)
        XCTAssertEqual(github.label, "GitHub (https://github.com/login)")
        XCTAssertEqual(github.fields["username"], Fixture.secret("alice"))
        XCTAssertEqual(github.fields["password"], Fixture.secret("s3cr3t-Passw0rd-FAKE"))
        XCTAssertEqual(byName["github/work-2"]?.fields["username"], Fixture.secret("alice-work"))
        XCTAssertEqual(
            byName["mail-server/work-email"]?.fields["password"], Fixture.secret("p@ss \"quoted\", with, commas"))
        XCTAssertEqual(byName["stripe-api/work"]?.type, .apiToken)
        XCTAssertEqual(byName["stripe-api/work"]?.fields["token"], Fixture.secret("sk_test_FAKE0123456789abcdef"))
        XCTAssertEqual(byName["wi-fi-home/personal"]?.label, "Wi-Fi «home»")
        let bank = try XCTUnwrap(byName["credit-agricole/personal-banking-money"])
        XCTAssertEqual(bank.type, .custom, "notes are secret: kept in a custom credential")
        XCTAssertEqual(
            json(bank),
            [
                "username": "carol", "password": "hunter2-but-longer-FAKE", "url": "https://www.credit-agricole.fr",
                "notes": "Recovery codes (fake):\n1111-2222\n3333-4444",
            ])
        XCTAssertEqual(bank.label, "Crédit Agricole")
        XCTAssertEqual(
            json(try XCTUnwrap(byName["secure-note/main"])),
            ["notes": "A note with \"quotes\", commas,\nand a second line."])
        XCTAssertEqual(
            Set(result.skipped.map(\.reason)),
            ["no password, notes or TOTP: nothing secret to keep", "in the recycle bin"])
        XCTAssertEqual(result.skipped.map(\.name), ["Only a user name", "Recycle Bin/To delete"])
    }

    func testTheFixtureImportsIntoAVault() throws {
        let disk = SimulatedDisk()
        let vault = try Fixture.populatedVault(on: disk)
        let entries = try fixture.withUnsafeBytes { try KeePassXCCSV.credentials($0) }
        let report = try Importer.importEntries(entries, into: vault, organization: "globex", actor: "ops")
        XCTAssertEqual(report.count(.created), 8)
        XCTAssertEqual(report.count(.skipped), 2)
        XCTAssertEqual(report.items.count, 10)
        let globex = try vault.read { try $0.organizationID("globex") }
        let github = try vault.read { try $0.selectCredential("github/work", in: globex) }
        XCTAssertEqual(try vault.reveal(github)["password"], Fixture.secret("s3cr3t-Passw0rd-FAKE"))
        XCTAssertEqual(
            vault.read { $0.credential(id: github)?.fields.first { $0.name == "password" }?.text }, "••••",
            "a password shows no character")
    }

    func testMappingDetails() throws {
        let header =
            "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\",\"Icon\",\"Last Modified\",\"Created\"\r\n"
        let longURL = "https://example.com/" + String(repeating: "a", count: 200)
        let result = try credentials(
            header
                + "\"Root\",\"Ünïcödé Straße!!\",\"u\",\"p\",\"\",\"\",\"otpauth://totp/x?secret=ABC\",\"0\",\"\",\"\"\r\n"
                + "\"Root/A/B\",\"Long\",\"\",\"p\",\"\(longURL)\",\"\",\"\",\"0\",\"\",\"\"\r\n"
                + "\"Root\",\"!!!\",\"\",\"p\",\"\",\"\",\"\",\"0\",\"\",\"\"\r\n"
                + "\"Root\",\"multi\",\"line\nuser\",\"p\",\"\",\"\",\"\",\"0\",\"\",\"\"\r\n"
                + "\"Root\",\"db\",\"u\",\"p\",\"postgres://u:hunter2@db.example.com/x\",\"\",\"\",\"0\",\"\",\"\"")
        XCTAssertEqual(result.entries.map(\.appKey), ["unicode-strasse", "long", "multi", "db"])
        XCTAssertEqual(
            result.entries.map(\.type), [.custom, .custom, .custom, .custom],
            "TOTP, a long URL, a multi-line user name, a URL with a password")
        XCTAssertEqual(result.entries[3].label, "db", "a URL with a password stays out of the label")
        XCTAssertEqual(json(result.entries[3])["url"], "postgres://u:hunter2@db.example.com/x")
        XCTAssertEqual(json(result.entries[0])["totp"], "otpauth://totp/x?secret=ABC")
        XCTAssertEqual(result.entries[1].slug, "a-b")
        XCTAssertEqual(json(result.entries[1])["url"], longURL)
        XCTAssertEqual(result.entries[1].label, "Long")
        XCTAssertEqual(result.skipped.map(\.source), ["line 4"])
    }

    func testBrokenCSVIsRefusedWithItsLine() throws {
        let header =
            "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\",\"Icon\",\"Last Modified\",\"Created\"\n"
        let row = "\"Root\",\"T\",\"u\",\"p\",\"\",\"\",\"\",\"0\",\"\",\"\"\n"
        let cases: [(String, String)] = [
            (
                header + row + "\"Root\",\"T2\",\"u\",\"secret-never-closed\n,\n",
                "line 3: the quoted field 4 opened on this line is never closed"
            ),
            (
                header + row + "\"Root\",\"T2\",\"u\",\"p\"x,\"\",\"\",\"\",\"0\",\"\",\"\"\n",
                "line 3: field 4 has text after its closing quote"
            ),
            (header + "Root,T,u,p\"q,,,,0,,\n", "line 2: field 4 holds a quote but does not start with one"),
            (header + row + "\"Root\",\"T2\"\n", "line 3: the record has 2 fields where the header has 10"),
            ("\"Title\",\"Password\"\n\"T\",\"p\"\n", "line 1: the header has no `Group` column"),
            ("", "The CSV is empty"),
        ]
        for (text, words) in cases {
            XCTAssertThrowsError(try credentials(text), text) { error in
                let error = error as! CofferError
                XCTAssertEqual(error.code, .invalidInput)
                XCTAssertTrue(error.message.contains(words), "\(error.message)")
                XCTAssertFalse(error.message.contains("secret-never"), error.message)
            }
        }
    }
}
