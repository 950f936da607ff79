import CofferCrypto
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

    func testRandomBytesDiffer() {
        XCTAssertNotEqual(SecureBytes(randomCount: 32), SecureBytes(randomCount: 32))
    }

    func testInitializerThatThrowsReleasesMemory() {
        struct Failure: Error {}
        XCTAssertThrowsError(try SecureBytes(count: 16) { _ in throw Failure() })
    }

    func testReadOnlyInsideClosure() {
        let secret = SecureBytes(copying: [9, 8, 7])
        XCTAssertEqual(secret.withUnsafeBytes { Array($0) }, [9, 8, 7])
        XCTAssertEqual(secret.count, 3)
    }
}
