import Coffer
import XCTest

@testable import CofferExchange

/// The JSON writer's canonical bytes and the strict reader's errors.
final class JSONTests: XCTestCase {
    func text(_ value: JSONValue) -> String { value.text }

    func testTheWriterIsCanonical() {
        let value: JSONValue = [
            "b": [.unsigned(1), .bool(false), .null, [], [:]],
            "a": .string("quote \" backslash \\ newline \n tab \t cr \r bell \u{7} del \u{7F} é ✓"),
            "B": .secret(Fixture.secret("s\"\u{1}")),
        ]
        XCTAssertEqual(
            text(value),
            """
            {
              "B": "s\\"\\u0001",
              "a": "quote \\" backslash \\\\ newline \\n tab \\t cr \\r bell \\u0007 del \u{7F} é ✓",
              "b": [
                1,
                false,
                null,
                [],
                {}
              ]
            }

            """)
        let compact = SecretBuffer()
        JSONValue.object(["z": .string("1"), "a": [.unsigned(2)]]).writeCompact(to: compact)
        XCTAssertEqual(compact.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "{\"a\":[2],\"z\":\"1\"}")
    }

    func parse(_ text: String) throws -> JSONElement {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try JSONReader.parse($0) }
    }

    func testStringsDecodeEscapesAndSurrogatePairs() throws {
        let source = #"{"s": "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 ✓"}"#
        let bytes = Array(source.utf8)
        try bytes.withUnsafeBytes { buffer in
            let root = try JSONReader.parse(buffer)
            guard case .object(let members) = root.value, case .string(let slice) = members[0].value.value else {
                return XCTFail("not an object of a string")
            }
            let expected = "a\"b\\c/d\u{8}\u{C}\n\r\té😀 ✓"
            XCTAssertEqual(JSONReader.string(slice, in: buffer), expected)
            XCTAssertEqual(JSONReader.secret(slice, in: buffer), Fixture.secret(expected))
        }
    }

    func testMalformedJSONIsRefusedWithItsPlace() {
        let cases: [(String, String)] = [
            ("{\"a\": 1,}", "line 1, column 9"),
            ("{\"a\": 1, \"a\": 2}", "appears twice"),
            ("{\"a\": \"x\u{1}\"}", "raw control character"),
            ("{\"a\": \"\\ud800\"}", "high surrogate"),
            ("{\"a\": \"\\udc00\"}", "low surrogate"),
            ("{\"a\": \"\\x\"}", "unknown escape"),
            ("{\"a\": 01}", "expected `,` or `}`"),
            ("{\"a\": -}", "no digits"),
            ("{\"a\": 1.}", "decimal point"),
            ("{\"a\": tru}", "expected a value"),
            ("{\"a\": 1} x", "after the document"),
            ("{\"a\":\n  [1, 2\n", "line 3, column 1"),
            ("{\"a\": \"unterminated", "ends inside a string"),
            ("", "ends where a value should be"),
            (String(repeating: "[", count: 65) + String(repeating: "]", count: 65), "nest deeper than 64"),
            (
                "{\"credentials\": [{\"fields\": {\"token\": \"sk-secret-value\u{1}\"}}]}",
                "$.credentials[0].fields.token"
            ),
        ]
        for (source, words) in cases {
            XCTAssertThrowsError(try parse(source), source) { error in
                let error = error as! CofferError
                XCTAssertEqual(error.code, .invalidInput)
                XCTAssertTrue(error.message.contains(words), "\(source): \(error.message)")
                XCTAssertFalse(error.message.contains("sk-secret"), "a message never repeats a value")
            }
        }
        // Invalid UTF-8 (an overlong form, a lone continuation byte, a surrogate).
        for bytes: [UInt8] in [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try JSONReader.parse($0) }) { error in
                XCTAssertTrue("\(error)".contains("not valid UTF-8"), "\(error)")
            }
        }
        // Sixty-four levels are fine; a leading byte-order mark is skipped.
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertNoThrow(try parse("\u{FEFF}{}"))
    }
}
