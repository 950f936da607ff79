import CofferCrypto
import CofferTestSupport
import XCTest

final class SecureBytesTests: XCTestCase {
    func testDescriptionsAreRedacted() {
        let secret = SecureBytes(copying: Array("hunter2-secret".utf8))
        XCTAssertEqual(String(describing: secret), "SecureBytes(redacted)")
        XCTAssertEqual(String(reflecting: secret), "SecureBytes(redacted)")
        XCTAssertFalse("\(secret)".contains("hunter2"))
    }

    func testEqualityComparesContentAndLength() {
        let first = SecureBytes(copying: [1, 2, 3])
        XCTAssertEqual(first, SecureBytes(copying: [1, 2, 3]))
        XCTAssertNotEqual(first, SecureBytes(copying: [1, 2, 4]))
        XCTAssertNotEqual(first, SecureBytes(copying: [1, 2]))
        XCTAssertEqual(SecureBytes(zeroedCount: 0), SecureBytes(copying: []))
    }

    /// A slice reads its owner's bytes in place, a slice of a slice too, and each stays
    /// readable after every other reference to the owner has gone (it keeps the memory).
    func testSliceReadsTheOwnersBytesAndKeepsThemAlive() {
        var owner: SecureBytes? = SecureBytes(copying: Array(0..<64))
        let middle = owner!.slice(8..<40)
        let inner = middle.slice(4..<12)
        let empty = owner!.slice(64..<64)
        owner = nil
        XCTAssertEqual(middle.count, 32)
        XCTAssertEqual(middle, SecureBytes(copying: Array(8..<40)))
        XCTAssertEqual(inner, SecureBytes(copying: Array(12..<20)))
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual(String(describing: inner), "SecureBytes(redacted)")
    }

    func testRandomBytesDiffer() {
        XCTAssertNotEqual(SecureBytes(randomCount: 32), SecureBytes(randomCount: 32))
    }

    func testInitializerThatThrowsReleasesMemory() {
        struct Failure: Error {}
        XCTAssertThrowsError(try SecureBytes(count: 16) { _ in throw Failure() })
    }

    /// A string given to withString reads as the secret inside and as NUL characters after,
    /// even a copy kept past the call, short (inline-sized) and long alike.
    func testWithStringLeavesNoReadableCopy() throws {
        for text in ["", "pw", "exactly15chars!", "sk-live-0123456789abcdefghijklmnopqrstuvwxyz-é"] {
            let secret = SecureBytes(copying: Array(text.utf8))
            var kept = ""
            let seen = try secret.withString { string -> String in
                kept = string
                return String(decoding: Array(string.utf8), as: UTF8.self)  // a copy of the test's own
            }
            XCTAssertEqual(seen, text)
            XCTAssertEqual(kept.utf8.count, text.utf8.count)
            XCTAssertTrue(
                kept.utf8.allSatisfy { $0 == 0 }, "a kept copy of a \(text.utf8.count)-byte secret is readable")
        }
    }

    func testWithStringRefusesBytesThatAreNotUTF8() {
        let secret = SecureBytes(copying: [0x61, 0xff, 0x62])
        var called = false
        _ = assertThrowsCoffer(.invalidInput) { try secret.withString { _ in called = true } }
        XCTAssertFalse(called)
        struct Failure: Error {}
        XCTAssertThrowsError(try SecureBytes(copying: [0x61]).withString { _ in throw Failure() }) {
            XCTAssertTrue($0 is Failure)
        }
    }

    func testReadOnlyInsideClosure() {
        let secret = SecureBytes(copying: [9, 8, 7])
        XCTAssertEqual(secret.withUnsafeBytes { Array($0) }, [9, 8, 7])
        XCTAssertEqual(secret.count, 3)
    }
}
