import Coffer
import XCTest

@testable import CofferExchange

final class SecretBufferTests: XCTestCase {
    func testGrowingKeepsEveryByte() {
        let buffer = SecretBuffer(capacity: 1)
        var expected: [UInt8] = []
        for round in 0..<2000 {
            let chunk = (0..<(round % 37)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ round) }
            chunk.withUnsafeBytes { buffer.append($0) }
            buffer.append(UInt8(truncatingIfNeeded: round))
            expected += chunk + [UInt8(truncatingIfNeeded: round)]
        }
        buffer.append(Fixture.secret("end"))
        buffer.append(text: "✓")
        expected += Array("end✓".utf8)
        XCTAssertEqual(buffer.count, expected.count)
        XCTAssertEqual(buffer.withUnsafeBytes { Array($0) }, expected)
        XCTAssertEqual(buffer.secureBytes(), SecureBytes(copying: expected))
    }

    func testAppendInPlaceKeepsWhatTheWriterReports() {
        let buffer = SecretBuffer()
        buffer.appendInPlace(maximum: 100) { space in
            space[0] = 1
            space[1] = 2
            return 2
        }
        XCTAssertEqual(buffer.withUnsafeBytes { Array($0) }, [1, 2])
    }
}
