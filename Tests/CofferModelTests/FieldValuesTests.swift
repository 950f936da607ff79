import CofferCrypto
import CofferModel
import XCTest

final class FieldValuesTests: XCTestCase {
    private func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    /// Names are kept in UTF-8 byte order (the order they are encoded in) however they were
    /// given, set one at a time or all at once.
    func testNamesAreInByteOrderHoweverTheyAreGiven() {
        let all = FieldValues(["token": secret("t"), "Zone": secret("z"), "é": secret("e"), "api_key": secret("k")])
        XCTAssertEqual(all.names, ["Zone", "api_key", "token", "é"])
        var oneByOne = FieldValues()
        for name in ["é", "token", "api_key", "Zone"] { oneByOne[name] = all[name] }
        XCTAssertEqual(oneByOne.names, all.names)
        XCTAssertEqual(oneByOne, all)
        XCTAssertEqual(all.count, 4)
        XCTAssertEqual(Set(all.values.keys), ["token", "Zone", "é", "api_key"])
        XCTAssertEqual(FieldValues(all.values), all)
    }

    /// Setting a present name replaces its value in place; setting `nil` removes it; reading
    /// an absent name gives `nil`.
    func testSettingReplacesAndNilRemoves() {
        var fields = FieldValues(["username": secret("bot"), "password": secret("old")])
        fields["password"] = secret("new")
        XCTAssertEqual(fields.names, ["password", "username"])
        XCTAssertEqual(fields["password"], secret("new"))
        fields["username"] = nil
        XCTAssertEqual(fields.names, ["password"])
        XCTAssertNil(fields["username"])
        fields["absent"] = nil
        XCTAssertEqual(fields.count, 1)
    }

    /// Names are `String`s: two canonically equivalent spellings are one name, as they were
    /// as dictionary keys.
    func testCanonicallyEquivalentSpellingsAreOneName() {
        let precomposed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        var fields = FieldValues([precomposed: secret("1")])
        XCTAssertEqual(fields[decomposed], secret("1"))
        fields[decomposed] = secret("2")
        XCTAssertEqual(fields.count, 1)
        XCTAssertEqual(fields[precomposed], secret("2"))
    }

    /// Equal when the same names hold equal values, whatever the order they were set in; the
    /// blank values go in `withoutBlanks`; the description never shows a value.
    func testEqualityBlanksAndDescription() {
        let first = FieldValues(["a": secret("1"), "b": secret("")])
        var second = FieldValues()
        second["b"] = secret("")
        second["a"] = secret("1")
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first, FieldValues(["a": secret("1"), "b": secret("x")]))
        XCTAssertNotEqual(first, FieldValues(["a": secret("1")]))
        XCTAssertEqual(first.withoutBlanks, FieldValues(["a": secret("1")]))
        XCTAssertEqual(first.description, "fields(a, b)")
    }
}
