import CofferCrypto
import XCTest

@testable import CofferFormat

/// F-SLOT-RECIPIENT, F-HDR-APIKEY and F-UNLOCK-ROTATE at the byte level: a slot takes a new
/// unlock key without its secret, only the secret opens it, hostile recipient keys open
/// nothing, and the feature bits say exactly what a header holds.
final class KeyslotRecipientTests: XCTestCase {
    let vaultID = [UInt8](repeating: 7, count: 16)
    let passphrase = Keyslot.Secret.passphrase(SecureBytes(copying: Array("recipient test".utf8)))

    func makeSlot(unlockKey: SecureBytes) throws -> Keyslot {
        try XCTUnwrap(
            Keyslot.make(
                id: 3, secret: passphrase, cost: .minimum, unlockKey: unlockKey, vaultID: vaultID, createdMilliseconds: 5))
    }

    func testARewrappedSlotOpensWithItsSecretAndKeepsItsIdentity() throws {
        let first = SecureBytes(randomCount: 32), second = SecureBytes(randomCount: 32)
        let slot = try makeSlot(unlockKey: first)
        XCTAssertEqual(slot.unwrap(with: passphrase, vaultID: vaultID), first)
        let rewrapped = try XCTUnwrap(slot.rewrapped(to: second, vaultID: vaultID))
        XCTAssertEqual(rewrapped.unwrap(with: passphrase, vaultID: vaultID), second)
        XCTAssertEqual(rewrapped.id, slot.id)
        XCTAssertEqual(rewrapped.salt, slot.salt)
        XCTAssertEqual(rewrapped.cost, slot.cost)
        XCTAssertEqual(rewrapped.recipient?.publicKey, slot.recipient?.publicKey)
        XCTAssertNotEqual(rewrapped.recipient?.ephemeralPublicKey, slot.recipient?.ephemeralPublicKey)
        XCTAssertNil(rewrapped.unwrap(with: .passphrase(SecureBytes(copying: Array("other".utf8))), vaultID: vaultID))
        XCTAssertNil(rewrapped.unwrap(with: passphrase, vaultID: [UInt8](repeating: 8, count: 16)), "bound to the vault")
        // The public key is the one the secret derives: no one can plant a key they hold.
        let slotKey = try XCTUnwrap(slot.keyEncryptionKey(for: passphrase))
        XCTAssertEqual(X25519.publicKey(of: Keyslot.recipientPrivateKey(slotKey: slotKey)), slot.recipient?.publicKey)
        // A slot of the first kind has nothing to seal to.
        let plain = try XCTUnwrap(
            Keyslot.make(
                id: 4, secret: passphrase, cost: .minimum, unlockKey: first, vaultID: vaultID, createdMilliseconds: 5,
                recipient: false))
        XCTAssertNil(plain.rewrapped(to: second, vaultID: vaultID))
        XCTAssertEqual(plain.unwrap(with: passphrase, vaultID: vaultID), first)
    }

    func testLowOrderRecipientKeysOpenNothing() throws {
        // u = 0 and u = 1 are points of small order: a shared secret with them is all zero,
        // which a hostile file could plant to make the wrap key predictable.
        for point in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31)] {
            XCTAssertNil(X25519.sharedSecret(privateKey: SecureBytes(randomCount: 32), publicKey: point))
        }
        let unlockKey = SecureBytes(randomCount: 32)
        var slot = try makeSlot(unlockKey: unlockKey)
        let lowOrder = [1] + [UInt8](repeating: 0, count: 31)
        slot.recipient?.ephemeralPublicKey = lowOrder
        XCTAssertNil(slot.unwrap(with: passphrase, vaultID: vaultID))
        slot.recipient?.publicKey = lowOrder
        XCTAssertNil(slot.rewrapped(to: unlockKey, vaultID: vaultID))
    }

    /// Encodes a header with a recipient slot and an API-key wrap, then returns copy bytes
    /// with `edit` applied and the checksum fixed up (a keyless forger can do that much).
    func forged(_ edit: (inout [UInt8]) -> Void) throws -> Result<FileHeader, CofferError> {
        let unlockKey = SecureBytes(randomCount: 32), masterKey = SecureBytes(randomCount: 32)
        var header = FileHeader(
            vaultID: vaultID, generation: 1, createdMilliseconds: 5, keyslots: [try makeSlot(unlockKey: unlockKey)],
            masterWrap: FileHeader.wrapMasterKey(masterKey, unlockKey: unlockKey, vaultID: vaultID))
        header.apiKeyHashKeyWrap = FileHeader.wrapAPIKeyHashKey(
            SecureBytes(randomCount: 32), unlockKey: unlockKey, vaultID: vaultID)
        var bytes = header.encode(masterKey: masterKey)
        edit(&bytes)
        let checksum = Blake2b.hash(Array(bytes[0..<FormatConstants.headerChecksumOffset]))
        bytes.replaceSubrange(FormatConstants.headerChecksumOffset..., with: checksum)
        return bytes.withUnsafeBytes { FileHeader.decode($0) }
    }

    func testTheFeatureBitsSayExactlyWhatTheHeaderHolds() throws {
        let decoded = try forged { _ in }.get()
        XCTAssertEqual(
            decoded.requiredFeatures,
            FormatConstants.requiredFeatureKeyslotRecipients | FormatConstants.requiredFeatureAPIKeyHashKey)
        XCTAssertNotNil(decoded.apiKeyHashKeyWrap)
        XCTAssertNotNil(decoded.keyslots[0].recipient)

        func setFeatures(_ value: UInt32) -> (inout [UInt8]) -> Void {
            { bytes in bytes.replaceSubrange(12..<16, with: withUnsafeBytes(of: value.littleEndian) { Array($0) }) }
        }
        // A bit cleared: an old reader would misread the slot or miss the wrap.
        for features: UInt32 in [0, 1, 2] {
            XCTAssertEqual(try forged(setFeatures(features)).failureCode, .corrupted, "features \(features)")
        }
        // A bit no reader knows: refused as a newer format.
        XCTAssertEqual(try forged(setFeatures(3 | 1 << 7)).failureCode, .unsupportedVersion)
        // One recipient key without the other.
        let slotStart = FormatConstants.headerKeyslotsOffset
        XCTAssertEqual(
            try forged { $0.replaceSubrange((slotStart + 144)..<(slotStart + 176), with: [UInt8](repeating: 0, count: 32)) }
                .failureCode,
            .corrupted)
    }
}

extension Result where Failure == CofferError {
    var failureCode: CofferError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
