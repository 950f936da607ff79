import Coffer
import CofferTestSupport
import Foundation
import XCTest

@testable import CofferCLI

/// The terminal paths, in process with a scripted terminal: a passphrase asked once to open,
/// twice to create, and refused when the two answers differ; no prompt without a terminal.
final class PromptTests: XCTestCase {
    func testInitAsksTwiceAndOpenAsksOnce() throws {
        let directory = TemporaryDirectory()
        let environment = ["COFFER_VAULT": directory.file("p.coffer"), "COFFER_TEST_KDF": "minimum"]
        // Asked again on a mismatch, three times at most (issue 18 #8).
        let mismatch = InProcessRun.run(
            ["init"], environment: environment, terminalAnswers: ["one phrase", "another", "a", "b", "c", "d"])
        XCTAssertEqual(mismatch.status, .no)
        XCTAssertTrue(mismatch.standardError.contains("differed 3 times"), mismatch.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.file("p.coffer")))
        let created = InProcessRun.run(
            ["init"], environment: environment,
            terminalAnswers: ["same phrase", "typo phrase", "same phrase", "same phrase"])
        XCTAssertEqual(created.status, .success, created.standardError)
        XCTAssertTrue(created.standardError.contains("Enter it again"), created.standardError)
        XCTAssertTrue(created.standardError.contains("fewer than 12 characters"), created.standardError)
        let opened = InProcessRun.run(
            ["org", "create", "acme"], environment: environment, terminalAnswers: ["same phrase"])
        XCTAssertEqual(opened.status, .success, opened.standardError)
        let wrong = InProcessRun.run(["org", "list"], environment: environment, terminalAnswers: ["not it"])
        XCTAssertEqual(wrong.status, .vaultUnavailable)
        let noTerminal = InProcessRun.run(["org", "list"], environment: environment)
        XCTAssertEqual(noTerminal.status, .usage)
        // Inspect needs no key and asks for none unless --unlock.
        XCTAssertEqual(InProcessRun.run(["inspect"], environment: environment).status, .success)
        let unlocked = InProcessRun.run(
            ["inspect", "--unlock", "--json"], environment: environment, terminalAnswers: ["same phrase"])
        XCTAssertEqual(unlocked.status, .success, unlocked.standardError)
        XCTAssertTrue(unlocked.standardOutput.contains("\"unlocked\": true"), unlocked.standardOutput)
    }

    func testNewPassphraseIsAskedTwice() throws {
        let directory = TemporaryDirectory()
        let environment = ["COFFER_VAULT": directory.file("p.coffer"), "COFFER_TEST_KDF": "minimum"]
        XCTAssertEqual(
            InProcessRun.run(["init"], environment: environment, terminalAnswers: ["first", "first"]).status, .success)
        let changed = InProcessRun.run(
            ["key", "passphrase"], environment: environment, terminalAnswers: ["first", "second", "second"])
        XCTAssertEqual(changed.status, .success, changed.standardError)
        XCTAssertEqual(
            InProcessRun.run(["head"], environment: environment, terminalAnswers: ["second"]).status, .success)
        XCTAssertEqual(
            InProcessRun.run(["head"], environment: environment, terminalAnswers: ["first"]).status, .vaultUnavailable)
        // A short new passphrase from the environment or a file is warned of as at the prompt;
        // one that only opens the vault is not.
        var fromEnvironment = environment
        fromEnvironment["COFFER_PASSPHRASE"] = "second"
        fromEnvironment["COFFER_NEW_PASSPHRASE"] = "x"
        let short = InProcessRun.run(["key", "passphrase"], environment: fromEnvironment)
        XCTAssertEqual(short.status, .success, short.standardError)
        XCTAssertTrue(short.standardError.contains("fewer than 12 characters"), short.standardError)
        let created = InProcessRun.run(
            ["init"],
            environment: [
                "COFFER_VAULT": directory.file("q.coffer"), "COFFER_PASSPHRASE": "y", "COFFER_TEST_KDF": "minimum",
            ])
        XCTAssertEqual(created.status, .success, created.standardError)
        XCTAssertTrue(created.standardError.contains("fewer than 12 characters"), created.standardError)
        fromEnvironment["COFFER_PASSPHRASE"] = "x"
        let opened = InProcessRun.run(["head"], environment: fromEnvironment)
        XCTAssertEqual(opened.status, .success, opened.standardError)
        XCTAssertFalse(opened.standardError.contains("fewer than"), opened.standardError)
    }
}
