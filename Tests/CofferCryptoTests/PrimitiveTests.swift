import CofferCrypto
import CofferErrors
import XCTest

final class PrimitiveTests: XCTestCase {
    let key = SecureBytes(copying: Array(repeating: 7, count: 32))
    let nonce = Array(repeating: UInt8(1), count: 24)

    func testSealThenOpenRoundTrips() {
        var sealed: [UInt8] = []
        let message = Array("credential".utf8)
        message.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, nonce: nonce, associatedData: [1, 2], appendingTo: &sealed)
        }
        XCTAssertEqual(sealed.count, message.count + 16)
        let opened = sealed.withUnsafeBytes { body in
            nonce.withUnsafeBytes { XChaCha20Poly1305.open(body, key: key, nonce: $0, associatedData: [1, 2]) }
        }
        XCTAssertEqual(opened, SecureBytes(copying: message))
    }

    func testOpenRejectsWrongAssociatedDataKeyAndFlippedBits() {
        var sealed: [UInt8] = []
        [UInt8](repeating: 5, count: 40).withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, nonce: nonce, associatedData: [1], appendingTo: &sealed)
        }
        func open(_ body: [UInt8], key: SecureBytes, aad: [UInt8]) -> SecureBytes? {
            body.withUnsafeBytes { b in
                nonce.withUnsafeBytes { XChaCha20Poly1305.open(b, key: key, nonce: $0, associatedData: aad) }
            }
        }
        XCTAssertNotNil(open(sealed, key: key, aad: [1]))
        XCTAssertNil(open(sealed, key: key, aad: [2]))
        XCTAssertNil(open(sealed, key: SecureBytes(randomCount: 32), aad: [1]))
        for bit in 0..<(sealed.count * 8) {
            var flipped = sealed
            flipped[bit / 8] ^= 1 << (bit % 8)
            XCTAssertNil(open(flipped, key: key, aad: [1]), "bit \(bit)")
        }
        XCTAssertNil(open(Array(sealed.prefix(10)), key: key, aad: [1]))
    }

    /// The detached form in place is libsodium's combined form split: what `seal` makes is
    /// `ciphertext || tag`, which opens in place with the tag apart, and sealing in place makes
    /// the same bytes, at every size around the cipher's 64-byte blocks and the wide paths past
    /// them; a wrong tag, other associated data or a short tag opens nothing, and zeroes the
    /// region.
    func testDetachedInPlaceIsTheCombinedFormSplit() {
        for count in [0, 1, 63, 64, 65, 255, 256, 257, 511, 512, 513, 4096, 100_003] {
            let message = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var sealed: [UInt8] = []
            message.withUnsafeBytes {
                XChaCha20Poly1305.seal($0, key: key, nonce: nonce, associatedData: [4, 2], appendingTo: &sealed)
            }
            var inPlace = message
            let tag = inPlace.withUnsafeMutableBytes {
                XChaCha20Poly1305.sealDetachedInPlace($0, key: key, nonce: nonce, associatedData: [4, 2])
            }
            XCTAssertEqual(inPlace + tag, sealed, "\(count) bytes")

            func open(_ ciphertext: [UInt8], tag: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
                var region = ciphertext
                let opened = region.withUnsafeMutableBytes { region in
                    tag.withUnsafeBytes {
                        XChaCha20Poly1305.openDetachedInPlace(
                            region, tag: $0, key: key, nonce: nonce, associatedData: associatedData)
                    }
                }
                if !opened { XCTAssertTrue(region.allSatisfy { $0 == 0 }, "\(count) bytes: a failed open zeroes") }
                return opened ? region : nil
            }
            XCTAssertEqual(open(inPlace, tag: tag, associatedData: [4, 2]), message, "\(count) bytes")
            var flipped = tag
            flipped[15] ^= 1
            XCTAssertNil(open(inPlace, tag: flipped, associatedData: [4, 2]), "\(count) bytes, a flipped tag bit")
            XCTAssertNil(open(inPlace, tag: tag, associatedData: [4]), "\(count) bytes, other associated data")
            XCTAssertNil(
                open(inPlace, tag: Array(tag.prefix(15)), associatedData: [4, 2]), "\(count) bytes, a short tag")
        }
    }

    func testEmptyPlaintextSeals() {
        var sealed: [UInt8] = []
        [UInt8]().withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, nonce: nonce, associatedData: [], appendingTo: &sealed)
        }
        XCTAssertEqual(sealed.count, 16)
        let opened = sealed.withUnsafeBytes { b in
            nonce.withUnsafeBytes { XChaCha20Poly1305.open(b, key: key, nonce: $0, associatedData: []) }
        }
        XCTAssertEqual(opened?.count, 0)
    }

    func testBlake2bKnownAnswer() {
        // BLAKE2b-256 of the empty string (RFC 7693 parameters, 32-byte output).
        XCTAssertEqual(
            hex(Blake2b.hash([])), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        var incremental = Blake2b()
        incremental.update(Array("ab".utf8))
        incremental.update(Array("c".utf8))
        let digest = incremental.finalize()
        XCTAssertEqual(digest, Blake2b.hash(Array("abc".utf8)))
        XCTAssertNotEqual(Blake2b.keyedHash(key: key, [1]), Blake2b.hash([1]))
    }

    func testArgon2idIsDeterministicForSaltAndCost() {
        let passphrase = SecureBytes(copying: Array("correct horse".utf8))
        let salt = [UInt8](repeating: 3, count: 16)
        let first = Argon2id.deriveKey(passphrase: passphrase, salt: salt, cost: .minimum)
        let second = Argon2id.deriveKey(passphrase: passphrase, salt: salt, cost: .minimum)
        XCTAssertNotNil(first)
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(
            first, Argon2id.deriveKey(passphrase: passphrase, salt: [UInt8](repeating: 4, count: 16), cost: .minimum))
    }

    func testSubkeysDifferByID() {
        let one = KeyDerivation.deriveSubkey(from: key, subkeyID: 1, context: "CofferV1")
        XCTAssertEqual(one, KeyDerivation.deriveSubkey(from: key, subkeyID: 1, context: "CofferV1"))
        XCTAssertNotEqual(one, KeyDerivation.deriveSubkey(from: key, subkeyID: 2, context: "CofferV1"))
    }

    func testCRC32KnownAnswer() {
        // The standard check value of CRC-32/ISO-HDLC.
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }

    func testDeflateRoundTripAndRejectsGarbage() {
        let input = Array(String(repeating: "organization project user ", count: 40).utf8)
        let compressed = input.withUnsafeBytes { Deflate.compress($0) }
        XCTAssertLessThan(compressed.count, input.count)
        let output = compressed.withUnsafeBytes { Deflate.decompress($0, expectedCount: input.count) }
        XCTAssertEqual(output, SecureBytes(copying: input))
        XCTAssertNil(compressed.withUnsafeBytes { Deflate.decompress($0, expectedCount: input.count + 1) })
        XCTAssertNil([UInt8](repeating: 0xAB, count: 64).withUnsafeBytes { Deflate.decompress($0, expectedCount: 10) })
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(constantTimeEquals([1, 2], [1, 2]))
        XCTAssertFalse(constantTimeEquals([1, 2], [1, 3]))
        XCTAssertFalse(constantTimeEquals([1], [1, 2]))
    }

    func testErrorCodesMatch() {
        let error: any Error = CofferError(.locked, "held")
        XCTAssertTrue(CofferError.Code.locked ~= error)
        XCTAssertFalse(CofferError.Code.wrongKey ~= error)
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
