import CofferCrypto
import CofferErrors
import XCTest

@testable import CofferFormat

/// F-SLOT-RECIPIENT, F-HDR-SIGNER, F-HDR-APIKEY and F-UNLOCK-ROTATE at the byte level: a slot
/// takes a new unlock key without its secret, only the secret opens it, only a table the
/// vault's signer signed is believed, hostile recipient keys open nothing, and the feature
/// bits say exactly what a header holds.
final class KeyslotRecipientTests: XCTestCase {
    let vaultID = [UInt8](repeating: 7, count: 16)
    let passphrase = Keyslot.Secret.passphrase(SecureBytes(copying: Array("recipient test".utf8)))

    /// A header with one passphrase slot wrapping `unlockKey`, signed by its signer, with the
    /// API-key hash key wrap: what a writer makes.
    func makeHeader(unlockKey: SecureBytes, masterKey: SecureBytes) throws -> FileHeader {
        var header = FileHeader(
            vaultID: vaultID, generation: 1, createdMilliseconds: 5, keyslots: [],
            masterWrap: FileHeader.wrapMasterKey(masterKey, unlockKey: unlockKey, vaultID: vaultID))
        header.keyslots = [
            try XCTUnwrap(
                header.makeKeyslot(
                    id: 3, secret: passphrase, cost: .minimum, unlockKey: unlockKey, createdMilliseconds: 5))
        ]
        header.apiKeyHashKeyWrap = FileHeader.wrapAPIKeyHashKey(
            SecureBytes(randomCount: 32), unlockKey: unlockKey, vaultID: vaultID)
        XCTAssertTrue(header.signKeyslots(unlockKey: unlockKey))
        return header
    }

    func decode(_ header: FileHeader, masterKey: SecureBytes) -> Result<FileHeader, CofferError> {
        header.encode(masterKey: masterKey).withUnsafeBytes { FileHeader.decode($0) }
    }

    func testARewrappedSlotOpensWithItsSecretAndKeepsItsIdentity() throws {
        let first = SecureBytes(randomCount: 32)
        let second = SecureBytes(randomCount: 32)
        let header = try makeHeader(unlockKey: first, masterKey: SecureBytes(randomCount: 32))
        let signer = try XCTUnwrap(header.signer).publicKey
        let slot = header.keyslots[0]
        XCTAssertEqual(slot.unwrap(with: passphrase, vaultID: vaultID, signerPublicKey: signer), first)
        let rewrapped = try XCTUnwrap(slot.rewrapped(to: second, vaultID: vaultID))
        XCTAssertEqual(rewrapped.unwrap(with: passphrase, vaultID: vaultID, signerPublicKey: signer), second)
        XCTAssertEqual(rewrapped.id, slot.id)
        XCTAssertEqual(rewrapped.salt, slot.salt)
        XCTAssertEqual(rewrapped.cost, slot.cost)
        XCTAssertEqual(rewrapped.recipient?.publicKey, slot.recipient?.publicKey)
        XCTAssertEqual(rewrapped.recipient?.signerBinding, slot.recipient?.signerBinding)
        XCTAssertNotEqual(rewrapped.recipient?.ephemeralPublicKey, slot.recipient?.ephemeralPublicKey)
        let other = Keyslot.Secret.passphrase(SecureBytes(copying: Array("other".utf8)))
        XCTAssertNil(rewrapped.unwrap(with: other, vaultID: vaultID, signerPublicKey: signer))
        XCTAssertNil(
            rewrapped.unwrap(with: passphrase, vaultID: [UInt8](repeating: 8, count: 16), signerPublicKey: signer),
            "bound to the vault")
        // The public key is the one the secret derives: no one can plant a key they hold.
        let slotKey = try XCTUnwrap(slot.keyEncryptionKey(for: passphrase))
        XCTAssertEqual(X25519.publicKey(of: Keyslot.recipientPrivateKey(slotKey: slotKey)), slot.recipient?.publicKey)
        // A slot of the first kind has nothing to seal to.
        let plain = try XCTUnwrap(
            Keyslot.make(
                id: 4, secret: passphrase, cost: .minimum, unlockKey: first, vaultID: vaultID, createdMilliseconds: 5,
                signerPublicKey: nil))
        XCTAssertNil(plain.rewrapped(to: second, vaultID: vaultID))
        XCTAssertEqual(plain.unwrap(with: passphrase, vaultID: vaultID, signerPublicKey: nil), first)
    }

    /// Someone with the file but no secret takes the slot's public parts and seals an unlock
    /// key of their own to its recipient key: without the signer's seed the table is not
    /// signed; with a signer of their own, the slot does not vouch for it. Either way the
    /// victim's secret opens nothing, and the victim never writes into a forged vault.
    func testAHeaderForgedFromPublicPartsOpensWithNoOnesSecret() throws {
        let unlockKey = SecureBytes(randomCount: 32)
        let masterKey = SecureBytes(randomCount: 32)
        let genuine = try makeHeader(unlockKey: unlockKey, masterKey: masterKey)
        XCTAssertNotNil(try decode(genuine, masterKey: masterKey).get().unlock(with: passphrase))

        let forgerUnlockKey = SecureBytes(randomCount: 32)
        let forgerMasterKey = SecureBytes(randomCount: 32)
        var forged = genuine
        forged.keyslots = [try XCTUnwrap(genuine.keyslots[0].rewrapped(to: forgerUnlockKey, vaultID: vaultID))]
        forged.masterWrap = FileHeader.wrapMasterKey(forgerMasterKey, unlockKey: forgerUnlockKey, vaultID: vaultID)
        // The genuine signer's signature does not cover the new table.
        XCTAssertEqual(decode(forged, masterKey: forgerMasterKey).failureCode, .corrupted)
        // The forger's own signer signs it, but the slot vouches only for the genuine one.
        forged.signer = KeyslotSigner.make(unlockKey: forgerUnlockKey, vaultID: vaultID)
        XCTAssertTrue(forged.signKeyslots(unlockKey: forgerUnlockKey))
        let decoded = try decode(forged, masterKey: forgerMasterKey).get()
        XCTAssertNil(decoded.unlock(with: passphrase))
        XCTAssertNil(
            decoded.keyslots[0].unwrap(with: passphrase, vaultID: vaultID, signerPublicKey: forged.signer?.publicKey))
    }

    /// A former member who kept the old unlock key (and so the signer's seed) swaps a slot's
    /// recipient key for their own before a rotation, resealing the old unlock key so the
    /// slot's owner notices nothing: the owner's secret refuses the slot at once, because the
    /// stored key is not the one the secret derives. The rotation never reaches the owner
    /// through a key the former member holds.
    func testASwappedRecipientKeyIsRefusedByTheSlotsOwner() throws {
        let unlockKey = SecureBytes(randomCount: 32)
        let masterKey = SecureBytes(randomCount: 32)
        var header = try makeHeader(unlockKey: unlockKey, masterKey: masterKey)
        let attackerPrivate = SecureBytes(randomCount: 32)
        header.keyslots[0].recipient?.publicKey = X25519.publicKey(of: attackerPrivate)
        header.keyslots[0] = try XCTUnwrap(header.keyslots[0].rewrapped(to: unlockKey, vaultID: vaultID))
        XCTAssertTrue(header.signKeyslots(unlockKey: unlockKey), "the former member holds the seed")
        let decoded = try decode(header, masterKey: masterKey).get()
        XCTAssertNil(decoded.unlock(with: passphrase))
    }

    func testLowOrderRecipientKeysOpenNothing() throws {
        // u = 0 and u = 1 are points of small order: a shared secret with them is all zero,
        // which a hostile file could plant to make the wrap key predictable.
        for point in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31)] {
            XCTAssertNil(X25519.sharedSecret(privateKey: SecureBytes(randomCount: 32), publicKey: point))
        }
        let unlockKey = SecureBytes(randomCount: 32)
        let header = try makeHeader(unlockKey: unlockKey, masterKey: SecureBytes(randomCount: 32))
        var slot = header.keyslots[0]
        let lowOrder = [1] + [UInt8](repeating: 0, count: 31)
        slot.recipient?.ephemeralPublicKey = lowOrder
        XCTAssertNil(slot.unwrap(with: passphrase, vaultID: vaultID, signerPublicKey: header.signer?.publicKey))
        slot.recipient?.publicKey = lowOrder
        XCTAssertNil(slot.rewrapped(to: unlockKey, vaultID: vaultID))
    }

    /// Encodes a signed header with a recipient slot and an API-key wrap, then returns copy
    /// bytes with `edit` applied and the checksum fixed up (a keyless forger can do that much).
    func forged(_ edit: (inout [UInt8]) -> Void) throws -> Result<FileHeader, CofferError> {
        let masterKey = SecureBytes(randomCount: 32)
        var bytes = try makeHeader(unlockKey: SecureBytes(randomCount: 32), masterKey: masterKey).encode(
            masterKey: masterKey)
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
        XCTAssertNotNil(decoded.signer)
        XCTAssertNotNil(decoded.keyslots[0].recipient)

        func setFeatures(_ value: UInt32) -> (inout [UInt8]) -> Void {
            { bytes in bytes.replaceSubrange(12..<16, with: withUnsafeBytes(of: value.littleEndian) { Array($0) }) }
        }
        // A bit cleared: an old reader would misread the slot or miss a block.
        for features: UInt32 in [0, 1, 2] {
            XCTAssertEqual(try forged(setFeatures(features)).failureCode, .corrupted, "features \(features)")
        }
        // A bit no reader knows: refused as a newer format.
        XCTAssertEqual(try forged(setFeatures(3 | 1 << 7)).failureCode, .unsupportedVersion)
        // One recipient key without the other.
        let slotStart = FormatConstants.headerKeyslotsOffset
        XCTAssertEqual(
            try forged {
                $0.replaceSubrange((slotStart + 144)..<(slotStart + 176), with: [UInt8](repeating: 0, count: 32))
            }
            .failureCode,
            .corrupted)
        // Any change to the table breaks the signature, even with the checksum fixed up.
        XCTAssertEqual(try forged { $0[slotStart + 104] ^= 1 }.failureCode, .corrupted)
        XCTAssertEqual(try forged { $0[FormatConstants.headerSignerOffset + 104] ^= 1 }.failureCode, .corrupted)
    }
}

extension Result where Failure == CofferError {
    var failureCode: CofferError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
