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

    /// Opens `frame` with ``SealedRecord/openInPlace(header:body:at:key:skippingBodyChecksum:)``,
    /// and checks that a reader given the payload in memory of its own
    /// (``SealedRecord/withOpenedPayload(header:body:at:key:skippingBodyChecksum:_:)``, a
    /// reveal) is given the same bytes, or fails the same way.
    private func open(_ frame: [UInt8], skippingBodyChecksum: Bool = false) -> Result<
        SealedRecord.Opened, SealedRecord.OpenFailure
    > {
        let header = try! frame.withUnsafeBytes {
            FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[..<FormatConstants.frameHeaderBytes]))
        }.get()
        let (opened, failure, given) = frame.withUnsafeBytes { bytes in
            let body = UnsafeRawBufferPointer(rebasing: bytes[FormatConstants.frameHeaderBytes...])
            let opened = SealedRecord.openInPlace(
                header: header, body: body, at: position, key: key, skippingBodyChecksum: skippingBodyChecksum)
            var given: [UInt8]?
            let failure = SealedRecord.withOpenedPayload(
                header: header, body: body, at: position, key: key, skippingBodyChecksum: skippingBodyChecksum
            ) { given = Array($0) }
            return (opened, failure, given)
        }
        switch opened {
        case .success(let opened):
            XCTAssertNil(failure)
            XCTAssertEqual(given, opened.payloadBytes.withUnsafeBytes { Array($0) })
        case .failure(let openFailure):
            XCTAssertEqual(failure, openFailure)
            XCTAssertNil(given, "a payload given though the open failed")
        }
        return opened
    }

    /// Raw and deflated payloads of several sizes (one past a 64 KiB bucket: the plaintext
    /// too large for the stack) open to what was sealed, both ways; one changed byte anywhere
    /// in the body fails both ways alike.
    func testEveryPayloadOpensAsSealed() throws {
        for (count, encoding) in [
            (0, PayloadEncoding.raw), (1, .raw), (240, .raw), (241, .raw), (70_000, .raw), (3000, .deflate),
            (70_000, .deflate),
        ] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: encoding == .raw ? $0 &* 37 : $0 / 100) }
            let frame = try XCTUnwrap(
                payload.withUnsafeBytes { SealedRecord.seal(payload: $0, at: position, key: key, encoding: encoding) })
            let opened = try open(frame).get()
            XCTAssertEqual(opened.payloadBytes.withUnsafeBytes { Array($0) }, payload, "\(count) bytes, \(encoding)")
            for index in stride(from: FormatConstants.frameHeaderBytes, to: frame.count, by: 97) {
                var changed = frame
                changed[index] ^= 0x20
                XCTAssertEqual(
                    open(changed, skippingBodyChecksum: true).map(\.payload), .failure(.authentication),
                    "\(count) bytes, \(encoding), byte \(index)")
            }
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
