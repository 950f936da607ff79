import CofferCrypto
import CofferFormat
import XCTest

/// Sizes FORMAT.md fixes, pinned (Swift has no static_assert).
final class FormatConstantsTests: XCTestCase {
    func testLayoutSizes() {
        XCTAssertEqual(FormatConstants.frameHeaderBytes, 32)
        XCTAssertEqual(FormatConstants.sealOverheadBytes, 40)
        XCTAssertEqual(FormatConstants.plaintextHeaderBytes, 16)
        XCTAssertEqual(FormatConstants.logStartOffset, 8192)
        XCTAssertEqual(FormatConstants.headerMasterWrapOffset, 1664)
        XCTAssertEqual(FormatConstants.headerMACOffset, 1736)
        XCTAssertEqual(FormatConstants.headerChecksumOffset, 4064)
        XCTAssertEqual(KeyEpochPayload.encodedBytes, 44)
        XCTAssertEqual(XChaCha20Poly1305.nonceBytes, 24)
        XCTAssertEqual(XChaCha20Poly1305.tagBytes, 16)
        XCTAssertEqual(Argon2id.saltBytes, 16)
        XCTAssertEqual(KeyDerivation.contextBytes, 8)
    }

    func testPaddingBuckets() {
        XCTAssertEqual(Padding.bucketSize(for: 0), 256)
        XCTAssertEqual(Padding.bucketSize(for: 256), 256)
        XCTAssertEqual(Padding.bucketSize(for: 257), 512)
        XCTAssertEqual(Padding.bucketSize(for: 65536), 65536)
        XCTAssertEqual(Padding.bucketSize(for: 65537), 131072)
        XCTAssertEqual(Padding.bucketSize(for: 16 << 20), 16 << 20)
        XCTAssertNil(Padding.bucketSize(for: (16 << 20) + 1))
        XCTAssertFalse(Padding.isBucketSize(300))
        XCTAssertTrue(Padding.isBucketSize(3 * 65536))
    }

    /// The frame size counted without sealing is the size of the sealed frame, bucket edges included.
    func testFrameBytesMatchWhatSealingWrites() {
        let position = RecordPosition(
            vaultID: Array(repeating: 7, count: FormatConstants.vaultIDBytes), sequence: 1, type: .transaction,
            epoch: 1,
            previousChain: Array(repeating: 0, count: 32))
        let key = SecureBytes(copying: Array(repeating: 1, count: 32))
        for count in [0, 1, 240, 241, 496, 497, 65_520, 65_521, 200_000] {
            let frame = Array(repeating: UInt8(0x41), count: count).withUnsafeBytes {
                SealedRecord.seal(payload: $0, at: position, key: key)
            }
            XCTAssertEqual(
                SealedRecord.frameBytes(storedPayloadBytes: count), frame?.count, "payload of \(count) bytes")
        }
        XCTAssertNil(SealedRecord.frameBytes(storedPayloadBytes: FormatConstants.payloadBytesMax + 1))
    }

    func testAssociatedDataIs79Bytes() {
        let position = RecordPosition(
            vaultID: [UInt8](repeating: 1, count: 16), sequence: 7, type: .transaction, epoch: 3,
            previousChain: [UInt8](repeating: 2, count: 32))
        XCTAssertEqual(position.associatedData.count, 79)
    }

    func testHeadParsing() {
        let head = ChainHead(sequence: 12, digest: [UInt8](repeating: 0xAB, count: 32))
        XCTAssertEqual(ChainHead(parsing: head.description), head)
        XCTAssertNil(ChainHead(parsing: "12"))
        XCTAssertNil(ChainHead(parsing: "x:ab"))
    }
}
