import Foundation
import XCTest

@testable import CofferCLI

/// `coffer run` (issue 18 #1), through the built binary: resolved values reach the command's
/// environment and nothing else, its exit status and output are its own, a resolution that
/// fails starts nothing, and `--print-env` writes a dotenv file `coffer import` reads back.
final class RunCommandTests: XCTestCase {
    func makeVault() throws -> CofferRunner {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0, ["credentials", "set", "exa", "--org", "acme", "--set", "token=sk-exa-org-0001", "--default"])
        try coffer.expect(
            0,
            [
                "credentials", "set", "exa", "--org", "acme", "--scope", "project", "--project-slug", "web", "--slug",
                "web",
                "--set", "token=sk-exa-web-0002", "--default",
            ])
        try coffer.expect(
            0,
            [
                "credentials", "set", "svc", "--org", "acme", "--type", "custom", "--set", "key=k-1", "--set",
                #"note=a "q" $HOME \ `x`"#,
            ])
        return coffer
    }

    func testTheCommandGetsTheResolvedValuesInItsEnvironmentOnly() throws {
        let coffer = try makeVault()
        let shown = try coffer.expect(
            0,
            [
                "run", "--org", "acme", "--env", "EXA=exa.token", "--env", "KEY=svc.key", "--", "/bin/sh", "-c",
                #"printf '%s|%s|%s|%s' "$EXA" "$KEY" "$#" "$COFFER_PASSPHRASE""#,
            ],
            environment: ["COFFER_PASSPHRASE": "coffer-only"])
        XCTAssertEqual(shown.standardOutput, "sk-exa-org-0001|k-1|0|")
        // The run's project decides, as resolution does.
        let web = try coffer.expect(
            0,
            [
                "run", "--org", "acme", "--project", "web", "--env", "EXA=exa.token", "--", "/bin/sh", "-c",
                #"printf %s "$EXA""#,
            ])
        XCTAssertEqual(web.standardOutput, "sk-exa-web-0002")
        // The exit status, standard input and output are the command's.
        try coffer.expect(7, ["run", "--org", "acme", "--env", "EXA=exa.token", "--", "/bin/sh", "-c", "exit 7"])
        let echoed = try coffer.expect(
            0, ["run", "--org", "acme", "--env", "EXA=exa.token", "--", "cat"], standardInput: "from stdin")
        XCTAssertEqual(echoed.standardOutput, "from stdin")
        // A script without #! runs under /bin/sh, as execvp runs it.
        try coffer.write("plain-script", text: "printf '%s' \"$EXA\"\n")
        XCTAssertEqual(chmod(coffer.path("plain-script"), 0o700), 0)
        XCTAssertEqual(
            try coffer.expect(0, ["run", "--org", "acme", "--env", "EXA=exa.token", "--", coffer.path("plain-script")])
                .standardOutput,
            "sk-exa-org-0001")
        // A mapping file.
        try coffer.write("run.env", text: "# the run's variables\nEXA = exa.token\n\nNOTE=svc.note\n")
        let fromFile = try coffer.expect(
            0,
            [
                "run", "--org", "acme", "--env-file", coffer.path("run.env"), "--", "/bin/sh", "-c",
                #"printf '%s|%s' "$EXA" "$NOTE""#,
            ])
        XCTAssertEqual(fromFile.standardOutput, #"sk-exa-org-0001|a "q" $HOME \ `x`"#)
        // CRLF lines and a byte-order mark are read as an editor wrote them.
        try coffer.write("crlf.env", text: "\u{FEFF}EXA=exa.token\r\nKEY=svc.key\r\n")
        let crlf = try coffer.expect(
            0,
            [
                "run", "--org", "acme", "--env-file", coffer.path("crlf.env"), "--", "/bin/sh", "-c",
                #"printf '%s|%s' "$EXA" "$KEY""#,
            ])
        XCTAssertEqual(crlf.standardOutput, "sk-exa-org-0001|k-1")
        try coffer.write("quoted.env", text: "EXA=\"exa.token\"\n")
        let quoted = try coffer.expect(
            64, ["run", "--org", "acme", "--env-file", coffer.path("quoted.env"), "--", "true"])
        XCTAssertTrue(quoted.standardError.contains("line 1"), quoted.standardError)
        // The command gets the values, not the means to open the vault.
        let withheld = try coffer.expect(
            0,
            [
                "run", "--org", "acme", "--env", "EXA=exa.token", "--", "/bin/sh", "-c",
                #"printf '[%s][%s]' "$COFFER_KEY_FILE" "$COFFER_PASSPHRASE_FILE""#,
            ])
        XCTAssertEqual(withheld.standardOutput, "[][]")
    }

    func testNothingStartsWhenAResolutionOrTheCommandLineFails() throws {
        let coffer = try makeVault()
        let marker = coffer.path("started")
        let touch = ["--", "/bin/sh", "-c", "touch '\(marker)'"]
        let missing = try coffer.expect(3, ["run", "--org", "acme", "--env", "LIN=linear.token"] + touch)
        XCTAssertTrue(missing.standardError.contains("linear"), missing.standardError)
        let field = try coffer.expect(1, ["run", "--org", "acme", "--env", "EXA=exa.sk-pasted-here"] + touch)
        XCTAssertFalse(field.standardError.contains("sk-pasted"), field.standardError)
        try coffer.expect(64, ["run", "--org", "acme", "--env", "EXA=exa.token", "--env", "EXA=svc.key"] + touch)
        try coffer.expect(64, ["run", "--org", "acme", "--env", "9X=exa.token"] + touch)
        try coffer.expect(64, ["run", "--org", "acme", "--env", "EXA"] + touch)
        try coffer.expect(64, ["run", "--org", "acme"] + touch)
        try coffer.expect(64, ["run", "--org", "acme", "--env", "EXA=exa.token"])
        try coffer.expect(1, ["run", "--org", "acme", "--as", "carol", "--env", "EXA=exa.token"] + touch)
        // Two organization credentials of one app and no default: run says what it can do
        // instead of an explicit selection, which it does not take.
        try coffer.expect(
            0, ["credentials", "set", "two", "--org", "acme", "--slug", "a", "--set", "token=sk-two-a-01"])
        try coffer.expect(
            0, ["credentials", "set", "two", "--org", "acme", "--slug", "b", "--set", "token=sk-two-b-02"])
        let ambiguous = try coffer.expect(4, ["run", "--org", "acme", "--env", "TWO=two.token"] + touch)
        XCTAssertTrue(ambiguous.standardError.contains("takes no --select; pick one"), ambiguous.standardError)
        XCTAssertFalse(ambiguous.standardError.contains("explicit selection"), ambiguous.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
        try coffer.expect(127, ["run", "--org", "acme", "--env", "EXA=exa.token", "--", "no-such-command-here"])
        try coffer.expect(126, ["run", "--org", "acme", "--env", "EXA=exa.token", "--", coffer.path("v.key")])
    }

    func testPrintEnvWritesADotenvFileImportReadsBack() throws {
        let coffer = try makeVault()
        let printed = try coffer.expect(
            0, ["run", "--org", "acme", "--env", "NOTE=svc.note", "--env", "EXA=exa.token", "--print-env"])
        XCTAssertEqual(
            printed.standardOutput, #"NOTE="a \"q\" \$HOME \\ \`x\`""# + "\n" + #"EXA="sk-exa-org-0001""# + "\n")
        // Read back by the dotenv importer, the value is the same bytes.
        let note = try coffer.expect(0, ["run", "--org", "acme", "--env", "NOTE=svc.note", "--print-env"])
            .standardOutput
        try coffer.write("printed.env", text: note)
        try coffer.expect(0, ["import", "--dotenv", coffer.path("printed.env"), "--org", "acme", "--app", "copied"])
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "copied/main", "--org", "acme", "--field", "token"])
                .standardOutput,
            #"a "q" $HOME \ `x`"#)
        try coffer.expect(64, ["run", "--org", "acme", "--env", "EXA=exa.token", "--print-env", "--", "true"])
        let output = BufferSink()
        let context = CommandContext(
            standardOutput: output, standardError: BufferSink(), environment: coffer.environment,
            standardOutputIsTerminal: true)
        XCTAssertEqual(
            CofferTool.run(["run", "--org", "acme", "--env", "EXA=exa.token", "--print-env"], in: context), .usage)
        XCTAssertEqual(output.text, "")
    }
}
