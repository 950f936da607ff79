import Coffer
import XCTest

@testable import CofferCLI

/// Progress bars and colour appear only on a terminal, never with `--quiet` or `NO_COLOR`;
/// JSON is stable and escapes what it must; text tables align.
final class TerminalOutputTests: XCTestCase {
    private func context(terminal: Bool, environment: [String: String] = [:]) -> (
        CommandContext, BufferSink, BufferSink
    ) {
        let output = BufferSink()
        let error = BufferSink()
        let context = CommandContext(
            standardOutput: output, standardError: error, environment: environment, standardOutputIsTerminal: terminal,
            standardErrorIsTerminal: terminal)
        return (context, output, error)
    }

    func testProgressBarOnlyOnATerminalAndNotWhenQuiet() {
        let (terminal, _, terminalError) = context(terminal: true)
        let bar = ProgressBar(label: "verifying", context: terminal, quiet: false)
        bar.update(count: 10, done: 50, total: 100)
        bar.finish()
        XCTAssertTrue(terminalError.text.contains("50%"), terminalError.text)
        XCTAssertTrue(terminalError.text.contains("10 records"), terminalError.text)
        XCTAssertTrue(terminalError.text.hasSuffix("\r\u{1B}[2K"), "the bar is cleared at the end")
        let (quietContext, _, quietError) = context(terminal: true)
        let quiet = ProgressBar(label: "verifying", context: quietContext, quiet: true)
        quiet.update(count: 10, done: 50, total: 100)
        quiet.finish()
        XCTAssertEqual(quietError.bytes, [])
        let (pipe, _, pipeError) = context(terminal: false)
        let piped = ProgressBar(label: "verifying", context: pipe, quiet: false)
        piped.update(count: 10, done: 50, total: 100)
        piped.finish()
        XCTAssertEqual(pipeError.bytes, [])
    }

    func testColourOnlyOnATerminalWithoutNoColor() {
        XCTAssertTrue(context(terminal: true).0.outputStyle.enabled)
        XCTAssertFalse(context(terminal: false).0.outputStyle.enabled)
        XCTAssertFalse(context(terminal: true, environment: ["NO_COLOR": "1"]).0.outputStyle.enabled)
        XCTAssertFalse(context(terminal: true, environment: ["NO_COLOR": "1"]).0.errorStyle.enabled)
        // Set but empty counts as unset (no-color.org).
        XCTAssertTrue(context(terminal: true, environment: ["NO_COLOR": ""]).0.outputStyle.enabled)
        XCTAssertTrue(context(terminal: true, environment: ["NO_COLOR": ""]).0.errorStyle.enabled)
        XCTAssertEqual(Style(enabled: false).red("x"), "x")
        XCTAssertEqual(Style(enabled: true).red("x"), "\u{1B}[31mx\u{1B}[0m")
    }

    func testJSONIsSortedEscapedAndStreamsSecretsFromSecureMemory() {
        let sink = BufferSink()
        let secret = SecureBytes.copying(text: "a\"b\\c\nd\u{01}é")
        JSON.object(["z": .int(1), "a": [true, nil], "m": .secret(secret), "s": "x\ty"]).write(to: sink, compact: true)
        XCTAssertEqual(sink.text, "{\"a\":[true,null],\"m\":\"a\\\"b\\\\c\\nd\\u0001é\",\"s\":\"x\\ty\",\"z\":1}\n")
    }

    func testTablesAlign() {
        var table = Table("A", "LONGER")
        table.append("wide cell", "x")
        table.append("••••", "y")
        XCTAssertEqual(table.render(style: Style(enabled: false)), "A          LONGER\nwide cell  x\n••••       y\n")
    }

    /// A terminal too narrow for the table: the last column gives way first, then the widest
    /// of the others; ids stay whole; every line fits when the floors allow it.
    func testTablesFitTheTerminalByNarrowingTheWidestColumns() {
        var table = Table("ID", "CREDENTIAL", "OWNER", "FIELDS")
        table.append(
            "cred_0123456789abcdefghjkmnpq", "linear/production-eu-west", "project website", "token=••••1234, region=eu"
        )
        table.append("cred_1", "exa/main", "org acme", "token=••••abcd")
        let rendered = table.render(style: Style(enabled: false), columns: 80)
        let lines = rendered.split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 80 }, rendered)
        XCTAssertEqual(
            lines[1], "cred_0123456789abcdefghjkmnpq  linear/product…  project website  token=••••1234…", rendered)
        XCTAssertEqual(Table.fitting([29, 25, 15, 25], into: 80, whole: [0]), [29, 15, 15, 15])
        XCTAssertEqual(Table.fitting([10, 43], into: 40), [10, 28])
        // Columns too many for the width: none goes below its floor, whole ones stay whole.
        XCTAssertEqual(Table.fitting([10, 10, 20], into: 8), [8, 8, 8])
        XCTAssertEqual(Table.fitting([30, 10, 20], into: 8, whole: [0]), [30, 8, 8])
        XCTAssertEqual(Table.fitting([3, 50], into: 100), [3, 50])
    }

    func testTimesAreUTC() {
        XCTAssertEqual(Describe.time(0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(Describe.time(1_767_225_600_000), "2026-01-01T00:00:00Z")
        XCTAssertEqual(Describe.time(951_782_400_000), "2000-02-29T00:00:00Z")
        XCTAssertEqual(Describe.bytes(1_234_567), "1,234,567")
        XCTAssertEqual(Describe.uuid(Array(0..<16)), "00010203-0405-0607-0809-0a0b0c0d0e0f")
    }

    func testTokenLikeNamesAndTypeInference() {
        for name in ["token", "apiKey", "api_key", "API-KEY", "secret", "access_token"] {
            XCTAssertTrue(CredentialFields.isTokenLike(name), name)
        }
        XCTAssertFalse(CredentialFields.isTokenLike("region"))
        let one = FieldValues(["apiKey": SecureBytes.copying(text: "v")])
        XCTAssertEqual(CredentialFields.inferredType(one), .apiToken)
        XCTAssertEqual(try CredentialFields.shaped(one, for: .apiToken).names, ["token"])
        let two = FieldValues(["apiKey": SecureBytes.copying(text: "v"), "region": SecureBytes.copying(text: "eu")])
        XCTAssertEqual(CredentialFields.inferredType(two), .custom)
        // Members of a custom object go to the planner as they are (OPS-FIELD-CUSTOM).
        XCTAssertEqual(try CredentialFields.shaped(two, for: .custom).names, ["apiKey", "region"])
        let json = FieldValues(["json": SecureBytes.copying(text: "{}")])
        XCTAssertEqual(try CredentialFields.shaped(json, for: .custom)["json"], SecureBytes.copying(text: "{}"))
    }
}
