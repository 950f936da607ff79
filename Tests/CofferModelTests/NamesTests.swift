import CofferErrors
import CofferTestSupport
import XCTest

@testable import CofferModel

final class NamesTests: XCTestCase {
    /// OPS-TEXT-NAME and OPS-TEXT-ACTOR, read from an ASCII text's bytes, give the answers of
    /// the rules' own definition over its scalars: seeded random texts of letters, spaces,
    /// control characters, Unicode white space and other scalars.
    func testNamesAndActorsAreCheckedAsTheirScalarsSay() {
        let ascii = ["a", "Z", "0", " ", "-", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{1F}", "\u{7F}"]
        let others = ["\u{85}", "\u{9F}", "\u{A0}", "\u{2003}", "\u{3000}", "é", "😀"]
        for seed: UInt64 in 1...3 {
            let random = SplitMix64(seed: seed)
            for round in 0..<3000 {
                let choices = random.next() % 2 == 0 ? ascii : ascii + others
                var text = ""
                for _ in 0..<Int(random.next() % 8) { text += choices[Int(random.next() % UInt64(choices.count))] }
                let hasControl = text.unicodeScalars.contains(where: Names.isControl)
                let isName = !hasControl && text.unicodeScalars.contains { !$0.properties.isWhitespace }
                let tag = "seed \(seed), round \(round), scalars \(text.unicodeScalars.map { $0.value })"
                XCTAssertEqual((try? Names.checkName(text, what: "label")) != nil, isName, tag)
                XCTAssertEqual((try? Names.checkActor(text)) != nil, !hasControl, tag)
            }
        }
        // Around the 200-byte limit, in ASCII and with a two-byte scalar at the end.
        for (text, fits) in [
            (String(repeating: "a", count: 200), true), (String(repeating: "a", count: 201), false),
            (String(repeating: "a", count: 198) + "é", true), (String(repeating: "a", count: 199) + "é", false),
        ] {
            XCTAssertEqual((try? Names.checkName(text, what: "label")) != nil, fits, "\(text.utf8.count) bytes")
            XCTAssertEqual((try? Names.checkActor(text)) != nil, fits, "\(text.utf8.count) bytes")
        }
    }

    /// OPS-TEXT-SLUG, OPS-TEXT-APPKEY and OPS-TEXT-CONSUMER, read where the string keeps its
    /// bytes, give the answers of their definitions: seeded random texts around each alphabet
    /// and across each length limit.
    func testSlugsAppKeysAndConsumersAreCheckedAsDefined() {
        let pieces = ["a", "z", "A", "Z", "0", "9", "-", "_", ".", ":", " ", "/", "é", "😀"]
        func isLowerAlphanumeric(_ byte: UInt8) -> Bool { (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
        func isAlphanumeric(_ byte: UInt8) -> Bool { isLowerAlphanumeric(byte) || (0x41...0x5A).contains(byte) }
        func conforms(_ bytes: [UInt8], max: Int, first: (UInt8) -> Bool, rest: String) -> Bool {
            guard let head = bytes.first, bytes.count <= max, first(head) else { return false }
            return bytes.allSatisfy { first($0) || rest.utf8.contains($0) }
        }
        for seed: UInt64 in 1...3 {
            let random = SplitMix64(seed: seed)
            for round in 0..<3000 {
                // Mostly the alphabets' own characters, so that many texts pass.
                let choices = random.next() % 4 == 0 ? pieces : Array(pieces.prefix(8))
                var text = ""
                for _ in 0..<Int(random.next() % 135) { text += choices[Int(random.next() % UInt64(choices.count))] }
                let bytes = Array(text.utf8)
                let tag = "seed \(seed), round \(round), text \(bytes.count) bytes"
                XCTAssertEqual(
                    (try? Names.checkSlug(text, what: "slug")) != nil,
                    conforms(bytes, max: 64, first: isLowerAlphanumeric, rest: "-_"), tag)
                XCTAssertEqual(
                    (try? Names.checkAppKey(text)) != nil, conforms(bytes, max: 64, first: isAlphanumeric, rest: ".-_"),
                    tag)
                XCTAssertEqual(
                    (try? Names.checkConsumer(text)) != nil,
                    conforms(bytes, max: 128, first: isAlphanumeric, rest: ".-_:"), tag)
            }
        }
    }

    /// OPS-TEXT-SLUG: a slug spelled like an identifier of any kind is refused; one with an
    /// underscore that is not an identifier, or with none, is taken.
    func testASlugSpelledLikeAnIdentifierIsRefused() {
        let identifiers = [
            OrganizationID(high: 1, low: 2).description, ProjectID(high: 3, low: 4).description,
            UserID(high: 5, low: 6).description, CredentialID(high: 7, low: 8).description,
            APIKeyID(high: 9, low: 10).description,
        ]
        for identifier in identifiers {
            let error = assertThrowsCoffer(.invalidInput) { try Names.checkSlug(identifier, what: "credential slug") }
            XCTAssertEqual(
                error?.message, "The credential slug must not look like an identifier. Choose another slug.", identifier
            )
        }
        for slug in ["org_not_an_identifier", "x-1000001", "a", String(repeating: "z", count: 64)] {
            XCTAssertNoThrow(try Names.checkSlug(slug, what: "credential slug"), slug)
        }
        for slug in ["", "-a", "A", "a b", "é", String(repeating: "z", count: 65)] {
            assertThrowsCoffer(.invalidInput) { try Names.checkSlug(slug, what: "credential slug") }
        }
    }
}
