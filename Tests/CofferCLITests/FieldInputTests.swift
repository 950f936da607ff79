import Foundation
import XCTest

/// `--set FIELD=VALUE` through the binary: the `@` sources, typos in them, empty variables
/// and bytes that are not UTF-8, each refused with a clear message and nothing stored.
final class FieldInputTests: XCTestCase {
    func revealedToken(_ coffer: CofferRunner, _ selector: String) throws -> String? {
        let revealed = try coffer.expect(0, ["credentials", "get", selector, "--org", "acme", "--reveal", "--json"])
            .json()
        return (revealed["fields"] as? [String: String])?["token"]
    }

    func credentialCount(_ coffer: CofferRunner) throws -> Int {
        let listed = try coffer.expect(0, ["credentials", "list", "--org", "acme", "--json"]).json()
        return (listed["credentials"] as? [Any])?.count ?? -1
    }

    func testUnknownSourcesAndEmptyVariablesAreRefused() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        // A typo in the source's name is refused, not stored as the literal text.
        let typo = try coffer.expect(64, ["credentials", "set", "exa", "--org", "acme", "--set", "token=@evn:EXA_KEY"])
        XCTAssertTrue(typo.standardError.contains("no known source"), typo.standardError)
        XCTAssertFalse(typo.standardError.contains("EXA_KEY"), typo.standardError)
        // An empty variable is refused like an unset one.
        let empty = try coffer.expect(
            1, ["credentials", "set", "exa", "--org", "acme", "--set", "token=@env:EXA_KEY", "--json"],
            environment: ["EXA_KEY": ""])
        XCTAssertEqual(try empty.errorJSON()["code"] as? String, "invalid_input")
        XCTAssertTrue(empty.standardError.contains("is empty"), empty.standardError)
        XCTAssertEqual(try credentialCount(coffer), 0)
        // `@@` writes a value that starts with `@`; `@` without a word and a colon is literal.
        try coffer.expect(
            0, ["credentials", "set", "exa", "--org", "acme", "--slug", "a", "--set", "token=@@evn:EXA_KEY"])
        XCTAssertEqual(try revealedToken(coffer, "exa/a"), "@evn:EXA_KEY")
        try coffer.expect(
            0, ["credentials", "set", "exa", "--org", "acme", "--slug", "b", "--set", "token=@twelve chars"])
        XCTAssertEqual(try revealedToken(coffer, "exa/b"), "@twelve chars")
    }

    func testValuesThatAreNotUTF8AreRefused() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let notUTF8: [UInt8] = Array("token=abc".utf8) + [0xFF, 0xFE] + Array("def".utf8)
        let inline = try coffer.runRaw(
            ["credentials", "set", "exa", "--org", "acme", "--set"].map { Array($0.utf8) } + [notUTF8])
        XCTAssertEqual(inline.status, 1, inline.standardError)
        XCTAssertTrue(inline.standardError.contains("not UTF-8"), inline.standardError)
        let variable = try coffer.runRaw(
            ["credentials", "set", "exa", "--org", "acme", "--set", "token=@env:EXA_KEY"].map { Array($0.utf8) },
            environment: [Array("EXA_KEY=abc".utf8) + [0xC3] + Array("def".utf8)])
        XCTAssertEqual(variable.status, 1, variable.standardError)
        XCTAssertTrue(variable.standardError.contains("not UTF-8"), variable.standardError)
        XCTAssertEqual(try credentialCount(coffer), 0)
        // A real U+FFFD typed as UTF-8 is text like any other.
        try coffer.expect(0, ["credentials", "set", "exa", "--org", "acme", "--set", "token=a\u{FFFD}b"])
        XCTAssertEqual(try revealedToken(coffer, "exa/main"), "a\u{FFFD}b")
    }
}
