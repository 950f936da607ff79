import CofferFormat
import XCTest

/// ``UTF8Check`` says what Swift's own validation says, on every boundary case and on random
/// byte strings built from the pieces UTF-8 is made of.
final class UTF8CheckTests: XCTestCase {
    private func swiftSays(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    /// The first invalid offset found a byte at a time, as the word-at-a-time scan must find it.
    private func offsetByteByByte(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] < 0x80 {
                index += 1
                continue
            }
            let length = UTF8Check.sequenceLength(bytes, at: index)
            if length == 0 { return index }
            index += length
        }
        return nil
    }

    private func check(_ bytes: [UInt8], _ context: @autoclosure () -> String) {
        XCTAssertEqual(
            bytes.withUnsafeBytes { UTF8Check.isASCII($0) }, bytes.allSatisfy { $0 < 0x80 },
            "\(context()): whether \(bytes.map { String($0, radix: 16) }) is ASCII")
        let ours = bytes.withUnsafeBytes { UTF8Check.isValid($0) }
        XCTAssertEqual(ours, swiftSays(bytes), "\(context()): \(bytes.map { String($0, radix: 16) })")
        bytes.withUnsafeBytes {
            XCTAssertEqual(
                UTF8Check.firstInvalidOffset($0), offsetByteByByte($0),
                "\(context()): the first invalid offset of \(bytes.map { String($0, radix: 16) })")
        }
    }

    func testBoundaryCases() {
        let cases: [[UInt8]] = [
            [], Array("plain ASCII, longer than eight bytes".utf8), Array("…ellipsis".utf8), Array("emoji 🔑".utf8),
            [0x7F], [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2, 0x80], [0xDF, 0xBF], [0xC2],
            [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
            [0xEF, 0xBF, 0xBF], [0xE1, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80],
            [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF],
            [0xF1, 0x80, 0x80], [0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xE2, 0x80, 0xA6],
        ]
        for (number, bytes) in cases.enumerated() { check(bytes, "case \(number)") }
    }

    func testRandomStringsOfUTF8Pieces() {
        let pieces: [[UInt8]] = [
            [0x41], [0x7F], [0x80], [0xBF], [0xC2], [0xDF], [0xE0], [0xED], [0xEF], [0xF0], [0xF4], [0xF5], [0xA0],
            [0x90], [0x8F], Array("é".utf8), Array("…".utf8), Array("𝄞".utf8), Array("abcdefgh".utf8),
        ]
        for seed: UInt64 in 1...3 {
            let random = SplitMix64(seed: seed)
            for round in 0..<3000 {
                var bytes: [UInt8] = []
                for _ in 0..<Int(random.next() % 24) { bytes += pieces[Int(random.next() % UInt64(pieces.count))] }
                check(bytes, "seed \(seed), round \(round)")
            }
        }
    }
}
