import CofferCrypto
import CofferFormat
import XCTest

/// The checks an open makes after the tag verifies (F-PAD-ZERO, the plaintext header), and
/// the body CRC a reader with the key may skip (F-FRAME-CRC).
final class SealedRecordTests: XCTestCase {
    private let key = SecureBytes(copying: [UInt8](repeating: 7, count: XChaCha20Poly1305.keyBytes))
    private let position = RecordPosition(
        vaultID: [UInt8](repeating: 1, count: 16), sequence: 5, type: .transaction, epoch: 1,
        previousChain: [UInt8](repeating: 2, count: 32))

    /// A frame whose 256-byte plaintext holds a raw payload of `payloadBytes` bytes of 0x41,
    /// then padding with `paddingByte` at `paddingIndex` (none when `nil`): sealed by hand, as
    /// a writer that breaks F-PAD-ZERO would seal it.
    private func frame(payloadBytes: Int, nonZeroPaddingAt paddingIndex: Int? = nil) -> [UInt8] {
        var plaintext = [UInt8](repeating: 0, count: FormatConstants.paddedBytesMin)
        plaintext.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: UInt32(payloadBytes).littleEndian, toByteOffset: 4, as: UInt32.self)
            bytes.storeBytes(of: UInt32(payloadBytes).littleEndian, toByteOffset: 8, as: UInt32.self)
        }
        let header = FormatConstants.plaintextHeaderBytes
        for index in header..<header + payloadBytes { plaintext[index] = 0x41 }
        if let paddingIndex { plaintext[header + payloadBytes + paddingIndex] = 0x80 }
        let nonce = [UInt8](repeating: 9, count: XChaCha20Poly1305.nonceBytes)
        var body = nonce
        plaintext.withUnsafeBytes {
            XChaCha20Poly1305.seal(
                $0, key: key, nonce: nonce, associatedData: position.associatedData, appendingTo: &body)
        }
        let frameHeader = FrameHeader(
            bodyBytes: UInt32(body.count), sequence: position.sequence, epoch: position.epoch, type: .transaction,
            bodyChecksum: CRC32.checksum(body))
        return frameHeader.encode() + body
    }

    private func open(_ frame: [UInt8], skippingBodyChecksum: Bool = false) -> Result<
        SealedRecord.Opened, SealedRecord.OpenFailure
    > {
        let header = try! frame.withUnsafeBytes {
            FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[..<FormatConstants.frameHeaderBytes]))
        }.get()
        return frame.withUnsafeBytes {
            SealedRecord.openInPlace(
                header: header, body: UnsafeRawBufferPointer(rebasing: $0[FormatConstants.frameHeaderBytes...]),
                at: position, key: key, skippingBodyChecksum: skippingBodyChecksum)
        }
    }

    func testThePayloadLiesAfterThePlaintextHeader() throws {
        let opened = try open(frame(payloadBytes: 40)).get()
        XCTAssertEqual(opened.plaintext.count, FormatConstants.paddedBytesMin)
        XCTAssertEqual(opened.payload, FormatConstants.plaintextHeaderBytes..<FormatConstants.plaintextHeaderBytes + 40)
        opened.plaintext.withUnsafeBytes { XCTAssertTrue($0[opened.payload].allSatisfy { $0 == 0x41 }) }
    }

    func testANonZeroPaddingByteAnywhereIsRejected() {
        // F-PAD-ZERO: every padding byte, the first and the last included, of payloads that
        // leave a padding of each length from 1 to 40 bytes and of the whole bucket.
        let usable = FormatConstants.paddedBytesMin - FormatConstants.plaintextHeaderBytes
        for payloadBytes in [0, 1, 100] + (usable - 40..<usable) {
            let paddingBytes = usable - payloadBytes
            for index in 0..<paddingBytes {
                let opened = open(frame(payloadBytes: payloadBytes, nonZeroPaddingAt: index))
                guard case .failure(.malformed(let reason)) = opened else {
                    XCTFail("padding byte \(index) of \(paddingBytes) after \(payloadBytes) payload bytes: opened")
                    continue
                }
                XCTAssertEqual(reason, "non-zero padding")
            }
        }
    }

    func testAReaderWithTheKeyMaySkipTheBodyChecksum() throws {
        // A wrong body CRC in the header (recomputed header CRC): the body is intact, so the
        // tag verifies; only a reader that checks the CRC turns it away.
        var bytes = frame(payloadBytes: 10)
        var header = try bytes.withUnsafeBytes {
            FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[..<FormatConstants.frameHeaderBytes]))
        }.get()
        header.bodyChecksum ^= 1
        bytes.replaceSubrange(0..<FormatConstants.frameHeaderBytes, with: header.encode())
        XCTAssertEqual(open(bytes).map(\.payload), .failure(.bodyChecksum))
        XCTAssertNoThrow(try open(bytes, skippingBodyChecksum: true).get())
        // A flipped body byte fails the tag whether or not the CRC is checked.
        var flipped = frame(payloadBytes: 10)
        flipped[FormatConstants.frameHeaderBytes + 40] ^= 0x01
        XCTAssertEqual(open(flipped, skippingBodyChecksum: true).map(\.payload), .failure(.authentication))
    }

    func testSkipZerosFindsANonZeroByteAtEveryOffset() {
        for count in 0...70 {
            var bytes = [UInt8](repeating: 0, count: count + 3)
            bytes.withUnsafeBytes {
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: $0[3...]))
                XCTAssertTrue(reader.skipZeros(count), "\(count) zeros")
                XCTAssertEqual(reader.offset, count)
                XCTAssertFalse(reader.skipZeros(1), "past the end")
            }
            for index in 0..<count {
                bytes[3 + index] = 0x10
                bytes.withUnsafeBytes {
                    var reader = ByteReader(UnsafeRawBufferPointer(rebasing: $0[3...]))
                    XCTAssertFalse(reader.skipZeros(count), "byte \(index) of \(count)")
                }
                bytes[3 + index] = 0
            }
        }
    }
}
